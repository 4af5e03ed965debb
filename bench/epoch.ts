// The one clock domain of the benchmarks: epoch milliseconds with sub-ms
// precision, the same formula the fake claude logs with (FAKE_CLAUDE_LOG_TIMES).

/**
 * Now, as epoch ms with sub-ms precision. Comparable across processes on one
 * machine: each derives it from the wall clock at its start plus a monotonic
 * offset, so two processes agree to well under a millisecond over a few
 * minutes.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
