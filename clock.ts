// The one source of time: the Clock interface every module that waits or
// reads the time receives, and the system clock that production passes in.

/** Time source; production wraps Date.now/setTimeout, tests advance by hand. */
export interface Clock {
  /** The current time in ms since the epoch. */
  now(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** Longest delay `setTimeout` honours; larger ones overflow and fire at once. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The raw timer pair that {@linkcode chainTimeouts} schedules on. */
export interface TimeoutFunctions<Handle> {
  setTimeout(fn: () => void, ms: number): Handle;
  clearTimeout(handle: Handle): void;
}

/**
 * Builds a {@linkcode Clock.after} on raw timers that honours any delay by
 * chaining timeouts of at most {@linkcode MAX_TIMEOUT_MS}.
 *
 * @param timers the `setTimeout`/`clearTimeout` pair to schedule on; tests pass fakes.
 */
export function chainTimeouts<Handle>(
  timers: TimeoutFunctions<Handle>,
): Clock["after"] {
  return (ms, fn) => {
    let remainingMs = ms;
    let handle: Handle;
    const schedule = () => {
      const chunkMs = Math.min(remainingMs, MAX_TIMEOUT_MS);
      remainingMs -= chunkMs;
      handle = timers.setTimeout(remainingMs > 0 ? schedule : fn, chunkMs);
    };
    schedule();
    return () => timers.clearTimeout(handle);
  };
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after: chainTimeouts<ReturnType<typeof setTimeout>>({
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle),
  }),
};

/**
 * Resolves after `ms` on `clock`; rejects with the signal's reason when it
 * aborts first. Shaped like @std/async `delay`.
 */
export function sleep(
  clock: Clock,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      cancel();
      reject(signal?.reason);
    };
    const cancel = clock.after(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Resolves true when `promise` settles within `ms` on `clock`, else false;
 * leaves no timer behind either way.
 */
export async function settlesWithin(
  clock: Clock,
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let cancel: (() => void) | undefined;
  const timeout = new Promise<false>((resolve) => {
    cancel = clock.after(Math.max(0, ms), () => resolve(false));
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    cancel?.();
  }
}
