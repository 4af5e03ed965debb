// Human-readable durations, times and amounts for chat text.

const UNITS = [
  { ms: 86_400_000, one: "day", many: "days" },
  { ms: 3_600_000, one: "hour", many: "hours" },
  { ms: 60_000, one: "min", many: "min" },
  { ms: 1_000, one: "s", many: "s" },
] as const;

/** A duration in its largest whole unit: "45 s", "15 min", "3 hours", "2 days". */
export function humanDuration(ms: number): string {
  const unit = UNITS.find((u) => ms >= u.ms) ?? UNITS[UNITS.length - 1];
  const count = Math.max(ms >= 1_000 ? 1 : 0, Math.floor(ms / unit.ms));
  return `${count} ${count === 1 ? unit.one : unit.many}`;
}

/** How long ago a moment was: "just now", "3 min ago". */
export function timeAgo(thenMs: number, nowMs: number): string {
  const ms = nowMs - thenMs;
  return ms < 5_000 ? "just now" : `${humanDuration(ms)} ago`;
}

/** Dollars with precision that suits small amounts: "$0.0123", "$4.56". */
export function usd(amount: number): string {
  return `$${amount < 1 ? amount.toFixed(4) : amount.toFixed(2)}`;
}

/** A size in decimal units, as Telegram states its limits: "900 bytes", "12.3 KB", "52.4 MB". */
export function byteSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  if (bytes < 1000 * 1000) return `${(bytes / 1000).toFixed(1)} KB`;
  return `${(bytes / 1000 / 1000).toFixed(1)} MB`;
}

/** Shortens text to `max` characters, marking the cut with "…". */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  // Half a surrogate pair (an emoji) is invalid UTF-8: Telegram rejects it.
  if (/[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end--;
  return `${text.slice(0, end)}…`;
}
