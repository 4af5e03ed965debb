// Tests for idle_timer.ts: countdown semantics on a manual clock, and the
// timeout chaining that lets the system clock wait for days.

import assert from "node:assert/strict";
import {
  chainTimeouts,
  IdleTimer,
  MAX_TIMEOUT_MS,
  systemClock,
} from "../idle_timer.ts";
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

/** Raw timers whose pending timeouts the test fires by hand. */
function makeFakeTimeouts() {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  const requestedMs: number[] = [];
  let nextHandle = 1;
  return {
    pending,
    requestedMs,
    timers: {
      setTimeout(fn: () => void, ms: number): number {
        requestedMs.push(ms);
        pending.set(nextHandle, { fn, ms });
        return nextHandle++;
      },
      clearTimeout(handle: number): void {
        pending.delete(handle);
      },
    },
    /** Fires the only pending timeout. */
    fireOnly(): void {
      assert.equal(pending.size, 1);
      const [[handle, { fn }]] = pending;
      pending.delete(handle);
      fn();
    },
  };
}

Deno.test("chainTimeouts()", async (t) => {
  await t.step("uses one timeout for short delays", () => {
    const fake = makeFakeTimeouts();
    let fired = 0;
    chainTimeouts(fake.timers)(5_000, () => fired++);
    assert.deepEqual(fake.requestedMs, [5_000]);
    fake.fireOnly();
    assert.equal(fired, 1);
    assert.equal(fake.pending.size, 0);
  });

  await t.step("uses one timeout at exactly the limit", () => {
    const fake = makeFakeTimeouts();
    let fired = 0;
    chainTimeouts(fake.timers)(MAX_TIMEOUT_MS, () => fired++);
    fake.fireOnly();
    assert.deepEqual(fake.requestedMs, [MAX_TIMEOUT_MS]);
    assert.equal(fired, 1);
  });

  await t.step("chains timeouts beyond the limit", () => {
    const fake = makeFakeTimeouts();
    let fired = 0;
    const totalMs = 2 * MAX_TIMEOUT_MS + 123;
    chainTimeouts(fake.timers)(totalMs, () => fired++);
    fake.fireOnly();
    fake.fireOnly();
    assert.equal(fired, 0);
    fake.fireOnly();
    assert.equal(fired, 1);
    assert.deepEqual(fake.requestedMs, [MAX_TIMEOUT_MS, MAX_TIMEOUT_MS, 123]);
    assert.ok(fake.requestedMs.every((ms) => ms <= MAX_TIMEOUT_MS));
    assert.equal(fake.pending.size, 0);
  });

  await t.step("cancels whichever link is pending", () => {
    const fake = makeFakeTimeouts();
    let fired = 0;
    const cancel = chainTimeouts(fake.timers)(
      3 * MAX_TIMEOUT_MS,
      () => fired++,
    );
    fake.fireOnly();
    assert.equal(fake.pending.size, 1);
    cancel();
    assert.equal(fake.pending.size, 0);
    assert.equal(fired, 0);
  });
});

Deno.test("systemClock.after() runs and cancels real timers", async () => {
  const cancelled = systemClock.after(MAX_TIMEOUT_MS * 2, () => {
    assert.fail("cancelled timer fired");
  });
  cancelled();
  const before = systemClock.now();
  await new Promise<void>((resolve) => systemClock.after(0, resolve));
  assert.ok(systemClock.now() >= before);
});
