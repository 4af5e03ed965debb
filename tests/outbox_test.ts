// Tests Outbox ordering, pacing, fairness and coalescing in virtual time.

import assert from "node:assert/strict";
import { Outbox } from "../outbox.ts";
import { ManualClock } from "./fakes/manual_clock.ts";

interface Start {
  label: string;
  atMs: number;
}

/** Builds calls that record when they start and resolve to their label. */
function recorder(clock: ManualClock) {
  const starts: Start[] = [];
  const call = (label: string) => () => {
    starts.push({ label, atMs: clock.now() });
    return Promise.resolve(label);
  };
  return { starts, call, labels: () => starts.map((start) => start.label) };
}

/** Lets settled calls' promise callbacks run: a 0 ms macrotask, not a wait. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Advances virtual time in steps until the outbox is idle, within a bound. */
async function runUntilIdle(
  outbox: Outbox,
  clock: ManualClock,
  stepMs = 100,
): Promise<void> {
  for (let step = 0; step < 1000; step++) {
    await settle();
    if (outbox.pending === 0) return;
    clock.advance(stepMs);
  }
  throw new Error(`Outbox still has ${outbox.pending} pending calls`);
}

Deno.test("Outbox.enqueue() spaces one chat's calls by perChatIntervalMs", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { starts, call } = recorder(clock);

  const results = Promise.all(
    ["a", "b", "c", "d"].map((label) => outbox.enqueue(42, call(label))),
  );
  await runUntilIdle(outbox, clock);

  assert.deepEqual(await results, ["a", "b", "c", "d"]);
  assert.deepEqual(starts, [
    { label: "a", atMs: 0 },
    { label: "b", atMs: 1000 },
    { label: "c", atMs: 2000 },
    { label: "d", atMs: 3000 },
  ]);
});

Deno.test('Outbox.enqueue() treats 42 and "42" as one chat', async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { starts, call } = recorder(clock);

  outbox.enqueue(42, call("number"));
  outbox.enqueue("42", call("string"));
  await runUntilIdle(outbox, clock);

  assert.deepEqual(starts.map((start) => start.atMs), [0, 1000]);
});

Deno.test("Outbox.enqueue() runs one call of a chat at a time", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { starts, call } = recorder(clock);
  const slow = () =>
    new Promise<string>((resolve) => {
      starts.push({ label: "slow", atMs: clock.now() });
      clock.after(1500, () => resolve("slow"));
    });

  outbox.enqueue(42, slow);
  outbox.enqueue(42, call("next"));
  await runUntilIdle(outbox, clock);

  // Paced from the end of the slow call, which settles at 1500.
  assert.deepEqual(starts, [
    { label: "slow", atMs: 0 },
    { label: "next", atMs: 2500 },
  ]);
});

Deno.test("Outbox.enqueue() with perChatIntervalMs 0 does not pace", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 0 });
  const { starts, call, labels } = recorder(clock);

  const results = Promise.all(
    ["a", "b", "c"].map((label) => outbox.enqueue(42, call(label))),
  );

  assert.deepEqual(await results, ["a", "b", "c"]);
  assert.deepEqual(labels(), ["a", "b", "c"]);
  assert.ok(starts.every((start) => start.atMs === 0));
});

Deno.test("Outbox.enqueue() serves chats round-robin", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({
    clock,
    perChatIntervalMs: 0,
    globalPerSecond: 1,
  });
  const { starts, call } = recorder(clock);

  for (const label of ["a1", "a2", "a3"]) outbox.enqueue("a", call(label));
  for (const label of ["b1", "b2", "b3"]) outbox.enqueue("b", call(label));
  await runUntilIdle(outbox, clock);

  assert.deepEqual(starts, [
    { label: "a1", atMs: 0 },
    { label: "b1", atMs: 1000 },
    { label: "a2", atMs: 2000 },
    { label: "b2", atMs: 3000 },
    { label: "a3", atMs: 4000 },
    { label: "b3", atMs: 5000 },
  ]);
});

Deno.test("Outbox.enqueue() keeps 40 chats under globalPerSecond", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { starts, call } = recorder(clock);

  for (let chat = 0; chat < 40; chat++) {
    outbox.enqueue(chat, call(`${chat}/first`));
    outbox.enqueue(chat, call(`${chat}/second`));
  }
  await runUntilIdle(outbox, clock);

  assert.equal(starts.length, 80);
  assert.equal(starts.filter((start) => start.atMs === 0).length, 25);
  for (const { atMs: windowStartMs } of starts) {
    const inWindow = starts.filter((start) =>
      start.atMs >= windowStartMs && start.atMs < windowStartMs + 1000
    );
    assert.ok(inWindow.length <= 25, `${inWindow.length} starts in 1 s`);
  }
  for (let chat = 0; chat < 40; chat++) {
    const [first, second] = starts.filter((start) =>
      start.label.startsWith(`${chat}/`)
    );
    assert.deepEqual([first.label, second.label], [
      `${chat}/first`,
      `${chat}/second`,
    ]);
    assert.ok(second.atMs - first.atMs >= 1000);
  }
});

Deno.test("Outbox.enqueue() with replaceKey sends only the newest queued edit", async (t) => {
  await t.step(
    "5 edits: the running first and the newest are sent",
    async () => {
      const clock = new ManualClock();
      const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
      const { call, labels } = recorder(clock);

      const results = Promise.all(
        ["v1", "v2", "v3", "v4", "v5"].map((text) =>
          outbox.enqueue(42, call(text), { replaceKey: "edit:7" })
        ),
      );
      await runUntilIdle(outbox, clock);

      assert.deepEqual(await results, [
        "v1",
        undefined,
        undefined,
        undefined,
        "v5",
      ]);
      assert.deepEqual(labels(), ["v1", "v5"]);
    },
  );

  await t.step("the replacement keeps the replaced call's slot", async () => {
    const clock = new ManualClock();
    const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
    const { call, labels } = recorder(clock);

    outbox.enqueue(42, call("send"));
    outbox.enqueue(42, call("edit old"), { replaceKey: "edit:7" });
    outbox.enqueue(42, call("other"));
    outbox.enqueue(42, call("edit new"), { replaceKey: "edit:7" });
    await runUntilIdle(outbox, clock);

    assert.deepEqual(labels(), ["send", "edit new", "other"]);
  });

  await t.step("keys of different chats do not replace", async () => {
    const clock = new ManualClock();
    const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
    const { call, labels } = recorder(clock);

    outbox.enqueue(1, call("busy 1"));
    outbox.enqueue(2, call("busy 2"));
    outbox.enqueue(1, call("chat 1"), { replaceKey: "edit:7" });
    outbox.enqueue(2, call("chat 2"), { replaceKey: "edit:7" });
    await runUntilIdle(outbox, clock);

    assert.deepEqual(labels().toSorted(), [
      "busy 1",
      "busy 2",
      "chat 1",
      "chat 2",
    ]);
  });
});

Deno.test("Outbox.enqueue() does not let a failing call block the next", async (t) => {
  const failures = {
    "a rejection": () => Promise.reject(new Error("Bad Request")),
    "a synchronous throw": () => {
      throw new Error("Bad Request");
    },
  };
  for (const [name, failing] of Object.entries(failures)) {
    await t.step(name, async () => {
      const clock = new ManualClock();
      const outbox = new Outbox({ clock, perChatIntervalMs: 0 });
      const { call } = recorder(clock);

      const failed = outbox.enqueue(42, failing);
      const next = outbox.enqueue(42, call("next"));

      await assert.rejects(failed, { message: "Bad Request" });
      assert.equal(await next, "next");
    });
  }
});

Deno.test("Outbox.pending and idle() track queued and running calls", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { call } = recorder(clock);
  let isIdle = false;

  await outbox.idle();
  outbox.enqueue(1, call("a"));
  outbox.enqueue(1, call("b"));
  outbox.enqueue(2, call("c"));
  outbox.enqueue(2, call("d"), { replaceKey: "edit" });
  outbox.enqueue(2, call("e"), { replaceKey: "edit" });
  assert.equal(outbox.pending, 4);
  outbox.idle().then(() => isIdle = true);

  await settle();
  assert.equal(outbox.pending, 2);
  assert.equal(isIdle, false);

  clock.advance(1000);
  await settle();
  assert.equal(outbox.pending, 0);
  assert.equal(isIdle, true);
  // No wake-up timer outlives the work.
  assert.equal(clock.pending, 0);
});

Deno.test("Outbox() rejects out-of-range limits", () => {
  const clock = new ManualClock();
  assert.throws(() => new Outbox({ clock, perChatIntervalMs: -1 }), RangeError);
  assert.throws(
    () => new Outbox({ clock, perChatIntervalMs: Infinity }),
    RangeError,
  );
  assert.throws(() => new Outbox({ clock, globalPerSecond: 0 }), RangeError);
});
