// Replies as context: which text a message quotes, how Claude reads it, and
// end to end that replies and partial quotes reach the fake claude first,
// also when replayed from the journal, while a forum topic's messages do not.
import assert from "node:assert/strict";
import { systemClock } from "../clock.ts";
import { chatKeyOf, InboundJournal } from "../journal.ts";
import { MAX_QUOTE_CHARS, quotedText, withQuote } from "../reply_context.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";

Deno.test("quotedText() prefers the partial quote, then the replied text or caption", () => {
  const replied = { text: "line one\nline two" };
  assert.equal(
    quotedText({ quote: { text: "line two" }, reply_to_message: replied }),
    "line two",
  );
  assert.equal(
    quotedText({ reply_to_message: replied }),
    "line one\nline two",
  );
  assert.equal(
    quotedText({ reply_to_message: { caption: "a chart" } }),
    "a chart",
  );
  assert.equal(quotedText({}), undefined);
  assert.equal(quotedText({ reply_to_message: {} }), undefined, "a sticker");
  assert.equal(quotedText({ reply_to_message: { text: "  \n" } }), undefined);
});

Deno.test("quotedText() ignores a forum topic's creation message", () => {
  assert.equal(
    quotedText({
      // Whatever it carries: it is the topic's root, not something quoted.
      reply_to_message: { forum_topic_created: { name: "api" }, text: "api" },
    }),
    undefined,
  );
});

Deno.test("quotedText() cuts a long quote without splitting an emoji", () => {
  const long = "a".repeat(MAX_QUOTE_CHARS - 2) + "🙂🙂🙂";
  const cut = quotedText({ reply_to_message: { text: long } })!;
  assert.ok(cut.length <= MAX_QUOTE_CHARS, `${cut.length}`);
  assert.ok(cut.endsWith("…"));
  assert.ok(!/[\uD800-\uDBFF]…$/.test(cut), "no half surrogate pair");
  assert.equal(cut.slice(0, 10), "aaaaaaaaaa");
});

Deno.test("withQuote() marks the quote, line by line, before the message", () => {
  assert.equal(
    withQuote("first\nsecond", "explain this"),
    "[The user is replying to this earlier message:]\n> first\n> second\n\nexplain this",
  );
  assert.equal(withQuote(undefined, "plain"), "plain");
});

Deno.test("a reply to the bot's answer reaches Claude with the answer quoted first", async () => {
  await using bot = await BotHarness.start();
  const answer = await bot.ask("the plan", /echo: the plan/);
  bot.api.sendText("explain this", { replyTo: answer.message_id });
  await bot.waitForMessage(/echo: \[The user is replying/);
  assert.deepEqual(
    (await bot.claudeUserTexts()).at(-1),
    [
      "[The user is replying to this earlier message:]",
      "> echo: the plan",
      "",
      "explain this",
    ].join("\n"),
  );
});

Deno.test("a partial quote of the user's own message reaches Claude, not the whole message", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("and this part?", {
    replyTo: { text: "step one\nstep two\nstep three" },
    quote: "step two",
  });
  await bot.waitForMessage(/echo: \[The user is replying/);
  assert.equal(
    (await bot.claudeUserTexts()).at(-1),
    "[The user is replying to this earlier message:]\n> step two\n\nand this part?",
  );
});

Deno.test("an ordinary message in a forum topic carries no quote", async () => {
  const group = -100777;
  await using bot = await BotHarness.start({
    env: { ALLOWED_CHAT_IDS: String(group) },
  });
  const topic = {
    chatId: group,
    userId: OWNER_ID,
    chatType: "supergroup" as const,
    isForum: true,
    threadId: 42,
    topicName: "api",
  };
  await bot.ask("plain in a topic", /echo: plain in a topic/, topic);
  assert.deepEqual(await bot.claudeUserTexts(), ["plain in a topic"]);
});

Deno.test("a reply replayed from the journal after a crash keeps its quote", async () => {
  await using bot = await BotHarness.start({
    seed: async (dataDir) => {
      const journal = new InboundJournal({ dataDir, clock: systemClock });
      await journal.load();
      await journal.add({
        id: 500,
        chatId: OWNER_ID,
        chatKey: chatKeyOf(OWNER_ID),
        input: { kind: "text", text: "why?" },
        replyTo: "the earlier answer",
      });
    },
  });
  await bot.waitForMessage(/echo: \[The user is replying/);
  assert.equal(
    (await bot.claudeUserTexts()).at(-1),
    "[The user is replying to this earlier message:]\n> the earlier answer\n\nwhy?",
  );
});
