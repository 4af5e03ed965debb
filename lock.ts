// Serialises work per key (one chat session's transitions) with a promise
// chain, so a timer firing and a message arriving never interleave.

/**
 * Per-key promise-chain lock: tasks of one key run strictly one after another,
 * different keys never block each other; a key's entry is dropped as soon as
 * its chain is empty.
 */
export class KeyedLock<K> {
  /** Settles when the last queued task of the key has finished; never rejects. */
  #tails = new Map<K, Promise<void>>();

  /**
   * Runs `task` after every earlier task of `key` settled; resolves/rejects
   * with its outcome (a failure never breaks the chain).
   *
   * Calling `run` with the same key from inside a task deadlocks: the inner
   * task waits for the outer one, which waits for the inner one.
   */
  async run<T>(key: K, task: () => T | Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    let release!: () => void;
    const tail = new Promise<void>((resolve) => release = resolve);
    this.#tails.set(key, tail);
    try {
      await previous;
      return await task();
    } finally {
      // Dropped before the caller sees the outcome, so `size` is already 0
      // when the last awaited task of a key returns.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
      release();
    }
  }

  /** Whether a task of `key` is running or queued. */
  isLocked(key: K): boolean {
    return this.#tails.has(key);
  }

  /** Number of keys with a running or queued task (for leak checks). */
  get size(): number {
    return this.#tails.size;
  }
}

/**
 * A lock for one thing (a session): tasks run strictly one after another in
 * call order; a failure never breaks the chain. Calling `run` from inside a
 * task deadlocks, as with KeyedLock.
 */
export class Lock {
  #tail: Promise<void> = Promise.resolve();

  /** Runs `task` after every earlier task settled; settles with its outcome. */
  async run<T>(task: () => T | Promise<T>): Promise<T> {
    const previous = this.#tail;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#tail = promise;
    try {
      await previous;
      return await task();
    } finally {
      resolve();
    }
  }
}
