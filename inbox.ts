// Saves files from Telegram into a session's inbox/ under safe, unique names.
import { basename, join } from "node:path";

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
 * Writes bytes to `<workDir>/inbox/<sanitized name>`, adding `-1`, `-2`… when
 * the name is taken; returns the path relative to workDir.
 */
export async function saveToInbox(
  workDir: string,
  fileName: string,
  bytes: Uint8Array,
): Promise<string> {
  const inbox = join(workDir, "inbox");
  await Deno.mkdir(inbox, { recursive: true, mode: 0o700 });
  const safe = sanitizeFileName(fileName);
  const dot = safe.lastIndexOf(".");
  const [stem, ext] = dot > 0
    ? [safe.slice(0, dot), safe.slice(dot)]
    : [safe, ""];
  for (let n = 0;; n++) {
    const name = n === 0 ? safe : `${stem}-${n}${ext}`;
    try {
      await Deno.writeFile(join(inbox, name), bytes, {
        createNew: true,
        mode: 0o600,
      });
      return `inbox/${name}`;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
}
