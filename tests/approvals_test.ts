// Tool approvals with buttons, forum topics as parallel sessions, and cost at
// a glance, end to end through the fake Bot API and the fake claude; then
// Approvals and the request's view on their own, with fakes of the chat and
// sessions.
import assert from "node:assert/strict";
import { describeRequest } from "../approval_view.ts";
import {
  type ApprovalChat,
  Approvals,
  type ApprovalSessions,
  type ApprovalTarget,
} from "../approvals.ts";
import { FormattingRejectedError, type InlineButton } from "../chat_port.ts";
import type { PermissionDecision } from "../subprocess.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import type { FakeMessage } from "./fakes/fake_bot_api.ts";
import { ManualClock } from "./fakes/manual_clock.ts";
import { pollUntil } from "./fakes/wait.ts";

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

// ---------------------------------------------------------------------------
// Approvals and describeRequest on their own.

const TARGET: ApprovalTarget = {
  chatKey: "42",
  chatId: 42,
  session: "default",
};
const TIMEOUT_MS = 60_000;
/** Telegram's limit on a message's text. */
const TELEGRAM_MAX_CHARS = 4096;

type Request = Parameters<Approvals["request"]>[1];

function permissionRequest(
  input: Record<string, unknown>,
  toolName = "Bash",
): Request {
  return {
    type: "permission_request",
    requestId: `req-${crypto.randomUUID()}`,
    toolName,
    input,
    description: "Claude's own words",
  };
}

interface SentMessage {
  id: number;
  text: string;
  html: boolean;
  buttons: InlineButton[][];
}

/** A chat that records what approvals send, and can refuse like Telegram. */
class FakeChat implements ApprovalChat {
  readonly messages: SentMessage[] = [];
  readonly edits: { id: number; text: string; html: boolean }[] = [];
  readonly documents: { fileName: string; content: string }[] = [];
  /** "html": Telegram refuses the markup; "all": every send fails. */
  refuse: "none" | "html" | "all" = "none";
  /** Edits never settle, like a chat stuck behind a long 429. */
  isStuck = false;

  sendText(
    text: string,
    options: { html: boolean; buttons?: InlineButton[][] },
  ): Promise<number> {
    if (this.refuse === "all") {
      return Promise.reject(new Error("Bad Request: chat not found"));
    }
    if (this.refuse === "html" && options.html) {
      return Promise.reject(
        new FormattingRejectedError("can't parse entities"),
      );
    }
    const id = this.messages.length + 1;
    this.messages.push({
      id,
      text,
      ...options,
      buttons: options.buttons ?? [],
    });
    return Promise.resolve(id);
  }

  editText(
    id: number,
    text: string,
    options: { html: boolean },
  ): Promise<void> {
    if (this.isStuck) return new Promise(() => {});
    this.edits.push({ id, text, ...options });
    return Promise.resolve();
  }

  sendDocument(fileName: string, content: string): Promise<void> {
    this.documents.push({ fileName, content });
    return Promise.resolve();
  }

  /** The callback data of the last message's button with this letter. */
  button(letter: string): string {
    const data = this.messages.at(-1)!.buttons.flat().map((b) => b.data)
      .find((d) => d.endsWith(`:${letter}`));
    assert.ok(data, `a button "${letter}"`);
    return data;
  }
}

/** Sessions that record the answers Claude would get. */
class FakeSessions implements ApprovalSessions {
  readonly answers: { requestId: string; decision: PermissionDecision }[] = [];
  readonly alwaysAllowed: string[] = [];
  isProcessGone = false;

  list() {
    return [{ name: "default", alwaysAllowedTools: this.alwaysAllowed }];
  }
  answerPermission(
    _chatKey: string,
    _session: string,
    requestId: string,
    decision: PermissionDecision,
  ): Promise<boolean> {
    this.answers.push({ requestId, decision });
    return Promise.resolve(!this.isProcessGone);
  }
  alwaysAllow(_chatKey: string, _session: string, tool: string) {
    this.alwaysAllowed.push(tool);
    return Promise.resolve();
  }
}

function setUp() {
  const chat = new FakeChat();
  const sessions = new FakeSessions();
  const clock = new ManualClock();
  const logs: string[] = [];
  const approvals = new Approvals({
    chatFor: () => chat,
    // Calls run at once: pacing is the outbox's concern, tested there.
    outbox: { enqueue: (_key, call) => call() },
    sessions,
    clock,
    timeoutMs: TIMEOUT_MS,
    log: (message) => logs.push(message),
  });
  return { approvals, chat, sessions, clock, logs };
}

/** Every UTF-16 surrogate in `text` is half of a whole pair. */
function hasWholePairs(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
    .test(text);
}

Deno.test("Approvals: Allow answers Claude with the input and marks the message; a second tap is stale", async () => {
  const { approvals, chat, sessions } = setUp();
  const request = permissionRequest({ command: "touch ok.txt" });
  await approvals.request(TARGET, request);
  const [message] = chat.messages;
  assert.ok(message.html);
  assert.match(message.text, /<pre>touch ok\.txt<\/pre>/);
  assert.deepEqual(
    message.buttons.map((row) => row.map((b) => b.text)),
    [["✅ Allow", "❌ Deny"], ["Always allow Bash here"]],
  );
  assert.deepEqual(sessions.answers, []);
  const toast = await approvals.press(chat.button("a"), "42", { name: "@me" });
  assert.equal(toast, "Allowed");
  assert.deepEqual(sessions.answers, [{
    requestId: request.requestId,
    decision: { behavior: "allow", updatedInput: { command: "touch ok.txt" } },
  }]);
  await pollUntil(() => chat.edits.length === 1, { description: "the edit" });
  assert.match(chat.edits[0].text, /✅ Allowed by @me$/);
  assert.equal(
    await approvals.press(chat.button("a"), "42", { name: "@me" }),
    "This request is no longer pending.",
  );
  assert.equal(sessions.answers.length, 1);
});

Deno.test("Approvals: a tap from another chat changes nothing", async () => {
  const { approvals, chat, sessions } = setUp();
  await approvals.request(TARGET, permissionRequest({ command: "ls" }));
  assert.equal(
    await approvals.press(chat.button("a"), "43", { name: "@other" }),
    "This request is no longer pending.",
  );
  assert.deepEqual(sessions.answers, []);
});

Deno.test("Approvals: Deny sends the refusal; Always allow skips the question next time", async () => {
  const { approvals, chat, sessions } = setUp();
  await approvals.request(TARGET, permissionRequest({ command: "rm -rf b" }));
  assert.equal(
    await approvals.press(chat.button("d"), "42", { name: "x" }),
    "Denied",
  );
  assert.deepEqual(sessions.answers[0].decision, {
    behavior: "deny",
    message: "The user denied this from Telegram.",
  });
  await approvals.request(TARGET, permissionRequest({ command: "ls" }));
  await approvals.press(chat.button("A"), "42", { name: "x" });
  assert.deepEqual(sessions.alwaysAllowed, ["Bash"]);
  await approvals.request(TARGET, permissionRequest({ command: "pwd" }));
  assert.equal(chat.messages.length, 2, "the third request was not asked");
  assert.equal(sessions.answers.at(-1)?.decision.behavior, "allow");
});

Deno.test("Approvals: an unanswered request is denied after the timeout, once", async () => {
  const { approvals, chat, sessions, clock } = setUp();
  await approvals.request(TARGET, permissionRequest({ command: "sleep 1" }));
  clock.advance(TIMEOUT_MS - 1);
  assert.equal(sessions.answers.length, 0);
  clock.advance(1);
  await pollUntil(() => chat.edits.length === 1, { description: "the edit" });
  assert.deepEqual(sessions.answers.map((a) => a.decision), [{
    behavior: "deny",
    message: "The user did not answer within 1 min, so this was denied.",
  }]);
  assert.match(chat.edits[0].text, /⌛ Not answered within 1 min: denied\.$/);
  assert.equal(clock.pending, 0);
});

Deno.test("Approvals: HTML that Telegram refuses is sent again as plain text, buttons included", async () => {
  const { approvals, chat, sessions } = setUp();
  chat.refuse = "html";
  await approvals.request(TARGET, permissionRequest({ command: "a < b" }));
  const [message] = chat.messages;
  assert.equal(message.html, false);
  assert.match(message.text, /^🔐 Claude wants to use Bash\na < b\n/);
  assert.equal(message.buttons.flat().length, 3);
  await approvals.press(chat.button("a"), "42", { name: "x" });
  assert.equal(sessions.answers[0].decision.behavior, "allow");
});

Deno.test("Approvals: a request that cannot be posted is denied at once, with a log line", async () => {
  const { approvals, chat, sessions, clock, logs } = setUp();
  chat.refuse = "all";
  const request = permissionRequest({ command: "make" });
  await approvals.request(TARGET, request);
  assert.deepEqual(sessions.answers, [{
    requestId: request.requestId,
    decision: {
      behavior: "deny",
      message:
        "The approval request could not be shown in Telegram, so this was denied.",
    },
  }]);
  assert.ok(logs.some((line) => /Denying Bash request .* at once/.test(line)));
  assert.equal(clock.pending, 0, "no timeout left armed");
  clock.advance(TIMEOUT_MS);
  assert.equal(sessions.answers.length, 1);
});

Deno.test("Approvals.press() answers at once even when the chat's edits are stuck", async () => {
  const { approvals, chat, sessions } = setUp();
  await approvals.request(TARGET, permissionRequest({ command: "ls" }));
  chat.isStuck = true;
  const toast = await approvals.press(chat.button("a"), "42", { name: "x" });
  assert.equal(toast, "Allowed");
  assert.equal(sessions.answers.length, 1);
});

Deno.test("Approvals.endTurn() closes the session's open requests", async () => {
  const { approvals, chat, sessions } = setUp();
  await approvals.request(TARGET, permissionRequest({ command: "ls" }));
  await approvals.endTurn("42", "default");
  assert.match(chat.edits[0].text, /No longer pending: the turn ended\.$/);
  assert.equal(
    await approvals.press(chat.button("a"), "42", { name: "x" }),
    "This request is no longer pending.",
  );
  assert.deepEqual(sessions.answers, []);
});

Deno.test("Approvals: a long command shows its start and end, fits, and comes whole as a document", async () => {
  const { approvals, chat } = setUp();
  const command = `echo START && ${"x".repeat(20_000)}\u202E && echo END`;
  await approvals.request(TARGET, permissionRequest({ command }));
  const [message] = chat.messages;
  assert.ok(
    message.text.length < TELEGRAM_MAX_CHARS - 200,
    "room for an outcome",
  );
  assert.match(
    message.text,
    /<pre>echo START &amp;&amp; x+\n⋯ \d+ characters not shown: the whole request is attached ⋯\nx+⟨U\+202E⟩ &amp;&amp; echo END<\/pre>/,
  );
  assert.deepEqual(chat.documents, [{
    fileName: "command.txt",
    content: command,
  }]);
});

Deno.test("describeRequest() makes bidi and zero-width characters visible", () => {
  const path = "invoice\u202Efdp.exe\u200B\u2066x\u2069\u{E0041}";
  const view = describeRequest(
    permissionRequest({ file_path: path, content: "a\nb" }, "Write"),
  );
  assert.match(
    view.html,
    /<code>invoice⟨U\+202E⟩fdp\.exe⟨U\+200B⟩⟨U\+2066⟩x⟨U\+2069⟩⟨U\+E0041⟩<\/code>/,
  );
  assert.match(view.html, /<i>−0 \+2 lines<\/i>/);
  assert.ok(!/[\u202E\u200B\u2066]/.test(view.html + view.plain));
  assert.equal(view.attachment, undefined, "short: nothing attached");
  const command = describeRequest(
    permissionRequest({ command: "a\n\tb\u0007" }),
  );
  assert.match(
    command.html,
    /<pre>a\n\tb⟨U\+0007⟩<\/pre>/,
    "lines kept, BEL shown",
  );
});

Deno.test("describeRequest() never cuts a surrogate pair and stays under 4096 for any path", () => {
  for (const offset of [0, 1, 2, 3]) {
    const path = "/" + "a".repeat(offset) + "😀".repeat(30_000);
    const view = describeRequest(
      permissionRequest(
        { file_path: path, old_string: "a", new_string: "b" },
        "Edit",
      ),
    );
    for (const text of [view.html, view.plain]) {
      assert.ok(text.length < TELEGRAM_MAX_CHARS, `${text.length} chars`);
      assert.ok(hasWholePairs(text), `offset ${offset}`);
    }
    assert.equal(view.attachment?.fileName, "input.json");
    assert.equal(JSON.parse(view.attachment!.content).file_path, path);
  }
});

Deno.test("describeRequest() shows the key input of each tool", () => {
  assert.match(
    describeRequest(permissionRequest({ command: "a<b" })).html,
    /<pre>a&lt;b<\/pre>/,
  );
  assert.match(
    describeRequest(
      permissionRequest(
        { file_path: "main.ts", old_string: "a\nb", new_string: "c" },
        "Edit",
      ),
    ).html,
    /<code>main\.ts<\/code>\n<i>−2 \+1 lines<\/i>/,
  );
  const mystery = describeRequest(permissionRequest({ x: 1 }, "Mystery"));
  assert.match(mystery.html, /"x": 1/);
  assert.match(mystery.plain, /^🔐 Claude wants to use Mystery\n/);
  assert.match(
    describeRequest(
      permissionRequest({ url: "https://e.x/?a=1&b" }, "WebFetch"),
    )
      .html,
    /<code>https:\/\/e\.x\/\?a=1&amp;b<\/code>/,
  );
});
