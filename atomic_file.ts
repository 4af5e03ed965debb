// Crash-safe file replacement: write a temp file, fsync, rename over the target.

/** A write to disk failed; the previous file (if any) is intact. */
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
 * old or the new content, never a mix. The file is private (0600).
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
}
