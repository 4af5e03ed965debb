// The inbound journal: durable records, states, pruning, and recovery of
// queued and interrupted messages after a crash, end to end.
import assert from "node:assert/strict";
import { join } from "node:path";
import { systemClock } from "../clock.ts";
import { InboundJournal } from "../journal.ts";
import { ManualClock } from "./fakes/manual_clock.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import { readJournal } from "./fakes/journal_files.ts";

const CHAT = String(OWNER_ID);

function entry(id: number, text: string) {
  return {
    id,
    chatId: OWNER_ID,
    chatKey: CHAT,
    input: { kind: "text" as const, text },
  };
}

Deno.test("InboundJournal keeps entries across instances, by state, oldest first", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const journal = new InboundJournal({ dataDir, clock: systemClock });
    await journal.load();
    await journal.add(entry(7, "second"));
    await journal.add(entry(3, "first"));
    await journal.start(7);
    const reloaded = new InboundJournal({ dataDir, clock: systemClock });
    await reloaded.load();
    assert.deepEqual(reloaded.list("queued").map((e) => e.id), [3]);
    assert.deepEqual(reloaded.list("running").map((e) => e.id), [7]);
    assert.ok(reloaded.has(3) && reloaded.has(7) && !reloaded.has(4));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("InboundJournal moves entries only along its transitions", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const journal = new InboundJournal({ dataDir, clock: systemClock });
    await journal.load();
    await journal.add(entry(1, "a"));
    await journal.interrupt(1);
    assert.equal(
      journal.list("queued").length,
      1,
      "queued cannot be interrupted",
    );
    await journal.start(1);
    await journal.interrupt(1);
    assert.deepEqual(journal.list("interrupted").map((e) => e.id), [1]);
    assert.equal(await journal.requeue("other-chat", 1), undefined);
    assert.equal((await journal.requeue(CHAT))?.id, 1);
    assert.equal(await journal.requeue(CHAT), undefined, "nothing left");
    await journal.finish(1);
    await journal.start(1);
    assert.deepEqual(
      journal.list("done").map((e) => e.id),
      [1],
      "done is final",
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("InboundJournal quarantines entries of unknown chats, in another chat's folder, and moves flat ones into place", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const options = {
      dataDir,
      clock: systemClock,
      isKnownChat: (chatId: number) => chatId === OWNER_ID,
    };
    const journal = new InboundJournal(options);
    await journal.load();
    const queued = (id: number, chatId: number) =>
      JSON.stringify({
        ...entry(id, "x"),
        chatId,
        chatKey: String(chatId),
        state: "queued",
        receivedAt: 1,
      });
    const dir = join(dataDir, "journal");
    await Deno.mkdir(join(dir, "666"), { recursive: true });
    // A stranger's chat, planted where its own entries would live.
    await Deno.writeTextFile(join(dir, "666", "5.json"), queued(5, 666));
    // The owner's entry, planted in another chat's folder.
    await Deno.writeTextFile(join(dir, "666", "6.json"), queued(6, OWNER_ID));
    // An entry of the older flat layout.
    await Deno.writeTextFile(join(dir, "7.json"), queued(7, OWNER_ID));
    const reloaded = new InboundJournal(options);
    const { quarantined } = await reloaded.load();
    assert.equal(quarantined.length, 2);
    assert.deepEqual(reloaded.list("queued").map((e) => e.id), [7]);
    assert.ok(!reloaded.has(5) && !reloaded.has(6));
    await Deno.stat(join(dir, CHAT, "7.json"));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("InboundJournal loads entries written before voice and replies, and keeps the new fields", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const dir = join(dataDir, "journal", CHAT);
    await Deno.mkdir(dir, { recursive: true });
    // As an older version wrote it: no replyTo, no voice kind.
    await Deno.writeTextFile(
      join(dir, "1.json"),
      JSON.stringify({
        id: 1,
        chatId: OWNER_ID,
        chatKey: CHAT,
        input: { kind: "text", text: "old" },
        state: "queued",
        receivedAt: 5,
      }),
    );
    const journal = new InboundJournal({ dataDir, clock: systemClock });
    assert.deepEqual((await journal.load()).quarantined, []);
    await journal.add({
      ...entry(2, "unused"),
      input: { kind: "voice", fileId: "f", mimeType: "audio/ogg", size: 9 },
      replyTo: "quoted",
    });
    const reloaded = new InboundJournal({ dataDir, clock: systemClock });
    assert.deepEqual((await reloaded.load()).quarantined, []);
    const [old, voice] = reloaded.list("queued");
    assert.equal(old.replyTo, undefined);
    assert.deepEqual(old.input, { kind: "text", text: "old" });
    assert.equal(voice.replyTo, "quoted");
    assert.deepEqual(voice.input, {
      kind: "voice",
      fileId: "f",
      mimeType: "audio/ogg",
      size: 9,
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("InboundJournal prunes done entries after an hour and skips unreadable files", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const clock = new ManualClock(1_000_000);
    const journal = new InboundJournal({ dataDir, clock });
    await journal.load();
    await journal.add(entry(1, "old"));
    await journal.finish(1);
    assert.ok(journal.has(1), "kept to recognise a redelivery");
    clock.advance(61 * 60_000);
    await journal.add(entry(2, "new"));
    await journal.finish(2);
    assert.ok(!journal.has(1) && journal.has(2));
    await Deno.writeTextFile(join(dataDir, "journal", "9.json"), "{broken");
    const reloaded = new InboundJournal({ dataDir, clock });
    const { quarantined } = await reloaded.load();
    assert.equal(quarantined.length, 1);
    assert.ok(reloaded.has(2));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("after a crash, queued messages run in order and an interrupted one is offered for retry", async () => {
  await using bot = await BotHarness.start({
    seed: async (dataDir) => {
      const journal = new InboundJournal({ dataDir, clock: systemClock });
      await journal.load();
      await journal.add(entry(101, "was running"));
      await journal.start(101);
      await journal.add(entry(102, "queued one"));
      await journal.add(entry(103, "queued two"));
    },
  });
  const notice = await bot.waitForMessage(
    /restarted while Claude was working on your message “was running”/,
  );
  await bot.waitForMessage(/echo: queued two/);
  const texts = bot.api.messages().map((m) => m.text);
  assert.ok(
    texts.findIndex((t) => t.includes("echo: queued one")) <
      texts.findIndex((t) => t.includes("echo: queued two")),
  );
  assert.ok(
    !texts.some((t) => t.includes("echo: was running")),
    "not re-run blindly",
  );

  bot.api.pressButton(notice.message_id, "retry:101");
  await bot.waitForMessage(/echo: was running/);
  await bot.api.waitFor(() =>
    !JSON.stringify(
      bot.api.messages().find((m) => m.message_id === notice.message_id)
        ?.reply_markup ?? {},
    ).includes("retry:")
  );
});

Deno.test("a Retry button of a message retried meanwhile answers no longer pending", async () => {
  await using bot = await BotHarness.start({
    seed: async (dataDir) => {
      const journal = new InboundJournal({ dataDir, clock: systemClock });
      await journal.load();
      await journal.add(entry(301, "retried by command"));
      await journal.start(301);
    },
  });
  const notice = await bot.waitForMessage(/restarted while Claude was working/);
  await bot.ask("/retry", /echo: retried by command/);
  await bot.idle();
  const before = bot.api.messages().length;
  bot.api.pressButton(notice.message_id, "retry:301");
  const toast = await bot.api.waitFor(() =>
    bot.api.calls.find((c) => c.method === "answerCallbackQuery")
  );
  assert.match(String(toast.params.text), /no longer pending/);
  await bot.idle();
  assert.equal(bot.api.messages().length, before, "nothing posted");
});

Deno.test("/retry re-sends the chat's latest interrupted message", async () => {
  await using bot = await BotHarness.start({
    seed: async (dataDir) => {
      const journal = new InboundJournal({ dataDir, clock: systemClock });
      await journal.load();
      await journal.add(entry(201, "long job"));
      await journal.start(201);
    },
  });
  await bot.waitForMessage(/restarted while Claude was working/);
  await bot.ask("/retry", /echo: long job/);
  await bot.ask("/retry", /There is no interrupted message to retry/);
  assert.equal(
    bot.api.messages().filter((m) => m.text.includes("echo: long job")).length,
    1,
    "sent again once",
  );
  // The entry is marked done just after the answer is shown.
  const entries = await bot.until(async () => {
    const entries = await readJournal(bot.dataDir);
    return entries.some((e) => e.id === 201 && e.state === "done") &&
      entries;
  }, "the retried message to be marked done");
  assert.deepEqual(
    entries.filter((e) => e.state === "interrupted"),
    [],
    "no longer offered",
  );
});

Deno.test("a message is journaled before its update is confirmed and marked done after", async () => {
  await using bot = await BotHarness.start();
  await bot.ask("journal me", /echo: journal me/);
  await bot.idle();
  const done = await bot.until(async () => {
    const done = (await readJournal(bot.dataDir)).filter((e) =>
      e.state === "done"
    );
    return done.length > 0 && done;
  }, "the message to be marked done");
  assert.equal(done.length, 1);
  assert.deepEqual(done[0].input, { kind: "text", text: "journal me" });
});

Deno.test("a graceful restart keeps messages cut short: queued ones run after it, the running one is offered for retry", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!slow 3000");
  await bot.until(
    async () => (await bot.claudeInputs()).length > 0,
    "the slow turn to start",
  );
  bot.api.sendText("waiting behind it");
  await bot.until(
    async () =>
      (await readJournal(bot.dataDir)).filter((e) => e.state === "queued")
        .length === 1,
    "the second message to be journaled",
  );
  await bot.restart();
  await bot.waitForMessage(/echo: waiting behind it/);
  await bot.waitForMessage(
    /restarted while Claude was working on your message “!slow 3000”/,
  );
  assert.ok(
    !bot.api.messages().some((m) => /bot is restarting/.test(m.text)),
    "nobody is asked to send anything again",
  );
});
