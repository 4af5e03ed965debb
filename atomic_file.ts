// Crash-safe file replacement: write a temp file, fsync, rename over the
// target, fsync the directory; and the start-up sweep of temp files a crash
// left between the write and the rename.
import { dirname, join } from "node:path";

/** Temp files are named `<target>.tmp-<uuid>`; nothing else matches. */
const TEMP_FILE_PATTERN =
  /\.tmp-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A write to disk failed; the previous file (if any) is intact, unless only
 * the last step (the directory's sync) failed, with the new content in place.
 */
export class AtomicWriteError extends Error {
  override name = "AtomicWriteError";
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(`Cannot save "${path}": ${(cause as Error)?.message ?? cause}`, {
      cause,
    });
    this.path = path;
  }
}

/**
 * Replaces `path` with `text` so that a crash at any moment leaves either the
 * old or the new content, never a mix, and once it resolves the new content
 * survives a power cut (file and directory are synced). The file is private
 * (0600).
 * @throws {AtomicWriteError} when the disk refuses (full, read-only…)
 */
export async function writeTextFileAtomic(
  path: string,
  text: string,
): Promise<void> {
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    using file = await Deno.open(temp, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
    await file.syncData();
  } catch (error) {
    await Deno.remove(temp).catch(() => {
      // Nothing was created, or the disk is gone: the old file is intact.
    });
    throw new AtomicWriteError(path, error);
  }
  try {
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {
      // As above: only the temp file is at stake.
    });
    throw new AtomicWriteError(path, error);
  }
  try {
    await syncDirectory(dirname(path));
  } catch (error) {
    throw new AtomicWriteError(path, error);
  }
}

/**
 * Flushes a directory's entries to disk: after a rename, a power cut could
 * otherwise bring back the old name (or neither) although the data was synced.
 * @throws the open's or fsync's own error (Deno.errors.NotFound…)
 */
export async function syncDirectory(dir: string): Promise<void> {
  using handle = await Deno.open(dir, { read: true });
  await handle.sync();
}

/**
 * Removes the temp files that writeTextFileAtomic leaves when the process
 * dies between writing and renaming (`<name>.tmp-<uuid>` in `dir`, not in
 * subfolders); run at start-up, before anything writes. A missing `dir` has
 * none. Returns the paths removed.
 */
export async function removeTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !TEMP_FILE_PATTERN.test(entry.name)) continue;
      const path = join(dir, entry.name);
      await Deno.remove(path).catch((error) => {
        // Another sweep or a rename got there first.
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      removed.push(path);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return removed;
    throw error;
  }
  return removed;
}
