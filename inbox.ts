// Saves files from Telegram under safe, unique names: into a session's
// inbox/, or into its upload folder outside a project's repository.
import { basename, join, relative } from "node:path";
import { isBelow } from "./paths.ts";

const MAX_NAME_LENGTH = 100;

/**
 * A safe file name: no directories, no leading dots, only
 * `[A-Za-z0-9._-]` (others become `_`), at most 100 characters, never empty.
 */
export function sanitizeFileName(name: string): string {
  const base = basename(name.replaceAll("\\", "/"));
  // NFKD splits "é" into "e" and a combining accent, which is dropped.
  const cleaned = base.normalize("NFKD").replaceAll(/\p{M}/gu, "")
    .replaceAll(/[^A-Za-z0-9._-]+/g, "_");
  // The extension is split off before leading dots go: ".env" is a name,
  // and "日本語.txt" keeps its extension ("file.txt", not "txt").
  const dot = cleaned.lastIndexOf(".");
  const ext = dot > 0 && dot < cleaned.length - 1
    ? cleaned.slice(dot).slice(0, 16)
    : "";
  const stem = (ext ? cleaned.slice(0, dot) : cleaned).replace(/^[._]+/, "")
    .slice(0, MAX_NAME_LENGTH - ext.length);
  return stem ? stem + ext : `file${ext}`;
}

/**
 * Writes bytes into a session's upload folder under a safe, unique name:
 * `uploadDir` when set (a project session's, outside its repository), else
 * `<workDir>/inbox` (as store.ts uploadDirOf). Adds `-1`, `-2`… when the
 * name is taken. Returns the path to tell Claude: relative to workDir inside
 * it, else absolute.
 */
export async function saveUpload(
  session: { workDir: string; uploadDir?: string },
  fileName: string,
  bytes: Uint8Array,
): Promise<string> {
  const dir = session.uploadDir ?? join(session.workDir, "inbox");
  const path = await saveUniquely(dir, fileName, bytes);
  const rel = relative(session.workDir, path);
  return isBelow(path, session.workDir) ? rel : path;
}

/** Writes into `dir` (made private if missing) under a free name; returns the file's path. */
async function saveUniquely(
  dir: string,
  fileName: string,
  bytes: Uint8Array,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const safe = sanitizeFileName(fileName);
  const dot = safe.lastIndexOf(".");
  const [stem, ext] = dot > 0
    ? [safe.slice(0, dot), safe.slice(dot)]
    : [safe, ""];
  for (let n = 0;; n++) {
    const path = join(dir, n === 0 ? safe : `${stem}-${n}${ext}`);
    try {
      await Deno.writeFile(path, bytes, { createNew: true, mode: 0o600 });
      return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
}
