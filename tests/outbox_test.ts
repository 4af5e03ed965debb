// Tests Outbox ordering, pacing, fairness, coalescing, kinds of call and
// group limits in virtual time.

import assert from "node:assert/strict";
import { Outbox } from "../outbox.ts";
import { ManualClock } from "./fakes/manual_clock.ts";
import { advanceUntil, pollUntil } from "./fakes/wait.ts";

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

/**
 * Advances virtual time in steps until the outbox says it is idle; the wait
 * is for that fact (bounded in real time), not for a number of ticks.
 */
async function runUntilIdle(
  outbox: Outbox,
  clock: ManualClock,
  stepMs = 100,
): Promise<void> {
  let isIdle = false;
  outbox.idle().then(() => isIdle = true);
  await advanceUntil(clock, () => isIdle, {
    description: () => `the outbox to be idle (${outbox.pending} pending)`,
    stepMs,
  });
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

  await pollUntil(() => outbox.pending === 2, {
    description: "the first call of each chat to settle",
    everyMs: 0,
  });
  assert.equal(isIdle, false);

  clock.advance(1000);
  await outbox.idle();
  assert.equal(outbox.pending, 0);
  await pollUntil(() => isIdle, { description: "idle() to resolve" });
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

Deno.test("Outbox.enqueue() runs a chat's answers before its queued previews", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { starts, call } = recorder(clock);

  outbox.enqueue(42, call("preview 1"), { kind: "preview" });
  outbox.enqueue(42, call("preview 2"), { kind: "preview" });
  outbox.enqueue(42, call("answer 1"));
  outbox.enqueue(42, call("answer 2"));
  await runUntilIdle(outbox, clock);

  assert.deepEqual(starts, [
    { label: "preview 1", atMs: 0 },
    { label: "answer 1", atMs: 1000 },
    { label: "answer 2", atMs: 2000 },
    { label: "preview 2", atMs: 3000 },
  ]);
});

Deno.test("Outbox.enqueue() moves a replaced call to the replacing call's kind", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { call, labels } = recorder(clock);

  outbox.enqueue(42, call("busy"));
  const preview = outbox.enqueue(42, call("preview"), {
    kind: "preview",
    replaceKey: "page:1",
  });
  outbox.enqueue(42, call("other preview"), { kind: "preview" });
  const final = outbox.enqueue(42, call("final edit"), {
    replaceKey: "page:1",
  });
  assert.equal(outbox.pending, 3);
  await runUntilIdle(outbox, clock);

  assert.equal(await preview, undefined);
  assert.equal(await final, "final edit");
  assert.deepEqual(labels(), ["busy", "final edit", "other preview"]);
});

Deno.test("Outbox.cancel() drops a queued call, not a running one", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { call, labels } = recorder(clock);

  const running = outbox.enqueue(42, call("running"), { replaceKey: "a" });
  const queued = outbox.enqueue(42, call("draft"), {
    kind: "draft",
    replaceKey: "draft",
  });
  outbox.enqueue(42, call("next"), { replaceKey: "b" });
  assert.equal(outbox.cancel(42, "a"), false, "already running");
  assert.equal(outbox.cancel("42", "b"), true);
  assert.equal(outbox.cancel(42, "b"), false, "already dropped");
  await runUntilIdle(outbox, clock);

  assert.equal(await running, "running");
  assert.equal(await queued, "draft");
  assert.deepEqual(labels(), ["running", "draft"]);
  assert.equal(outbox.pending, 0);
});

Deno.test("Outbox.enqueue() paces drafts on their own budget", async (t) => {
  await t.step("every draftIntervalMs, beside paced messages", async () => {
    const clock = new ManualClock();
    const outbox = new Outbox({
      clock,
      perChatIntervalMs: 1000,
      draftIntervalMs: 300,
    });
    const { starts, call } = recorder(clock);

    outbox.enqueue(42, call("message 1"));
    outbox.enqueue(42, call("message 2"));
    for (const label of ["d1", "d2", "d3", "d4"]) {
      outbox.enqueue(42, call(label), { kind: "draft" });
    }
    await runUntilIdle(outbox, clock);

    assert.deepEqual(starts, [
      { label: "message 1", atMs: 0 },
      { label: "d1", atMs: 0 },
      { label: "d2", atMs: 300 },
      { label: "d3", atMs: 600 },
      { label: "d4", atMs: 900 },
      { label: "message 2", atMs: 1000 },
    ]);
  });

  await t.step(
    "a slow draft (a 429 waited out) delays drafts only",
    async () => {
      const clock = new ManualClock();
      const outbox = new Outbox({
        clock,
        perChatIntervalMs: 1000,
        draftIntervalMs: 300,
      });
      const { starts, call } = recorder(clock);
      const throttled = () =>
        new Promise<string>((resolve) => {
          starts.push({ label: "throttled draft", atMs: clock.now() });
          clock.after(2000, () => resolve("throttled draft"));
        });

      outbox.enqueue(42, throttled, { kind: "draft" });
      outbox.enqueue(42, call("next draft"), { kind: "draft" });
      outbox.enqueue(42, call("answer"));
      outbox.enqueue(42, call("second answer"));
      await runUntilIdle(outbox, clock);

      assert.deepEqual(starts, [
        { label: "throttled draft", atMs: 0 },
        { label: "answer", atMs: 0 },
        { label: "second answer", atMs: 1000 },
        { label: "next draft", atMs: 2300 },
      ]);
    },
  );
});

Deno.test("Outbox.enqueue() paces typing by the bot-wide budget only", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { starts, call } = recorder(clock);

  outbox.enqueue(42, call("answer"));
  outbox.enqueue(42, call("typing 1"), { kind: "typing" });
  outbox.enqueue("42:7", call("typing 2"), { kind: "typing" });
  await runUntilIdle(outbox, clock);

  assert.ok(starts.every((start) => start.atMs === 0), JSON.stringify(starts));
});

Deno.test("Outbox.enqueue() paces a group's forum topics as one chat", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const { starts, call } = recorder(clock);

  outbox.enqueue("-100:1", call("topic 1"));
  outbox.enqueue("-100:2", call("topic 2"));
  outbox.enqueue("-100", call("general"));
  outbox.enqueue("-200:1", call("other group"));
  await runUntilIdle(outbox, clock);

  assert.deepEqual(starts, [
    { label: "topic 1", atMs: 0 },
    { label: "other group", atMs: 0 },
    { label: "topic 2", atMs: 1000 },
    { label: "general", atMs: 2000 },
  ]);
});

Deno.test("Outbox.enqueue() keeps a group under groupPerMinute, with room for answers", async (t) => {
  /** Most starts within any minute. */
  const busiestMinute = (starts: Start[]) =>
    Math.max(
      ...starts.map(({ atMs }) =>
        starts.filter((s) => s.atMs >= atMs && s.atMs < atMs + 60_000).length
      ),
    );

  await t.step("answers: at most groupPerMinute in any minute", async () => {
    const clock = new ManualClock();
    const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
    const { starts, call } = recorder(clock);

    for (let n = 0; n < 30; n++) outbox.enqueue(`-100:${n % 4}`, call(`${n}`));
    await runUntilIdle(outbox, clock, 1000);

    assert.equal(starts.length, 30);
    assert.equal(busiestMinute(starts), 20);
    // The 21st waits for the first to leave the minute, plus a second's
    // margin for the time Telegram takes to apply a call.
    assert.deepEqual(starts.slice(19, 21).map((s) => s.atMs), [19_000, 61_000]);
  });

  await t.step(
    "previews: a burst at the floor, then their share of the minute",
    async () => {
      const clock = new ManualClock();
      const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
      const { starts, call } = recorder(clock);

      for (let n = 0; n < 30; n++) {
        outbox.enqueue("-100", call(`preview ${n}`), { kind: "preview" });
      }
      await runUntilIdle(outbox, clock, 500);

      const times = starts.map((s) => s.atMs);
      assert.deepEqual(times.slice(0, 4), [0, 1000, 2000, 3000], "the burst");
      assert.ok(times[4] >= 4000 && times[5] - times[4] >= 3500, `${times}`);
      assert.ok(busiestMinute(starts) <= 15, `${busiestMinute(starts)}`);
    },
  );

  await t.step("an answer finds room while previews stream", async () => {
    const clock = new ManualClock();
    const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
    const { starts, call } = recorder(clock);

    for (let n = 0; n < 15; n++) {
      outbox.enqueue("-100:1", call(`preview ${n}`), { kind: "preview" });
    }
    await advanceUntil(clock, () => starts.length === 15, {
      description: "15 previews",
      stepMs: 1000,
    });
    outbox.enqueue("-100:2", call("approval"));
    outbox.enqueue("-100:1", call("answer"));
    await runUntilIdle(outbox, clock, 100);

    const [approval, answer] = starts.slice(15);
    const lastPreviewMs = starts[14].atMs;
    assert.equal(approval.label, "approval");
    assert.ok(approval.atMs <= lastPreviewMs + 1000, `${approval.atMs}`);
    assert.equal(answer.atMs, approval.atMs + 1000);
  });
});

Deno.test("Outbox.enqueue() leaves a fifth of the bot-wide budget to answers", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({
    clock,
    perChatIntervalMs: 1000,
    globalPerSecond: 5,
  });
  const { starts, call } = recorder(clock);

  for (let chat = 1; chat <= 6; chat++) {
    outbox.enqueue(chat, call(`preview ${chat}`), { kind: "preview" });
  }
  outbox.enqueue(7, call("answer"));
  await runUntilIdle(outbox, clock);

  const atZero = starts.filter((s) => s.atMs === 0).map((s) => s.label);
  assert.equal(atZero.length, 5);
  assert.ok(atZero.includes("answer"), `${atZero}`);
});

Deno.test("Outbox with perChatIntervalMs 0 paces neither drafts nor groups", async () => {
  const clock = new ManualClock();
  const outbox = new Outbox({
    clock,
    perChatIntervalMs: 0,
    globalPerSecond: 100,
  });
  const { starts, call } = recorder(clock);

  const calls = [];
  for (let n = 0; n < 25; n++) {
    calls.push(outbox.enqueue("-100", call(`message ${n}`)));
    calls.push(outbox.enqueue(42, call(`draft ${n}`), { kind: "draft" }));
  }
  await Promise.all(calls);

  assert.equal(starts.length, 50);
  assert.ok(starts.every((start) => start.atMs === 0));
});
