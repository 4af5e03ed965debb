// Bounded waits for tests and benchmarks: polling for a condition no event
// announces, and a deadline on a promise. Every wait ends; none leaves a timer.

/** A probe result: any truthy value ends the wait. */
type Probe<T> = () =>
  | T
  | undefined
  | null
  | false
  | Promise<T | undefined | null | false>;

/**
 * Polls `probe` until it returns a truthy value, then returns that value.
 * @param options.description what is awaited; a function runs at the timeout,
 *   so it can show late state
 * @param options.timeoutMs default 10 s
 * @param options.everyMs pause between probes; default 10 ms
 * @throws {Error} after `timeoutMs`, naming what it waited for
 */
export async function pollUntil<T>(
  probe: Probe<T>,
  options: {
    description: string | (() => string);
    timeoutMs?: number;
    everyMs?: number;
  },
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = performance.now() + timeoutMs;
  while (true) {
    const value = await probe();
    if (value) return value;
    if (performance.now() > deadline) {
      const what = typeof options.description === "string"
        ? options.description
        : options.description();
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 10));
  }
}

/** Settles like `promise`, or rejects once `ms` passed without it settling. */
export function withDeadline<T>(
  promise: Promise<T>,
  options: { what: string; ms: number },
): Promise<T> {
  const signal = AbortSignal.timeout(options.ms);
  return new Promise<T>((resolve, reject) => {
    const onTimeout = () =>
      reject(new Error(`Timed out waiting for ${options.what}`));
    signal.addEventListener("abort", onTimeout, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onTimeout)
    );
  });
}

/**
 * Advances a manual clock by `stepMs` between checks of `probe` until it
 * returns a truthy value, then returns that value. Promise callbacks run
 * between checks, so the wait is for the fact, not for a number of ticks.
 * @param options.timeoutMs real time bound; default 5 s
 * @throws {Error} after `timeoutMs`, naming what it waited for
 */
export function advanceUntil<T>(
  clock: { advance(ms: number): void },
  probe: () => T | undefined | null | false,
  options: {
    description: string | (() => string);
    stepMs: number;
    timeoutMs?: number;
  },
): Promise<T> {
  let isFirst = true;
  return pollUntil(() => {
    if (!isFirst) clock.advance(options.stepMs);
    isFirst = false;
    return probe();
  }, {
    description: options.description,
    timeoutMs: options.timeoutMs ?? 5_000,
    everyMs: 0,
  });
}
