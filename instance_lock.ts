// One bot per DATA_DIR: an OS file lock on DATA_DIR/state/lock, taken at
// start and held for the process's life. The kernel drops it when the process
// dies, however it dies, so a crash never leaves a stale lock behind.

import { dirname, join } from "node:path";

/** Where the lock lives, relative to DATA_DIR. */
export const INSTANCE_LOCK_FILE = join("state", "lock");

/** Another running bot holds the lock on this DATA_DIR. */
export class InstanceLockedError extends Error {
  override name = "InstanceLockedError";
  /** The lock file. */
  readonly path: string;
  /** The holder's pid as it wrote it, when readable. */
  readonly holderPid?: number;

  /**
   * @param path the lock file
   * @param holderPid the pid written by the holder, when known
   */
  constructor(path: string, holderPid?: number) {
    super(
      `Cannot start: another claude-telegram ${
        holderPid === undefined ? "" : `(pid ${holderPid}) `
      }is running on this DATA_DIR; it holds "${path}". Stop it first, or ` +
        "give this one its own DATA_DIR",
    );
    this.path = path;
    this.holderPid = holderPid;
  }
}

/** The held lock; releasing it (or exiting) lets another bot start. */
export class InstanceLock implements Disposable {
  /** The lock file. */
  readonly path: string;
  #file: Deno.FsFile | undefined;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /**
   * Takes the lock of `dataDir` without waiting, and writes this process's
   * pid into it for the message another bot shows.
   * @throws {InstanceLockedError} when another process holds it
   */
  static async acquire(dataDir: string): Promise<InstanceLock> {
    const path = join(dataDir, INSTANCE_LOCK_FILE);
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // No truncate before the lock is ours: the holder's pid must survive.
    const file = await Deno.open(path, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    try {
      // flock(2): tied to this open file, released by the kernel on exit.
      if (!await file.tryLock(true)) {
        throw new InstanceLockedError(path, await readPid(file));
      }
      await file.truncate(0);
      await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    } catch (error) {
      file.close();
      throw error;
    }
    return new InstanceLock(path, file);
  }

  /** Releases the lock; a second call does nothing. */
  release(): void {
    // Closing the file drops the flock; the pid left in it is harmless.
    this.#file?.close();
    this.#file = undefined;
  }

  /** Same as {@linkcode release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }
}

async function readPid(file: Deno.FsFile): Promise<number | undefined> {
  const buffer = new Uint8Array(32);
  const count = await file.read(buffer).catch(() => null);
  const text = new TextDecoder().decode(buffer.subarray(0, count ?? 0));
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}
