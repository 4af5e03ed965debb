// Tests for format.ts: durations, relative times, dollars, sizes and truncation.

import assert from "node:assert/strict";
import { byteSize, humanDuration, timeAgo, truncate, usd } from "../format.ts";

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

Deno.test("humanDuration() uses the largest whole unit", () => {
  const cases: [number, string][] = [
    [0, "0 s"],
    [1 * SECOND_MS, "1 s"],
    [45 * SECOND_MS, "45 s"],
    [59_999, "59 s"],
    [1 * MINUTE_MS, "1 min"],
    [90 * SECOND_MS, "1 min"],
    [15 * MINUTE_MS, "15 min"],
    [1 * HOUR_MS, "1 hour"],
    [3 * HOUR_MS, "3 hours"],
    [3 * HOUR_MS + 59 * MINUTE_MS, "3 hours"],
    [1 * DAY_MS, "1 day"],
    [2 * DAY_MS, "2 days"],
    [400 * DAY_MS, "400 days"],
  ];
  for (const [ms, expected] of cases) {
    assert.equal(humanDuration(ms), expected, `${ms} ms`);
  }
});

Deno.test("timeAgo() says how long ago a moment was", () => {
  const now = Date.UTC(2026, 10, 25, 23, 43);
  assert.equal(timeAgo(now, now), "just now");
  assert.equal(timeAgo(now - 4 * SECOND_MS, now), "just now");
  assert.equal(timeAgo(now - 5 * SECOND_MS, now), "5 s ago");
  assert.equal(timeAgo(now - 3 * MINUTE_MS, now), "3 min ago");
  assert.equal(timeAgo(now - 2 * HOUR_MS, now), "2 hours ago");
  assert.equal(timeAgo(now - 1 * DAY_MS, now), "1 day ago");
  // A clock that went backwards is no reason for a negative duration.
  assert.equal(timeAgo(now + MINUTE_MS, now), "just now");
});

Deno.test("usd() shows small amounts with more digits", () => {
  assert.equal(usd(0), "$0.0000");
  assert.equal(usd(0.0123), "$0.0123");
  assert.equal(usd(0.5), "$0.5000");
  assert.equal(usd(1), "$1.00");
  assert.equal(usd(4.56), "$4.56");
  assert.equal(usd(1234.5), "$1234.50");
});

Deno.test("byteSize() uses decimal units, as Telegram's limits do", () => {
  assert.equal(byteSize(0), "0 bytes");
  assert.equal(byteSize(999), "999 bytes");
  assert.equal(byteSize(12_345), "12.3 KB");
  assert.equal(byteSize(50 * 1000 * 1000), "50.0 MB");
  assert.equal(byteSize(52_400_000), "52.4 MB");
});

Deno.test("truncate() shortens text to max characters", async (t) => {
  await t.step("short text is unchanged", () => {
    assert.equal(truncate("hello", 5), "hello");
    assert.equal(truncate("", 3), "");
  });

  await t.step("long text ends in an ellipsis within max", () => {
    assert.equal(truncate("hello world", 5), "hell…");
    assert.equal(truncate("hello world", 1), "…");
    assert.equal(truncate("x".repeat(100), 80).length, 80);
  });

  await t.step("an emoji is never cut in half", () => {
    // "🎉" is two UTF-16 code units; half of one is invalid UTF-8 for Telegram.
    const cut = truncate("ab🎉cd", 4);
    assert.equal(cut, "ab…");
    assert.ok(cut.isWellFormed());
    assert.equal(truncate("ab🎉cd", 5), "ab🎉…");
  });
});
