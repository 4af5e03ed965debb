// Tests for lock.ts: per-key ordering, cross-key parallelism, failure
// isolation and that no key entry outlives its chain.

import assert from "node:assert/strict";
import { KeyedLock } from "../lock.ts";

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

Deno.test("KeyedLock.run() runs tasks of one key strictly in order", async () => {
  const lock = new KeyedLock<string>();
  const log: string[] = [];
  const gateA = deferred();
  const first = lock.run("a", async () => {
    log.push("1 start");
    await gateA.promise;
    log.push("1 end");
    return 1;
  });
  const second = lock.run("a", () => {
    log.push("2 start");
    log.push("2 end");
    return 2;
  });
  const third = lock.run("a", async () => {
    log.push("3 start");
    await Promise.resolve();
    log.push("3 end");
    return 3;
  });
  // Let any wrongly unblocked task run before releasing the first.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(log, ["1 start"]);
  gateA.resolve();
  assert.deepEqual(await Promise.all([first, second, third]), [1, 2, 3]);
  assert.deepEqual(log, [
    "1 start",
    "1 end",
    "2 start",
    "2 end",
    "3 start",
    "3 end",
  ]);
  assert.equal(lock.size, 0);
});

Deno.test("KeyedLock.run() lets other keys run while one is blocked", async () => {
  const lock = new KeyedLock<string>();
  const gateA = deferred();
  const log: string[] = [];
  const a = lock.run("a", async () => {
    log.push("a start");
    await gateA.promise;
    log.push("a end");
  });
  await lock.run("b", () => log.push("b"));
  assert.deepEqual(log, ["a start", "b"]);
  assert.equal(lock.isLocked("a"), true);
  assert.equal(lock.isLocked("b"), false);
  gateA.resolve();
  await a;
  assert.deepEqual(log, ["a start", "b", "a end"]);
  assert.equal(lock.size, 0);
});

Deno.test("KeyedLock.run() keeps the chain going after a failure", async (t) => {
  await t.step("rejected promise", async () => {
    const lock = new KeyedLock<string>();
    const failure = new Error("boom");
    const failed = lock.run("a", () => Promise.reject(failure));
    const next = lock.run("a", () => "after");
    await assert.rejects(failed, (error) => error === failure);
    assert.equal(await next, "after");
    assert.equal(lock.size, 0);
  });

  await t.step("synchronous throw", async () => {
    const lock = new KeyedLock<string>();
    const failed = lock.run("a", () => {
      throw new TypeError("bad");
    });
    const next = lock.run("a", () => 42);
    await assert.rejects(failed, TypeError);
    assert.equal(await next, 42);
    assert.equal(lock.size, 0);
  });
});

Deno.test("KeyedLock.isLocked() tracks running and queued tasks", async () => {
  const lock = new KeyedLock<number>();
  const gate = deferred();
  assert.equal(lock.isLocked(1), false);
  const running = lock.run(1, () => gate.promise);
  const queued = lock.run(1, () => "queued");
  assert.equal(lock.isLocked(1), true);
  assert.equal(lock.isLocked(2), false);
  assert.equal(lock.size, 1);
  gate.resolve();
  await running;
  assert.equal(lock.isLocked(1), true, "second task still pending");
  assert.equal(await queued, "queued");
  assert.equal(lock.isLocked(1), false);
  assert.equal(lock.size, 0);
});

Deno.test("KeyedLock.size drops to 0 after 1000 tasks", async () => {
  const lock = new KeyedLock<string>();
  const order = new Map<string, number[]>();
  const runs = Array.from({ length: 1_000 }, (_, i) => {
    const key = `k${i % 7}`;
    return lock.run(key, async () => {
      if (i % 3 === 0) await Promise.resolve();
      if (i % 11 === 0) throw new Error(`task ${i}`);
      const seen = order.get(key) ?? [];
      seen.push(i);
      order.set(key, seen);
    });
  });
  assert.equal(lock.size, 7);
  const outcomes = await Promise.allSettled(runs);
  assert.equal(outcomes.filter((o) => o.status === "rejected").length, 91);
  for (const seen of order.values()) {
    assert.deepEqual(seen, [...seen].sort((x, y) => x - y));
  }
  assert.equal(lock.size, 0);
});
