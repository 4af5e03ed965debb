// End to end through the fake Bot API and the fake claude: what a user sees
// of a tool-using turn in each output mode, drafts and their fallback, and
// delivery under Telegram's flood limits.
import assert from "node:assert/strict";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { systemClock } from "../clock.ts";
import type { OutputMode } from "../turn.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import type { UserRef } from "./fakes/fake_bot_api.ts";
import type { ManualClock } from "./fakes/manual_clock.ts";
import { parseTelegramHtml } from "./fakes/telegram_html.ts";
import { advanceUntil } from "./fakes/wait.ts";

const GROUP_ID = -100;
const GROUP: UserRef = { chatId: GROUP_ID, chatType: "supergroup" };
const GROUP_ENV = { ALLOWED_CHAT_IDS: String(GROUP_ID) };
/** Telegram-like: about one call a second per chat. */
const PACING = { perChatIntervalMs: 1000, globalPerSecond: 25 };
const MODES: readonly OutputMode[] = ["quiet", "normal", "verbose"];

const LOG_OF_3_TOOLS = [
  "Let me look at the sources.",
  ...[1, 2, 3].flatMap((n) => [
    `⚙️ Bash ls -la src/${n}`,
    "total 12",
    "drwxr-xr-x 2 user user 4096 Nov 25 23:43 .",
    "drwxr-xr-x 9 user user 4096 Nov 25 23:43 ..",
    "… 1 more line",
  ]),
].join("\n");
const VERBOSE_ANSWER = "Looked at 3 directories.\n\n$0.0100 · 0 s · 4 turns";
const NORMAL_ANSWER = "Let me look at the sources.\n\nLooked at 3 directories.";

/** `!tools 3` as the chat shows it, call by call, in each mode. */
const TRANSCRIPTS: Record<"private" | "group", Record<OutputMode, string[]>> = {
  group: {
    quiet: ["send 1: Looked at 3 directories."],
    normal: [
      "send 1: Let me look at the sources.",
      `edit 1: ${NORMAL_ANSWER}`,
    ],
    verbose: [
      "send 1: Let me look at the sources.",
      `edit 1: ${LOG_OF_3_TOOLS}`,
      `send 2: ${VERBOSE_ANSWER}`,
    ],
  },
  private: {
    quiet: ["send 1: Looked at 3 directories."],
    normal: [
      "draft: Let me look at the sources.",
      `send 1: ${NORMAL_ANSWER}`,
    ],
    // The log message goes out with its first line at once (drafts have a
    // budget of their own, so it no longer waits out the draft's slot) and
    // gets the tool lines by an edit.
    verbose: [
      "draft: Let me look at the sources.",
      "send 1: Let me look at the sources.",
      `edit 1: ${LOG_OF_3_TOOLS}`,
      `send 2: ${VERBOSE_ANSWER}`,
    ],
  },
};

/**
 * Sends `text`, lets Claude finish, then moves the manual clock a second at a
 * time until the reply is delivered. Returns the calls that changed the chat,
 * one line each (`edit 1: …` edits this turn's first message).
 */
/**
 * Sets the mode; its reply goes through the paced outbox like any answer, so
 * the manual clock moves until it is out.
 */
async function setMode(
  bot: BotHarness,
  mode: OutputMode,
  from: UserRef,
): Promise<void> {
  const chatId = from.chatId ?? OWNER_ID;
  const before = bot.api.messages(chatId).length;
  bot.api.sendText(`/mode ${mode}`, from);
  await advanceUntil(
    bot.clock as ManualClock,
    () =>
      bot.api.messages(chatId).slice(before).some((m) =>
        /Output mode of/.test(m.text)
      ),
    { description: `the reply to /mode ${mode}`, stepMs: 1000 },
  );
  // Shown is not settled: the call may still be running, and the turn's
  // first message would queue behind it.
  await bot.app.outbox.idle();
}

async function turn(
  bot: BotHarness,
  text: string,
  from: UserRef = {},
): Promise<string[]> {
  const clock = bot.clock as ManualClock;
  const chatId = from.chatId ?? OWNER_ID;
  // A second after the last turn's calls, so pacing does not carry over.
  clock.advance(1000);
  const firstCall = bot.api.calls.length;
  const lastMessageId = bot.api.messages(chatId).at(-1)?.message_id ?? 0;
  const updateId = bot.api.sendText(text, from);
  await bot.until(
    () => isTurnDone(bot, updateId, chatId),
    "Claude to finish the turn",
  );
  for (
    let i = 0;
    bot.app.activeReplies > 0 || bot.app.outbox.pending > 0;
    i++
  ) {
    assert.ok(i < 200, "the reply is delivered within 200 paced seconds");
    clock.advance(1000);
    await delay(5);
  }
  const ordinals = new Map(
    bot.api.messages(chatId)
      .filter((message) => message.message_id > lastMessageId)
      .map((message, index) => [message.message_id, index + 1]),
  );
  let sent = 0;
  return bot.api.calls.slice(firstCall).flatMap(({ method, params }) => {
    const visible = () =>
      params.parse_mode === "HTML"
        ? parseTelegramHtml(String(params.text))
        : String(params.text);
    const target = () => ordinals.get(Number(params.message_id));
    switch (method) {
      case "sendMessage":
        return [`send ${++sent}: ${visible()}`];
      case "sendDocument":
        return [`document ${++sent}: ${params.caption}`];
      case "editMessageText":
        return [`edit ${target()}: ${visible()}`];
      case "deleteMessage":
        return [`delete ${target()}`];
      case "sendMessageDraft":
        return [`draft: ${visible()}`];
      default:
        return [];
    }
  });
}

/**
 * Whether Claude has finished the turn of an update: its journal entry was
 * handed to Claude (running, or already done) and no turn runs or waits in
 * the chat. Delivery may still be pending: it needs the paced clock to move.
 */
async function isTurnDone(
  bot: BotHarness,
  updateId: number,
  chatId: number,
): Promise<boolean> {
  const path = join(bot.dataDir, "journal", `${chatId}`, `${updateId}.json`);
  let state: string;
  try {
    state = JSON.parse(await Deno.readTextFile(path)).state;
  } catch (error) {
    // Not written yet, or caught halfway through its atomic replacement.
    if (error instanceof Deno.errors.NotFound) return false;
    if (error instanceof SyntaxError) return false;
    throw error;
  }
  return (state === "running" || state === "done") &&
    bot.app.sessions.list(String(chatId)).every((view) =>
      view.state !== "busy" && view.queued === 0
    );
}

/** The text each message shows at the end of a transcript ("send 2" and "edit 2" are message 2); drafts vanish. */
function shownAtEnd(transcript: string[]): Map<string, string> {
  const shown = new Map<string, string>();
  for (const line of transcript) {
    const match = /^(?:send|edit|document) (\d+): ([\s\S]*)$/.exec(line);
    if (match) shown.set(match[1], match[2]);
  }
  return shown;
}

/** The footer's duration depends on the machine. */
function withoutDuration(lines: string[]): string[] {
  return lines.map((line) => line.replace(/· \d+ s ·/, "· 0 s ·"));
}

Deno.test("each output mode shows a tool-using turn as designed", async (t) => {
  await using bot = await BotHarness.start({ pacing: PACING, env: GROUP_ENV });
  for (const where of ["group", "private"] as const) {
    const from = where === "group" ? GROUP : {};
    for (const mode of MODES) {
      await t.step(`${mode}, ${where} chat`, async () => {
        await setMode(bot, mode, from);
        const transcript = await turn(bot, "!tools 3", from);
        // What each message finally shows is exact. Which previews went out
        // on the way is a race between the fake's instant events and the
        // first send's network round trip; none may repeat the one before.
        const expected = TRANSCRIPTS[where][mode];
        assert.deepEqual(
          shownAtEnd(withoutDuration(transcript)),
          shownAtEnd(expected),
        );
        assert.ok(
          transcript.every((line, i) => line !== transcript[i - 1]),
          transcript.join("\n---\n"),
        );
      });
    }
  }
});

Deno.test("normal mode shows the running tool until the answer streams in", async (t) => {
  await using bot = await BotHarness.start({
    env: GROUP_ENV,
    // The answer takes half a second to start: the status has time to show.
    claudeEnv: { FAKE_CLAUDE_CHARS_PER_SEC: "50" },
  });
  for (const [where, from] of [["group", GROUP], ["private", {}]] as const) {
    await t.step(where, async () => {
      const chatId = from.chatId ?? OWNER_ID;
      const firstCall = bot.api.calls.length;
      await bot.ask("!tools 3", /Looked at 3 directories/, from);
      await bot.idle(String(chatId));
      const previews = bot.api.calls.slice(firstCall)
        .filter((call) =>
          /^(editMessageText|sendMessageDraft)$/.test(call.method)
        )
        .map((call) => parseTelegramHtml(String(call.params.text)));
      assert.ok(
        previews.some((text) =>
          text.endsWith("⚙️ Running Bash: ls -la src/3… (tool 3)")
        ),
        previews.join("\n---\n"),
      );
      assert.equal(bot.api.messages(chatId).at(-1)!.text, NORMAL_ANSWER);
    });
  }
});

Deno.test({
  name:
    "drafts fall back to edits for the rest of the run when the server lacks them",
  fn: async () => {
    await using bot = await BotHarness.start({ pacing: PACING });
    bot.api.injectError("sendMessageDraft", {
      error_code: 404,
      description: "Not Found: method not found",
    });
    // A turn that streams for two seconds: its first draft (sent at the
    // first delta) has its 404 read while the turn runs, with room for a
    // loaded machine; an instant answer would cancel the draft before that.
    await turn(bot, "!slow 2000");
    assert.equal(bot.api.messages().at(-1)!.text, "slow reply");
    const again = await turn(bot, "!tools 3");
    assert.ok(!again.some((line) => line.startsWith("draft")), "edits only");
    assert.deepEqual(shownAtEnd(again), shownAtEnd(TRANSCRIPTS.group.normal));
    assert.equal(
      bot.api.calls.filter((c) => c.method === "sendMessageDraft").length,
      1,
      "asked once per run",
    );
  },
});

Deno.test("a 30-tool turn with a 15,000-character answer reads well in each mode", async (t) => {
  await using bot = await BotHarness.start({ pacing: PACING });
  for (const mode of MODES) {
    await t.step(mode, async () => {
      await setMode(bot, mode, {});
      const firstMessage = bot.api.messages().length;
      const transcript = await turn(bot, "!tools 30 !long 15000");
      const messages = bot.api.messages().slice(firstMessage)
        .filter((message) => !message.deleted);
      const [document] = messages.filter((message) => message.document);
      const answer = messages.filter((message) => !message.document).at(-1)!;
      assert.ok(document.document!.content.length >= 15_000);
      assert.ok(document.document!.content.includes("## Step 1: check"));
      assert.match(
        answer.text,
        /is attached as answer\.md\.(\n\n\$0\.0100 · \d+ s · 31 turns)?$/,
      );
      const log = messages.filter((message) => message.text.includes("⚙️"));
      const edits = transcript.filter((line) => line.startsWith("edit"));
      const drafts = transcript.filter((line) => line.startsWith("draft"));
      // A long answer streams: its full parts went out while Claude wrote,
      // the rest came at the end, each section once.
      const parts = messages.filter((message) =>
        !message.document && !message.text.includes("⚙️")
      );
      const steps = parts.flatMap((message) =>
        [...message.text.matchAll(/^Step (\d+): check/gm)].map(([, n]) =>
          Number(n)
        )
      );
      assert.deepEqual(steps, steps.map((_, i) => i + 1), "in order, once");
      assert.ok(
        parts.slice(0, -1).every((message) => message.text.length >= 2_000),
        "no part is small but the last",
      );
      assert.ok(drafts.length <= parts.length + 1, transcript.join("\n"));
      switch (mode) {
        case "quiet":
          assert.deepEqual(transcript.length, 2, "the answer and its file");
          break;
        case "normal":
          assert.deepEqual(log, [], "the status line is gone");
          // A message per part, and the file.
          assert.ok(
            transcript.length - drafts.length <= parts.length + 1,
            transcript.join("\n"),
          );
          break;
        case "verbose":
          for (let n = 1; n <= 30; n++) {
            const holding = log.filter((message) =>
              message.text.includes(`⚙️ Bash ls -la src/${n}\ntotal 12\n`)
            );
            assert.equal(holding.length, 1, `tool ${n} with its result, once`);
          }
          // A message per log page and part, the file, and the first log
          // message's edit: it went out before its tool lines (drafts no
          // longer hold it back).
          assert.ok(
            transcript.length - drafts.length <=
              log.length + parts.length + 2,
            transcript.join("\n"),
          );
          assert.deepEqual(
            edits.filter((line) => line.includes("Step 1")),
            [],
            "drafts stream the answer, not edits",
          );
          break;
      }
    });
  }
});

Deno.test("under Telegram's flood limits no text is lost and 429s are retried", async () => {
  await using bot = await BotHarness.start({
    clock: systemClock,
    pacing: PACING,
    env: GROUP_ENV,
    rateLimit: {
      perChatIntervalMs: 1000,
      globalPerSecond: 30,
      retryAfterSeconds: 1,
    },
  });
  await bot.ask("/mode verbose", /Output mode of/, GROUP);
  bot.api.injectError("editMessageText", {
    error_code: 429,
    description: "Too Many Requests: retry after 1",
    retry_after: 1,
  });
  const firstMessage = bot.api.messages(GROUP_ID).length;
  bot.api.sendText("!tools 10 !long 5000", GROUP);
  await bot.waitForMessage(/⚙️ Bash/, { from: GROUP, after: firstMessage });
  await bot.idle(String(GROUP_ID), 30_000);
  const text = bot.api.messages(GROUP_ID).slice(firstMessage)
    .filter((message) => !message.deleted)
    .map((message) => message.text).join("\n");
  for (let n = 1; n <= 10; n++) {
    assert.equal(
      text.split(`⚙️ Bash ls -la src/${n}\n`).length,
      2,
      `tool ${n}`,
    );
  }
  const steps = [...text.matchAll(/^Step (\d+): check the <config> & state$/gm)]
    .map(([, n]) => Number(n));
  assert.ok(steps.length >= 5, `${steps.length} sections`);
  assert.deepEqual(
    steps,
    steps.map((_, i) => i + 1),
    "every section, in order",
  );
  assert.ok(
    text.includes(`return a < b && b > 0; // <${steps.length}> & more`),
  );
  assert.match(text, /\$0\.0100 · \d+ s · 11 turns$/);
  assert.ok(bot.api.rateLimited >= 1);
  assert.ok(
    bot.logs.some((line) =>
      line.startsWith("Retrying editMessageText in 1 s: 429")
    ),
  );
  assert.deepEqual(bot.logs.filter((line) => /failed/i.test(line)), []);
});
