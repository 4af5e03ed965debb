// Packs a file or folder of a session's working dir for /get: a user-given
// path resolves inside the working dir or is refused, and a folder becomes a
// zip (fflate) that leaves out anything reached through a symlink pointing out.
import { Zip, ZipDeflate } from "fflate";
import { basename, isAbsolute, join, resolve } from "node:path";
import { isWithin } from "./paths.ts";

/** Telegram's limit for a document a bot sends ("up to 50 MB"), read as decimal to stay under it either way. */
export const TELEGRAM_DOCUMENT_LIMIT_BYTES = 50 * 1000 * 1000;

/** Thrown when a path leaves the working dir: `..`, absolute, or a symlink pointing out. */
export class PathOutsideWorkspaceError extends Error {
  override name = "PathOutsideWorkspaceError";
  /** The path as the user gave it. */
  readonly path: string;
  constructor(path: string) {
    super(`Cannot export "${path}": it is outside the working directory`);
    this.path = path;
  }
}

/** Thrown when the path names nothing (a dangling symlink included). */
export class PathNotFoundError extends Error {
  override name = "PathNotFoundError";
  /** The path as the user gave it. */
  readonly path: string;
  constructor(path: string) {
    super(`Cannot export "${path}": no such file or folder`);
    this.path = path;
  }
}

/** Thrown when a file, or a folder's zip, would exceed the document limit. */
export class FileTooLargeError extends Error {
  override name = "FileTooLargeError";
  /** The path as the user gave it. */
  readonly path: string;
  /**
   * The size found to be over: a file's size; for a folder the total of its
   * files when that is over, else the size its zip had reached.
   */
  readonly sizeBytes: number;
  readonly limitBytes: number;
  readonly isFolder: boolean;
  constructor(
    data: {
      path: string;
      sizeBytes: number;
      limitBytes: number;
      isFolder: boolean;
    },
  ) {
    super(
      `Cannot export "${data.path}": ${data.sizeBytes} bytes is over the ` +
        `${data.limitBytes}-byte limit`,
    );
    this.path = data.path;
    this.sizeBytes = data.sizeBytes;
    this.limitBytes = data.limitBytes;
    this.isFolder = data.isFolder;
  }
}

/** A file ready to send as a document. */
export interface ExportedFile {
  /** The document's name: the file's own, or `<folder>.zip`. */
  name: string;
  bytes: Uint8Array;
  /**
   * What a folder's zip left out, relative to the folder: symlinks pointing
   * out of the working dir, symlinked folders, and special files. Empty for
   * a file.
   */
  skipped: string[];
}

/** Options of {@linkcode exportPath}. */
export interface ExportOptions {
  /** Largest document; default {@linkcode TELEGRAM_DOCUMENT_LIMIT_BYTES}. */
  limitBytes?: number;
  /**
   * Largest total of a folder's files before zipping is not even tried;
   * default ten times `limitBytes` (well-compressible text may still fit).
   */
  maxFolderBytes?: number;
}

/**
 * Resolves `userPath` against `workDir` to a real path inside it.
 * @throws {TypeError} when `userPath` is blank
 * @throws {PathOutsideWorkspaceError} for an absolute path, a `..` that
 *   leaves, or a symlink resolving outside `workDir`
 * @throws {PathNotFoundError} when nothing is there
 */
export async function resolveInWorkspace(
  workDir: string,
  userPath: string,
): Promise<string> {
  if (userPath.trim() === "") throw new TypeError("Cannot export a blank path");
  if (isAbsolute(userPath)) throw new PathOutsideWorkspaceError(userPath);
  const root = await Deno.realPath(workDir);
  if (!isWithin(resolve(root, userPath), root)) {
    throw new PathOutsideWorkspaceError(userPath);
  }
  const found = await realPathInside(root, join(root, userPath));
  if (found.kind === "missing") throw new PathNotFoundError(userPath);
  if (found.kind === "outside") throw new PathOutsideWorkspaceError(userPath);
  return found.path;
}

/**
 * Reads the file or folder at `userPath` (relative to `workDir`) as a
 * document: a file as it is, a folder as `<name>.zip` with the folder as its
 * top entry. A zip leaves out `.git`, symlinked folders, special files and
 * every symlink that points out of `workDir`.
 * @throws {TypeError} when `userPath` is blank
 * @throws {PathOutsideWorkspaceError} when the path leaves `workDir`
 * @throws {PathNotFoundError} when nothing is there
 * @throws {FileTooLargeError} when the document would exceed the limit
 */
export async function exportPath(
  workDir: string,
  userPath: string,
  options: ExportOptions = {},
): Promise<ExportedFile> {
  const limitBytes = options.limitBytes ?? TELEGRAM_DOCUMENT_LIMIT_BYTES;
  const real = await resolveInWorkspace(workDir, userPath);
  const root = await Deno.realPath(workDir);
  const name = basename(resolve(root, userPath)) || "workspace";
  const info = await Deno.stat(real);
  const tooLarge = (sizeBytes: number, isFolder: boolean) =>
    new FileTooLargeError({ path: userPath, sizeBytes, limitBytes, isFolder });

  if (!info.isDirectory) {
    if (!info.isFile) throw new PathNotFoundError(userPath);
    if (info.size > limitBytes) throw tooLarge(info.size, false);
    const bytes = await Deno.readFile(real);
    // The file may have grown since the stat.
    if (bytes.length > limitBytes) throw tooLarge(bytes.length, false);
    return { name, bytes, skipped: [] };
  }

  const { files, skipped } = await listFolder(root, real, name);
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
  if (totalBytes > (options.maxFolderBytes ?? 10 * limitBytes)) {
    throw tooLarge(totalBytes, true);
  }
  const bytes = await zipFiles(root, files, {
    limitBytes,
    skipped,
    tooLarge: (zipBytes) => tooLarge(Math.max(totalBytes, zipBytes), true),
  });
  return { name: `${name}.zip`, bytes, skipped };
}

/** One regular file bound for the zip. */
interface ZipSource {
  /** Entry name: the folder's name, "/", the path inside it. */
  entryName: string;
  /** The path inside the folder, for the skipped list. */
  innerName: string;
  /** Real path, checked to be inside the working dir. */
  path: string;
  size: number;
  mtime: Date | null;
}

/** Walks `folder` (real path) depth-first, names sorted so zips are reproducible. */
async function listFolder(
  root: string,
  folder: string,
  topName: string,
): Promise<{ files: ZipSource[]; skipped: string[] }> {
  const files: ZipSource[] = [];
  const skipped: string[] = [];
  const walk = async (dir: string, prefix: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry);
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const entry of entries) {
      if (entry.name === ".git") continue;
      const path = join(dir, entry.name);
      const inner = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory) {
        await walk(path, inner);
        continue;
      }
      // Through a symlink only what stays inside, and never a folder: a link
      // to an ancestor would loop.
      const found = entry.isSymlink
        ? await realPathInside(root, path)
        : { kind: "inside" as const, path };
      const info = found.kind === "inside" ? await Deno.stat(found.path) : null;
      if (found.kind === "inside" && info?.isFile) {
        files.push({
          entryName: `${topName}/${inner}`,
          innerName: inner,
          path: found.path,
          size: info.size,
          mtime: info.mtime,
        });
      } else {
        skipped.push(inner);
      }
    }
  };
  await walk(folder, "");
  return { files, skipped };
}

/**
 * Zips `files` in memory, failing as soon as the zip passes `limitBytes`;
 * a file that is no longer where the walk saw it goes to `skipped`.
 */
async function zipFiles(
  root: string,
  files: readonly ZipSource[],
  options: {
    limitBytes: number;
    skipped: string[];
    tooLarge: (zipBytes: number) => Error;
  },
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let zipBytes = 0;
  let zipError: Error | null = null;
  const zip = new Zip((error, chunk) => {
    if (error) zipError = error;
    else {
      chunks.push(chunk);
      zipBytes += chunk.length;
    }
  });
  const check = () => {
    if (zipError) throw zipError;
    if (zipBytes > options.limitBytes) throw options.tooLarge(zipBytes);
  };
  for (const file of files) {
    // Checked again right before reading: the file may have been replaced
    // by a symlink pointing out since the walk.
    const found = await realPathInside(root, file.path);
    if (found.kind !== "inside" || found.path !== file.path) {
      options.skipped.push(file.innerName);
      continue;
    }
    const entry = new ZipDeflate(file.entryName, { level: 6 });
    entry.mtime = zipTime(file.mtime);
    zip.add(entry);
    using handle = await Deno.open(file.path);
    for await (const chunk of handle.readable) {
      entry.push(chunk);
      check();
    }
    entry.push(new Uint8Array(0), true);
    check();
  }
  zip.end();
  check();
  const bytes = new Uint8Array(zipBytes);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/** Zip (DOS) times cover 1980–2099 only; fflate throws outside, so clamp. */
function zipTime(mtime: Date | null): Date {
  const earliest = new Date(1980, 0, 1);
  if (mtime === null || mtime.getFullYear() < 1980) return earliest;
  if (mtime.getFullYear() > 2099) return new Date(2099, 11, 31);
  return mtime;
}

/** Where a path really leads, seen from the working dir. */
type Resolved =
  | { kind: "inside"; path: string }
  | { kind: "outside" }
  | { kind: "missing" };

/** Resolves `path` with symlinks and says whether it stays inside `root`. */
async function realPathInside(root: string, path: string): Promise<Resolved> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "missing" };
    // Deno refuses to resolve outside the folders the bot may read.
    if (error instanceof Deno.errors.NotCapable) return { kind: "outside" };
    throw error;
  }
  return isWithin(real, root) ? { kind: "inside", path: real } : {
    kind: "outside",
  };
}
