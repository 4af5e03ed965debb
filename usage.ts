// Cost bookkeeping by UTC day: per-session daily totals and the summaries
// /usage and the daily budget are built from.

/** Days of per-day cost a session keeps (enough for "7 days" with margin). */
const KEEP_DAYS = 31;
const DAY_MS = 86_400_000;

/** The UTC day of a moment, as "YYYY-MM-DD". */
export function dayKey(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Adds a turn's cost to its day; days older than a month are dropped. */
export function addDailyCost(
  costByDay: Readonly<Record<string, number>>,
  turn: { nowMs: number; usd: number },
): Record<string, number> {
  const { nowMs, usd } = turn;
  const oldest = dayKey(nowMs - KEEP_DAYS * DAY_MS);
  const today = dayKey(nowMs);
  const kept = Object.entries(costByDay).filter(([day]) => day > oldest);
  const result = Object.fromEntries(kept);
  result[today] = (result[today] ?? 0) + usd;
  return result;
}

/** Cost of the last `days` UTC days, today included. */
export function costSince(
  costByDay: Readonly<Record<string, number>>,
  options: { nowMs: number; days: number },
): number {
  const { nowMs, days } = options;
  const first = dayKey(nowMs - (days - 1) * DAY_MS);
  return Object.entries(costByDay)
    .filter(([day]) => day >= first)
    .reduce((sum, [, usd]) => sum + usd, 0);
}

/** When the current UTC day ends (the daily budget resets). */
export function nextDayStart(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS) * DAY_MS + DAY_MS;
}
