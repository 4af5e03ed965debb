// Tool approvals with buttons, forum topics as parallel sessions, and cost at
// a glance, end to end through the fake Bot API and the fake claude.
import assert from "node:assert/strict";
import { describeRequest } from "../approvals.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import type { FakeMessage } from "./fakes/fake_bot_api.ts";
import type { ManualClock } from "./fakes/manual_clock.ts";

/** The approval message for a command, once it has its buttons. */
function approvalFor(bot: BotHarness, command: string, chatId = OWNER_ID) {
  return bot.api.waitFor(
    () =>
      bot.api.messages(chatId).find((m) =>
        m.text.includes("Claude wants to use Bash") &&
        m.text.includes(command) && buttonsOf(m).length > 0
      ),
    { description: `an approval request for ${command}` },
  );
}

function buttonsOf(message: FakeMessage): string[] {
  const markup = message.reply_markup as
    | { inline_keyboard?: { callback_data?: string }[][] }
    | undefined;
  return (markup?.inline_keyboard ?? []).flat().flatMap((b) =>
    b.callback_data ? [b.callback_data] : []
  );
}

function press(bot: BotHarness, message: FakeMessage, letter: string) {
  const data = buttonsOf(message).find((d) => d.endsWith(`:${letter}`))!;
  return bot.api.pressButton(message.message_id, data);
}

Deno.test("a Bash command waits for Allow and runs only then; the message shows who decided", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!ask touch ok.txt");
  const request = await approvalFor(bot, "touch ok.txt");
  assert.deepEqual(
    buttonsOf(request).map((d) => d.slice(-1)),
    ["a", "d", "A"],
  );
  assert.ok(
    !bot.api.messages().some((m) => m.text.includes("Allowed: touch")),
    "nothing ran before the tap",
  );
  press(bot, request, "a");
  await bot.waitForMessage(/Allowed: touch ok\.txt/);
  await bot.api.waitFor(() =>
    bot.api.messages().find((m) =>
      m.message_id === request.message_id && /✅ Allowed by/.test(m.text) &&
      buttonsOf(m).length === 0
    )
  );
});

Deno.test("Deny sends the refusal to Claude, which sees it", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!ask rm -rf build");
  press(bot, await approvalFor(bot, "rm -rf build"), "d");
  await bot.waitForMessage(/Denied: The user denied this from Telegram\./);
});

Deno.test("Always allow skips the question for that tool in this session", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!ask ls");
  press(bot, await approvalFor(bot, "ls"), "A");
  await bot.waitForMessage(/Allowed: ls/);
  await bot.ask("!ask pwd", /Allowed: pwd/);
  const asked = bot.api.messages().filter((m) =>
    m.text.includes("Claude wants to use")
  );
  assert.equal(asked.length, 1, "the second command was not asked");
  await bot.ask("/permissions", /Always allowed here: Bash/);
});

Deno.test("an unanswered request is denied after APPROVAL_TIMEOUT_SECONDS and the session stays usable", async () => {
  await using bot = await BotHarness.start({
    env: { APPROVAL_TIMEOUT_SECONDS: "60" },
  });
  bot.api.sendText("!ask sleep 1");
  const request = await approvalFor(bot, "sleep 1");
  (bot.clock as ManualClock).advance(60_000);
  await bot.waitForMessage(/Denied: The user did not answer within 1 min/);
  await bot.api.waitFor(() =>
    bot.api.messages().find((m) =>
      m.message_id === request.message_id && /⌛ Not answered/.test(m.text)
    )
  );
  await bot.ask("still here?", /echo: still here\?/);
});

Deno.test("two parallel requests get their own messages and are answered independently", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!ask echo one && !ask echo two");
  const one = await approvalFor(bot, "echo one");
  const two = await approvalFor(bot, "echo two");
  assert.notEqual(one.message_id, two.message_id);
  press(bot, two, "d");
  press(bot, one, "a");
  await bot.waitForMessage(/Allowed: echo one/);
  await bot.waitForMessage(/Denied: /);
});

Deno.test("stale and foreign taps change nothing", async (t) => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!ask make");
  const request = await approvalFor(bot, "make");

  await t.step("a user not on the allow-list gets only a toast", async () => {
    const before = bot.api.messages().length;
    const data = buttonsOf(request)[0];
    bot.api.pressButton(request.message_id, data, {
      chatId: OWNER_ID,
      userId: 666,
    });
    const toast = await bot.api.waitFor(() =>
      bot.api.calls.find((c) => c.method === "answerCallbackQuery")
    );
    assert.match(String(toast.params.text), /not allowed/);
    assert.equal(bot.api.messages().length, before, "nothing posted");
  });

  await t.step(
    "a restart closes the request and its old buttons do nothing",
    async () => {
      await bot.restart();
      await bot.api.waitFor(() =>
        bot.api.messages().find((m) =>
          m.message_id === request.message_id &&
          /No longer pending/.test(m.text) && buttonsOf(m).length === 0
        )
      );
      // A tap that was already on its way (or a button kept by a crash).
      bot.api.pushUpdate({
        callback_query: {
          id: "stale-1",
          from: { id: OWNER_ID, is_bot: false, first_name: "Owner" },
          chat_instance: "1",
          message: {
            message_id: request.message_id,
            date: 0,
            chat: { id: OWNER_ID, type: "private", first_name: "Owner" },
          },
          data: buttonsOf(request)[0],
        },
      });
      await bot.api.waitFor(() =>
        bot.api.calls.find((c) =>
          c.method === "answerCallbackQuery" &&
          /no longer pending/.test(String(c.params.text))
        )
      );
      assert.ok(
        !bot.api.messages().some((m) => m.text.includes("Allowed: make")),
      );
    },
  );
});

Deno.test("describeRequest shows the key input of each tool", () => {
  const base = { type: "permission_request" as const, requestId: "r" };
  assert.match(
    describeRequest({ ...base, toolName: "Bash", input: { command: "a<b" } }),
    /<pre>a&lt;b<\/pre>/,
  );
  assert.match(
    describeRequest({
      ...base,
      toolName: "Edit",
      input: { file_path: "main.ts", old_string: "a\nb", new_string: "c" },
    }),
    /<code>main\.ts<\/code>\n<i>−2 \+1 lines<\/i>/,
  );
  assert.match(
    describeRequest({ ...base, toolName: "Mystery", input: { x: 1 } }),
    /"x": 1/,
  );
});

Deno.test("forum topics are parallel sessions named after the topic, answered in their threads", async () => {
  const forum = -100777;
  await using bot = await BotHarness.start({
    env: { ALLOWED_CHAT_IDS: String(forum) },
  });
  const topic = (threadId: number, topicName: string) => ({
    chatId: forum,
    userId: OWNER_ID,
    chatType: "supergroup" as const,
    isForum: true,
    threadId,
    topicName,
  });
  bot.api.sendText("!slow 800", topic(11, "Backend API"));
  await bot.ask("quick", /echo: quick/, topic(22, "Web UI ✨"));
  await bot.waitForMessage(/slow reply/, { from: topic(11, "Backend API") });
  const messages = bot.api.messages(forum);
  const inThread = (threadId: number, pattern: RegExp) =>
    messages.some((m) =>
      m.message_thread_id === threadId && pattern.test(m.text)
    );
  assert.ok(inThread(11, /slow reply/) && inThread(22, /echo: quick/));
  assert.ok(!inThread(11, /echo: quick/) && !inThread(22, /slow reply/));
  const names = (await bot.claudeStarts()).map((s) => s.cwd.split("/").at(-1));
  assert.deepEqual(names.sort(), ["Backend-API", "Web-UI"]);
  await bot.ask("/sessions", /Web-UI/, topic(22, "Web UI ✨"));
});

Deno.test("cost adds up over turns and a process restart; /usage shows it", async () => {
  await using bot = await BotHarness.start();
  await bot.ask("one", /echo: one/);
  await bot.ask("two", /echo: two/);
  await bot.idle();
  await bot.restart();
  await bot.ask("three", /echo: three/);
  await bot.idle();
  const usage = await bot.ask("/usage", /Usage/);
  assert.match(
    usage.text,
    /default: today \$0\.0300 · last turn \$0\.0100 · total \$0\.0300 · 3 turns/,
  );
  assert.match(
    usage.text,
    /All sessions: today \$0\.0300 · last 7 days \$0\.0300/,
  );
});

Deno.test("a spent DAILY_BUDGET_USD refuses new turns and says when it resets", async () => {
  await using bot = await BotHarness.start({
    env: { DAILY_BUDGET_USD: "0.015" },
  });
  await bot.ask("one", /echo: one/);
  await bot.ask("two", /echo: two/);
  await bot.idle();
  await bot.ask(
    "three",
    /daily budget of \$0\.0150 is spent \(\$0\.0200 today\).*resets at 00:00 UTC/,
  );
  const inputs = await bot.claudeInputs();
  assert.ok(!inputs.some((i) => JSON.stringify(i.stdin).includes("three")));
});
