// Tests for idle_timer.ts: countdown semantics on a manual clock.

import assert from "node:assert/strict";
import { IdleTimer } from "../idle_timer.ts";
import { ManualClock } from "./fakes/manual_clock.ts";
function makeTimer(timeoutMs = 1_000, startMs = 0) {
  const clock = new ManualClock(startMs);
  const fired: number[] = [];
  const timer = new IdleTimer({
    clock,
    timeoutMs,
    onIdle: () => fired.push(clock.now()),
  });
  return { clock, fired, timer };
}

Deno.test("IdleTimer.start() fires onIdle after timeoutMs", () => {
  const { clock, fired, timer } = makeTimer(1_000, 500);
  timer.start();
  assert.equal(timer.isRunning, true);
  assert.equal(timer.startedAt, 500);
  clock.advance(999);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, [1_500]);
  assert.equal(timer.isRunning, false);
  assert.equal(timer.startedAt, undefined);
});

Deno.test("IdleTimer never fires before start()", () => {
  const { clock, fired, timer } = makeTimer();
  clock.advance(10_000);
  assert.deepEqual(fired, []);
  assert.equal(timer.isRunning, false);
  assert.equal(clock.pending, 0);
});

Deno.test("IdleTimer.start() during a countdown restarts it", () => {
  const { clock, fired, timer } = makeTimer();
  timer.start();
  clock.advance(600);
  timer.start();
  assert.equal(timer.startedAt, 600);
  clock.advance(999);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, [1_600]);
  assert.equal(clock.pending, 0);
});

Deno.test("IdleTimer.stop() cancels the countdown", () => {
  const { clock, fired, timer } = makeTimer();
  timer.start();
  clock.advance(500);
  timer.stop();
  assert.equal(timer.isRunning, false);
  assert.equal(timer.startedAt, undefined);
  assert.equal(clock.pending, 0);
  clock.advance(10_000);
  assert.deepEqual(fired, []);
});

Deno.test("IdleTimer fires at most once per start()", () => {
  const { clock, fired, timer } = makeTimer();
  timer.start();
  clock.advance(5_000);
  assert.deepEqual(fired, [1_000]);
  timer.start();
  clock.advance(5_000);
  assert.deepEqual(fired, [1_000, 6_000]);
});

Deno.test("IdleTimer onIdle may start a new countdown", () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const timer: IdleTimer = new IdleTimer({
    clock,
    timeoutMs: 100,
    onIdle: () => {
      fired.push(clock.now());
      if (fired.length < 3) timer.start();
    },
  });
  timer.start();
  clock.advance(1_000);
  assert.deepEqual(fired, [100, 200, 300]);
  assert.equal(timer.isRunning, false);
});

Deno.test("IdleTimer.setTimeoutMs()", async (t) => {
  await t.step("shortening keeps the start", () => {
    const { clock, fired, timer } = makeTimer(1_000);
    timer.start();
    clock.advance(200);
    timer.setTimeoutMs(500);
    assert.equal(timer.timeoutMs, 500);
    assert.equal(timer.startedAt, 0);
    clock.advance(299);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [500]);
    assert.equal(clock.pending, 0);
  });

  await t.step("shortening past the deadline fires asynchronously", () => {
    const { clock, fired, timer } = makeTimer(1_000);
    timer.start();
    clock.advance(800);
    timer.setTimeoutMs(300);
    assert.deepEqual(fired, [], "must not fire inside setTimeoutMs()");
    assert.equal(timer.isRunning, true);
    clock.advance(0);
    assert.deepEqual(fired, [800]);
    assert.equal(timer.isRunning, false);
  });

  await t.step("lengthening keeps the start", () => {
    const { clock, fired, timer } = makeTimer(1_000);
    timer.start();
    clock.advance(900);
    timer.setTimeoutMs(3_000);
    clock.advance(2_099);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [3_000]);
    assert.equal(clock.pending, 0);
  });

  await t.step("while stopped only changes later countdowns", () => {
    const { clock, fired, timer } = makeTimer(1_000);
    timer.setTimeoutMs(2_000);
    assert.equal(timer.isRunning, false);
    assert.equal(clock.pending, 0);
    timer.start();
    clock.advance(1_999);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [2_000]);
  });

  await t.step("rejects non-positive and fractional values", () => {
    const { timer } = makeTimer(1_000);
    for (const bad of [0, -1, 1.5, NaN, Infinity]) {
      assert.throws(() => timer.setTimeoutMs(bad), RangeError, String(bad));
    }
    assert.equal(timer.timeoutMs, 1_000);
  });
});

Deno.test("IdleTimer constructor rejects a bad timeoutMs", () => {
  const clock = new ManualClock();
  for (const bad of [0, -1, 1.5]) {
    assert.throws(
      () => new IdleTimer({ clock, timeoutMs: bad, onIdle: () => {} }),
      RangeError,
    );
  }
});

Deno.test("IdleTimer waits for days on a manual clock", () => {
  const days = 30 * 24 * 60 * 60_000;
  const { clock, fired, timer } = makeTimer(days);
  timer.start();
  clock.advance(days - 1);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, [days]);
});
