// Summaries of benchmark samples: percentiles, rates over sliding windows.

/** p50, p99 and max of a sample, plus its size. */
export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Percentile by the nearest-rank method (p99 of 1,000 samples is the 990th).
 * @throws {RangeError} for an empty sample or a percentile outside 0–100
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) {
    throw new RangeError("Cannot take a percentile: the sample is empty");
  }
  if (!(p >= 0 && p <= 100)) {
    throw new RangeError(`Cannot take percentile "${p}": not in 0–100`);
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** Count, p50, p99 and max, rounded to 0.01. */
export function summarize(values: readonly number[]): Summary {
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p99: round(percentile(values, 99)),
    max: round(Math.max(...values)),
  };
}

/** Most events in any window of `windowMs` (default 1 s), from their times in ms. */
export function maxInWindow(times: readonly number[], windowMs = 1000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end] - sorted[start] >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** Smallest gap between consecutive times in ms (Infinity for fewer than 2). */
export function minGap(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let gap = Infinity;
  for (let i = 1; i < sorted.length; i++) {
    gap = Math.min(gap, sorted[i] - sorted[i - 1]);
  }
  return gap;
}

/** Rounds to 0.01, the precision the report prints. */
export function round(value: number): number {
  return Math.round(value * 100) / 100;
}
