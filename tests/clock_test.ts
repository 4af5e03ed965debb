// Tests for clock.ts: the timeout chaining that lets the system clock wait
// for days, sleep and settlesWithin on a manual clock.

import assert from "node:assert/strict";
import {
  chainTimeouts,
  MAX_TIMEOUT_MS,
  settlesWithin,
  sleep,
  systemClock,
} from "../clock.ts";
import { ManualClock } from "./fakes/manual_clock.ts";

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

Deno.test("sleep() resolves once the clock has advanced by ms", async () => {
  const clock = new ManualClock();
  let isDone = false;
  const slept = sleep(clock, 500).then(() => isDone = true);
  clock.advance(499);
  await Promise.resolve();
  assert.equal(isDone, false);
  clock.advance(1);
  await slept;
  assert.equal(isDone, true);
});

Deno.test("sleep() rejects with the signal's reason and cancels its timer", async () => {
  const clock = new ManualClock();
  const controller = new AbortController();
  const slept = sleep(clock, 500, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(slept, /stop/);
  assert.equal(clock.pending, 0);
});

Deno.test("settlesWithin() tells whether a promise settles in time", async () => {
  const clock = new ManualClock();
  assert.equal(await settlesWithin(clock, Promise.resolve(), 10), true);
  assert.equal(
    await settlesWithin(clock, Promise.reject(new Error()), 10),
    true,
  );
  const never = new Promise(() => {});
  const result = settlesWithin(clock, never, 10);
  clock.advance(10);
  assert.equal(await result, false);
  assert.equal(clock.pending, 0);
});
