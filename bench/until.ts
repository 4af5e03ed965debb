// Bounded polling for benchmark conditions that no event announces.

/**
 * Polls `probe` until it returns a truthy value, then returns that value.
 * @param options.timeoutMs default 30 s: well past any single benchmark step
 * @param options.everyMs pause between probes; default 1 ms, the timer floor
 * @throws {Error} after `timeoutMs`, naming what it waited for
 */
export async function until<T>(
  probe: () =>
    | T
    | undefined
    | null
    | false
    | Promise<T | undefined | null | false>,
  description: string,
  options: { timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const deadline = performance.now() + (options.timeoutMs ?? 30_000);
  while (performance.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 1));
  }
  throw new Error(`Timed out waiting for ${description}`);
}
