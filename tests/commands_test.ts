// End to end through the fake Bot API and the fake claude: what a user sees
// for each command, message and file.
import assert from "node:assert/strict";
import { join } from "node:path";
import { BUILT_IN_PERSONAS } from "../personas.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import { parseTelegramHtml } from "./fakes/telegram_html.ts";

Deno.test("a message reaches Claude and its answer reaches the chat", async () => {
  await using bot = await BotHarness.start();
  const reply = await bot.ask("hello there", /echo: hello there/);
  assert.equal(reply.chat_id, OWNER_ID);
  const [start] = await bot.claudeStarts();
  assert.ok(start.argv.includes("--input-format"));
  assert.ok(start.argv.includes("--include-partial-messages"));
  const flag = (name: string) => start.argv[start.argv.indexOf(name) + 1];
  assert.equal(flag("--permission-mode"), "default", "ask mode by default");
  assert.equal(flag("--permission-prompt-tool"), "stdio");
  assert.equal(
    start.cwd,
    join(bot.dataDir, "work", String(OWNER_ID), "default"),
  );
});

Deno.test("Claude's environment carries the marker and none of the bot's secrets", async () => {
  await using bot = await BotHarness.start({ env: { CLAUDE_MODEL: "sonnet" } });
  await bot.ask("hi", /echo: hi/);
  const [start] = await bot.claudeStarts();
  assert.ok(!start.envKeys.includes("TELEGRAM_BOT_TOKEN"));
  assert.ok(!start.envKeys.some((k) => k.startsWith("TELEGRAM_")));
  assert.ok(!start.envKeys.includes("ALLOWED_USER_IDS"));
  assert.ok(start.envKeys.includes("PATH") && start.envKeys.includes("HOME"));
  assert.equal(start.marker, `${bot.app.instanceId}:${OWNER_ID}/default`);
  assert.ok(start.argv.includes("sonnet"), "CLAUDE_MODEL reaches --model");
});

Deno.test("Markdown is rendered as valid Telegram HTML and literal <, & survive", async () => {
  await using bot = await BotHarness.start();
  const reply = await bot.ask(
    "**bold** and `a < b && c`",
    /bold and a < b && c/,
  );
  assert.equal(reply.parse_mode, "HTML");
  assert.match(reply.html!, /<b>bold<\/b>/);
  assert.match(reply.html!, /<code>a &lt; b &amp;&amp; c<\/code>/);
});

Deno.test("a long answer is split into valid messages, nothing lost", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!long 9000");
  await bot.until(
    async () => (await bot.claudeInputs()).length > 0,
    "the turn to start",
  );
  await bot.idle();
  const messages = bot.api.messages().filter((m) => !m.deleted);
  assert.ok(messages.length >= 3, `${messages.length} messages`);
  for (const message of messages) {
    assert.ok(message.text.length <= 4096);
    assert.equal(message.parse_mode, "HTML");
    parseTelegramHtml(message.html!);
  }
  const total = messages.map((m) => m.text).join("").length;
  assert.ok(total >= 8000, `only ${total} characters arrived`);
});

Deno.test("an answer longer than three messages comes as its first part plus answer.md", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!long 20000");
  const withFile = await bot.api.waitFor(
    () => bot.api.messages().find((m) => m.document?.file_name === "answer.md"),
    { timeoutMs: 15_000 },
  );
  assert.ok(withFile.document!.content.length >= 18000);
  const visible = bot.api.messages().filter((m) => !m.deleted && !m.document);
  assert.ok(visible.some((m) => m.text.includes("attached as answer.md")));
});

Deno.test("messages sent while a turn runs are answered one by one, in order", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!slow 300");
  bot.api.sendText("first");
  bot.api.sendText("second");
  await bot.waitForMessage(/echo: second/);
  const texts = bot.api.messages().map((m) => m.text);
  const first = texts.findIndex((t) => t.includes("echo: first"));
  const second = texts.findIndex((t) => t.includes("echo: second"));
  assert.ok(first >= 0 && first < second, texts.join(" | "));
  const inputs = (await bot.claudeInputs()).filter((i) =>
    i.stdin.type === "user"
  );
  assert.equal(inputs.length, 3, "each message is its own turn");
});

Deno.test("/new, /switch and /sessions manage several sessions in parallel", async () => {
  await using bot = await BotHarness.start();
  await bot.ask(
    "/new api reviewer",
    /Created session api with persona reviewer/,
  );
  bot.api.sendText("!slow 1500");
  await bot.ask(
    "/new web You are a terse reviewer of web code",
    /Created session web/,
  );
  await bot.ask("quick", /echo: quick/);
  const list = await bot.ask("/sessions", /api/);
  assert.match(list.text, /api — LIVE, working · reviewer/);
  assert.match(list.text, /▶️ web — LIVE.* · You are a terse reviewer of web/);
  await bot.waitForMessage(/slow reply/);
  await bot.ask("/switch api", /Switched to api \(LIVE\)/);
  const starts = await bot.claudeStarts();
  assert.equal(starts.length, 2);
  const api = starts.find((s) => s.cwd.endsWith("/api"))!;
  const web = starts.find((s) => s.cwd.endsWith("/web"))!;
  assert.ok(
    api.argv.includes(
      BUILT_IN_PERSONAS.find((p) => p.name === "reviewer")!.prompt,
    ),
  );
  assert.equal(
    web.argv[web.argv.indexOf("--append-system-prompt") + 1],
    "You are a terse reviewer of web code",
  );
});

Deno.test("/archive stops the process and the next message starts a fresh default", async () => {
  await using bot = await BotHarness.start();
  await bot.ask("remember me", /echo: remember me/);
  await bot.ask(
    "/archive",
    /Archived default; its process is stopped\. No session is active now: your next message goes to default/,
  );
  await bot.ask("/sessions", /No sessions yet[\s\S]*1 archived/);
  await bot.ask("!history", /\[\]/);
  const starts = await bot.claudeStarts();
  assert.equal(starts.length, 2);
  assert.ok(!starts[1].argv.includes("--resume"), "fresh session, no resume");
});

Deno.test("/stop interrupts the running turn and the session keeps working", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendText("!hang");
  await bot.until(
    async () => (await bot.claudeInputs()).length > 0,
    "the turn to start",
  );
  const stopped = await bot.ask("/stop", /Stopping…/);
  assert.doesNotMatch(
    stopped.text,
    /dropped/,
    "the running turn is not a queued one",
  );
  await bot.waitForMessage(/⏹ Stopped\./);
  await bot.ask("still there?", /echo: still there\?/);
  assert.equal((await bot.claudeStarts()).length, 1, "same process");
});

Deno.test("a crash mid-turn is reported and the next message starts Claude again", async () => {
  await using bot = await BotHarness.start();
  await bot.ask("!crash", /Claude stopped unexpectedly \(exit code 3\)/);
  await bot.ask("again", /echo: again/);
  const starts = await bot.claudeStarts();
  assert.ok(starts.length >= 2, "a new process answered");
});

Deno.test("a missing CLAUDE_BIN gets a clear message and the bot keeps serving", async () => {
  await using bot = await BotHarness.start({
    env: { CLAUDE_BIN: "/nonexistent/claude" },
  });
  await bot.ask(
    "hello",
    /Claude Code CLI was not found \(\/nonexistent\/claude\)/,
  );
  await bot.ask("/sessions", /default — IDLE/);
  assert.deepEqual(
    bot.app.sessions.list(String(OWNER_ID)).map((v) => [v.state, v.queued]),
    [["suspended", 0]],
    "nothing left running or waiting",
  );
});

Deno.test("strangers are refused once with their id and never reach Claude", async () => {
  await using bot = await BotHarness.start();
  const stranger = { chatId: 777, userId: 777 };
  await bot.ask("let me in", /Your Telegram user id is 777/, stranger);
  bot.api.sendText("again", stranger);
  await bot.ask("owner here", /echo: owner here/);
  assert.equal(bot.api.messages(777).length, 1, "answered once");
  const inputs = await bot.claudeInputs();
  assert.ok(
    inputs.every((i) => JSON.stringify(i.stdin).includes("owner here")),
  );
});

Deno.test("group chats are ignored unless ALLOWED_CHAT_IDS lists them", async () => {
  await using bot = await BotHarness.start({
    env: { ALLOWED_CHAT_IDS: "-200" },
  });
  const group = {
    chatId: -100,
    userId: OWNER_ID,
    chatType: "supergroup" as const,
  };
  bot.api.sendText("in a stranger group", group);
  await bot.ask("in our group", /echo: in our group/, {
    ...group,
    chatId: -200,
  });
  await bot.ask("private", /echo: private/);
  assert.equal(bot.api.messages(-100).length, 0);
});

Deno.test("bad input gets a clear answer", async (t) => {
  await using bot = await BotHarness.start();
  const cases: [string, RegExp][] = [
    ["/new ../x", /"\.\.\/x" is not a valid session name/],
    ["/new " + "a".repeat(200), /is not a valid session name/],
    ["/new 🙂", /is not a valid session name/],
    ["/new", /Usage: \/new <name> \[persona\]/],
    ["/new x nosuchpersona", /No persona named "nosuchpersona"/],
    ["/switch nope", /There is no session named "nope"/],
    ["/switch", /Usage: \/switch <name>/],
    ["/timeout 0", /whole number of minutes from 1–120/],
    ["/timeout 121", /whole number of minutes from 1–120/],
    ["/timeout abc", /whole number of minutes from 1–120/],
    ["/timeout 5.5", /whole number of minutes from 1–120/],
    ["/mode loud", /Usage: \/mode \[verbose\|normal\|quiet\]/],
    ["/frobnicate", /Unknown command \/frobnicate/],
    ["/archive nope", /There is no session named "nope"/],
  ];
  for (const [input, expected] of cases) {
    await t.step(input.slice(0, 30), async () => {
      await bot.ask(input, expected);
    });
  }
  await bot.ask("still serving", /echo: still serving/);
  const inputs = await bot.claudeInputs();
  assert.deepEqual(
    inputs.filter((i) => i.stdin.type === "user").map((i) =>
      JSON.stringify(i.stdin).includes("still serving")
    ),
    [true],
    "no bad input reached Claude",
  );
});

Deno.test("/timeout and /mode show and set per-session values", async () => {
  await using bot = await BotHarness.start();
  await bot.ask("/timeout", /Idle timeout of default: 10 min/);
  await bot.ask("/timeout 30", /Idle timeout of default: 30 min/);
  await bot.ask(
    "/mode",
    /Output mode: normal\. Choices: verbose, normal, quiet/,
  );
  await bot.ask("/mode quiet", /Output mode of default: quiet/);
  await bot.ask("/model", /Model: default/);
  await bot.ask("/model haiku", /Model of default: haiku/);
  const view = bot.app.sessions.active(String(OWNER_ID))!;
  assert.equal(view.idleTimeoutMs, 30 * 60_000);
  assert.equal(view.outputMode, "quiet");
  await bot.ask("hi", /echo: hi/);
  const [start] = await bot.claudeStarts();
  assert.equal(start.argv[start.argv.indexOf("--model") + 1], "haiku");
});

Deno.test("photos and documents land in the session's inbox and Claude is told the path", async () => {
  await using bot = await BotHarness.start();
  bot.api.sendDocument(
    "../../etc/passwd notes.txt",
    new TextEncoder().encode("file body"),
    {
      caption: "read this",
    },
  );
  await bot.waitForMessage(
    /echo: \[The user sent a file, saved as inbox\/passwd_notes\.txt \(9 bytes\)\]/,
  );
  const saved = await Deno.readTextFile(
    join(
      bot.dataDir,
      "work",
      String(OWNER_ID),
      "default",
      "inbox",
      "passwd_notes.txt",
    ),
  );
  assert.equal(saved, "file body");
  bot.api.sendPhoto(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
  await bot.waitForMessage(
    /echo: \[The user sent a photo, saved as inbox\/photo-.*\.jpg\] \[image\]/,
  );
  const last = (await bot.claudeInputs()).at(-1)!.stdin as {
    message: { content: { type: string }[] };
  };
  assert.deepEqual(last.message.content.map((b) => b.type), ["text", "image"]);
});

Deno.test("a document over MAX_UPLOAD_MB is refused without downloading", async () => {
  await using bot = await BotHarness.start({ env: { MAX_UPLOAD_MB: "1" } });
  bot.api.sendDocument("big.bin", new Uint8Array(10), {
    fileSize: 5 * 1024 * 1024,
  });
  await bot.waitForMessage(/That file is too large: the limit is 1 MB/);
  assert.ok(!bot.api.calls.some((c) => c.method === "getFile"));
});

Deno.test("inline queries, channel posts and strangers' edits never reach Claude", async () => {
  await using bot = await BotHarness.start();
  const stranger = { id: 666, is_bot: false, first_name: "Eve" };
  bot.api.pushUpdate({
    inline_query: { id: "q1", from: stranger, query: "!tools 3", offset: "" },
  });
  bot.api.pushUpdate({
    channel_post: {
      message_id: 1,
      date: 0,
      chat: { id: -100500, type: "channel", title: "news" },
      text: "!crash",
    },
  });
  bot.api.pushUpdate({
    edited_message: {
      message_id: 2,
      date: 0,
      edit_date: 1,
      chat: { id: 666, type: "private", first_name: "Eve" },
      from: stranger,
      text: "!crash",
    },
  });
  await bot.ask("owner", /echo: owner/);
  const inputs = await bot.claudeInputs();
  assert.deepEqual(
    inputs.map((i) => JSON.stringify(i.stdin)).filter((s) => s.includes("!")),
    [],
  );
  assert.equal(bot.api.messages(-100500).length, 0);
});
