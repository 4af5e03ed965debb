// The crash test of "Reliability and security: nothing lost…": SIGKILLs the
// real bot process 20 times at seeded random points of a scripted
// conversation, against one fake Bot API that outlives the bots and, like
// Telegram, redelivers every update not yet confirmed. Afterwards every
// message must have exactly one answer and the journal must be drained.
import assert from "node:assert/strict";
import { RETRY_PREFIX } from "../intake.ts";
import type { JournalEntry } from "../journal.ts";
import { OWNER_ID } from "./fakes/bot_harness.ts";
import {
  type BotProcess,
  Sandbox,
  WAIT_MS,
  waitUntil,
  within,
} from "./fakes/bot_process.ts";

const CRASHES = 20;
const MESSAGE_COUNT = 30;
/** Private chats of three users: the outbox paces each chat to 1.1 s a call, so answers spread over three lanes. */
const USER_IDS = [OWNER_ID, OWNER_ID + 1, OWNER_ID + 2];
/** The fake claude streams "echo: msg-12" in 200 ms, so crashes land mid-turn. */
const CLAUDE_CHARS_PER_SEC = 60;
/** How long a bot run lasts at most once it polls (the issue's random point). */
const MAX_RUN_MS = 600;
/** How long a crash aimed at a moment waits for it at most. */
const AIM_MS = 4_000;
/** No Bot API call but polling for this long: the outbox is empty (its pacing is 1.1 s). */
const QUIET_MS = 2_500;
/** Bounds the final run's wait for all turns and replies. */
const SETTLE_TIMEOUT_MS = 40_000;
/** An answer as the fake claude words it; group 1 is the message. */
const ANSWER_PATTERN = /^echo: (msg-\d+)$/;

/** Where in a bot run the SIGKILL lands. */
type CrashPoint =
  /** During start-up: the reaper ran, recovery and polling are under way. */
  | "startup"
  /** At a random moment of the run, a burst sent at another. */
  | "random"
  /** Right after a burst, while the bot journals and confirms it. */
  | "after_send"
  /** Shortly after a message reached Claude. */
  | "mid_turn"
  /** Right after an answer reached the chat, as the bot finishes the turn. */
  | "after_answer";

const CRASH_POINTS: readonly CrashPoint[] = [
  "startup",
  "random",
  "after_send",
  "mid_turn",
  "after_answer",
];

/** Messages one user sends in a row. */
interface Burst {
  userId: number;
  texts: string[];
}

/** What the crashes hit, for the summary. */
interface CrashStats {
  byPoint: Record<CrashPoint, number>;
  /** Crashes with a message newly given to Claude and its answer not yet delivered. */
  midTurn: number;
  /** Ids running at the last crash: start-up may die before marking them interrupted. */
  lastRunning: Set<number>;
  /** Crashes after the bot was polling (the others hit start-up). */
  afterPolling: number;
  /** Journaled update ids Telegram had not been told about at a crash: each came again and had to be skipped. */
  unconfirmedJournaled: Set<number>;
}

/** mulberry32: a tiny seeded generator, so a failing run replays from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A whole number from min to max, both included. */
function between(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** msg-1…msg-N in bursts of one to three from a random user. */
function conversation(random: () => number, count: number): Burst[] {
  const bursts: Burst[] = [];
  for (let next = 1; next <= count;) {
    const size = Math.min(between(random, 1, 3), count - next + 1);
    bursts.push({
      userId: USER_IDS[between(random, 0, USER_IDS.length - 1)],
      texts: Array.from({ length: size }, (_, i) => `msg-${next + i}`),
    });
    next += size;
  }
  return bursts;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits up to AIM_MS for `probe` to hold, to time a crash; a miss is fine
 * (with nothing left to send, no turn starts), the crash just lands later.
 */
async function aim(probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = performance.now() + AIM_MS;
  while (performance.now() < deadline && !await probe()) await sleep(10);
}

/** The bot's answers to each message, across all chats, with the chat each came in. */
function answersByText(sandbox: Sandbox): Map<string, number[]> {
  const answers = new Map<string, number[]>();
  for (const message of sandbox.api.messages()) {
    const text = ANSWER_PATTERN.exec(message.text)?.[1];
    if (message.deleted || text === undefined) continue;
    answers.set(text, [...answers.get(text) ?? [], message.chat_id]);
  }
  return answers;
}

function isPending(entry: JournalEntry): boolean {
  return entry.state === "queued" || entry.state === "running";
}

function describeJournal(entries: JournalEntry[]): string {
  return entries.map((e) =>
    `${e.id}:${
      e.input.kind === "text" ? e.input.text : e.input.kind
    }=${e.state}`
  ).join(" ");
}

/**
 * Waits until the journal holds no queued or running message and the bot
 * made no call but getUpdates for QUIET_MS: every turn ended and every reply
 * left the outbox.
 */
async function settle(sandbox: Sandbox, bot: BotProcess): Promise<void> {
  let seenCalls = -1;
  let quietSinceMs = performance.now();
  let journal: JournalEntry[] = [];
  await waitUntil(
    async () => {
      const calls =
        sandbox.api.calls.filter((c) => c.method !== "getUpdates").length;
      if (calls !== seenCalls) {
        seenCalls = calls;
        quietSinceMs = performance.now();
        return false;
      }
      if (performance.now() - quietSinceMs < QUIET_MS) return false;
      journal = await sandbox.journalEntries();
      return !journal.some(isPending);
    },
    () =>
      `the bot to settle; journal: ${describeJournal(journal)}; output:\n${
        bot.output.join("\n")
      }`,
    SETTLE_TIMEOUT_MS,
  );
}

/** SIGKILLs the bot alone (its Claude processes become orphans) and records what the crash hit. */
async function crash(
  sandbox: Sandbox,
  bot: BotProcess,
  stats: CrashStats,
): Promise<void> {
  // At once: even a timer's wait would let the bot finish what the crash
  // was aimed at.
  try {
    bot.signal("SIGKILL");
  } catch (error) {
    // It exited by itself: the status check below reports how.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const status = await bot.exitWithin(WAIT_MS);
  assert.equal(
    status.signal,
    "SIGKILL",
    `The bot exited by itself: ${JSON.stringify(status)}; output:\n${
      bot.output.join("\n")
    }`,
  );
  const journal = await sandbox.journalEntries();
  const running = journal.filter((e) => e.state === "running").map((e) => e.id);
  if (running.some((id) => !stats.lastRunning.has(id))) stats.midTurn++;
  stats.lastRunning = new Set(running);
  for (const entry of journal) {
    if (entry.id > sandbox.api.confirmedUpdateId) {
      stats.unconfirmedJournaled.add(entry.id);
    }
  }
}

Deno.test("main.ts loses and repeats no message when SIGKILLed at random points", async () => {
  const seed = Number(
    Deno.env.get("CRASH_TEST_SEED") ?? Math.floor(Math.random() * 2 ** 31),
  );
  console.log(`Crash test seed ${seed} (replay: CRASH_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  await using sandbox = await Sandbox.create({
    ALLOWED_USER_IDS: USER_IDS.join(","),
    FAKE_CLAUDE_CHARS_PER_SEC: String(CLAUDE_CHARS_PER_SEC),
  });
  const { api } = sandbox;
  const bursts = conversation(random, MESSAGE_COUNT);
  const textByUpdateId = new Map<number, string>();
  const senderByText = new Map<string, number>();
  /** Sends the next burst, if any is left. */
  const sendBurst = () => {
    const burst = bursts.shift();
    for (const text of burst?.texts ?? []) {
      textByUpdateId.set(api.sendText(text, { userId: burst!.userId }), text);
      senderByText.set(text, burst!.userId);
    }
  };
  const stats: CrashStats = {
    byPoint: {
      startup: 0,
      random: 0,
      after_send: 0,
      mid_turn: 0,
      after_answer: 0,
    },
    midTurn: 0,
    lastRunning: new Set(),
    afterPolling: 0,
    unconfirmedJournaled: new Set(),
  };

  for (let run = 0; run < CRASHES; run++) {
    const point = CRASH_POINTS[between(random, 0, CRASH_POINTS.length - 1)];
    const hasBurst = random() < 0.8;
    stats.byPoint[point]++;
    // A burst sent while the bot is down arrives in its first poll.
    if (point === "startup" && hasBurst) sendBurst();
    await using bot = sandbox.startBot();
    switch (point) {
      case "startup":
        await bot.waitForOutput(/Reaped \d+ orphaned/);
        // Without notices to send, polling starts some 10 ms later.
        await sleep(between(random, 0, 20));
        break;
      case "random": {
        await bot.ready();
        const killAtMs = between(random, 50, MAX_RUN_MS);
        const sendAtMs = between(random, 0, killAtMs);
        await sleep(sendAtMs);
        if (hasBurst) sendBurst();
        await sleep(killAtMs - sendAtMs);
        break;
      }
      case "after_send":
        await bot.ready();
        await sleep(between(random, 0, 200));
        if (hasBurst) sendBurst();
        await sleep(between(random, 0, 15));
        break;
      case "mid_turn":
        await bot.ready();
        if (hasBurst) sendBurst();
        await aim(async () =>
          (await sandbox.journalEntries()).some((e) => e.state === "running")
        );
        await sleep(between(random, 0, 200));
        break;
      case "after_answer": {
        await bot.ready();
        const before = api.messages().length;
        if (hasBurst) sendBurst();
        // waitFor re-checks on every Bot API call, so with no delay the
        // crash lands before the bot reads Telegram's reply to its
        // sendMessage; a millisecond or two later it lands as the bot ends
        // the turn (by 5 ms the turn is done).
        await api.waitFor(
          () =>
            api.messages().slice(before).some((m) =>
              ANSWER_PATTERN.test(m.text)
            ),
          { timeoutMs: AIM_MS, description: "an answer" },
        ).catch(() => {
          // A miss is fine, as in aim(): the crash just lands later.
        });
        if (random() < 0.5) await sleep(between(random, 1, 3));
        break;
      }
    }
    await crash(sandbox, bot, stats);
    // After the exit, when all of its output has been read.
    if (bot.output.some((line) => /is polling/.test(line))) {
      stats.afterPolling++;
    }
  }

  while (bursts.length > 0) sendBurst();
  await using bot = sandbox.startBot();
  await bot.ready();
  await settle(sandbox, bot);

  // As the user would: Retry only what is still unanswered, once each.
  const answeredBeforeRetry = answersByText(sandbox);
  const retried = new Set<number>();
  const offered = new Set<string>();
  let noticesForAnswered = 0;
  for (const message of api.messages()) {
    if (message.deleted) continue;
    for (const data of retryButtons(message.reply_markup)) {
      const id = Number(data.slice(RETRY_PREFIX.length));
      const text = textByUpdateId.get(id);
      assert.ok(text, `Retry button for unknown update ${id}`);
      offered.add(text);
      if (answeredBeforeRetry.has(text)) noticesForAnswered++;
      else if (!retried.has(id)) {
        api.pressButton(message.message_id, data, { userId: message.chat_id });
        retried.add(id);
      }
    }
  }
  const toasts = () =>
    api.calls.filter((c) => c.method === "answerCallbackQuery")
      .map((c) => c.params.text);
  // Settled only once the bot took every press (a quiet spell before is not).
  await waitUntil(
    () => toasts().length === retried.size,
    () => `${retried.size} presses to be answered; got ${toasts().length}`,
  );
  await settle(sandbox, bot);

  const answers = answersByText(sandbox);
  const problems: string[] = [];
  for (const [text, userId] of senderByText) {
    const chats = answers.get(text) ?? [];
    if (chats.length === 0) {
      problems.push(
        `${text} has no answer${offered.has(text) ? "" : " and no Retry"}`,
      );
    }
    if (chats.length > 1) problems.push(`${text} has ${chats.length} answers`);
    if (chats.some((chat) => chat !== userId)) {
      problems.push(`${text} was answered in chats ${chats.join(", ")}`);
    }
  }
  for (const text of answers.keys()) {
    if (!senderByText.has(text)) problems.push(`unexpected answer to ${text}`);
  }
  const journal = await sandbox.journalEntries();
  const journaled = new Set(journal.map((e) => e.id));
  for (const [id, text] of textByUpdateId) {
    if (!journaled.has(id)) {
      problems.push(`${text} (update ${id}) not journaled`);
    }
  }
  assert.equal(senderByText.size, MESSAGE_COUNT);
  assert.deepEqual(
    problems,
    [],
    `Seed ${seed}; journal: ${describeJournal(journal)}`,
  );
  assert.deepEqual(journal.filter(isPending), []);
  assert.equal(await within(bot.status, 0), undefined, "the bot is running");
  // Every press found its message still interrupted.
  assert.deepEqual(toasts(), [...retried].map(() => "Sending it again"));

  console.log(
    [
      `${CRASHES} crashes aimed at: ${
        CRASH_POINTS.map((p) => `${p} ${stats.byPoint[p]}`).join(", ")
      }; ${CRASHES - stats.afterPolling} hit start-up before polling`,
      `${stats.midTurn} crashes landed mid-turn (a message given to Claude, its answer not delivered)`,
      `${retried.size} of ${MESSAGE_COUNT} messages needed Retry; ` +
      `${noticesForAnswered} interruption notices came for messages already answered`,
      `${stats.unconfirmedJournaled.size} journaled updates were unconfirmed at a crash, so redelivered and skipped`,
    ].join("\n"),
  );
});

/** The Retry callback data offered by a message's inline keyboard. */
function retryButtons(markup: unknown): string[] {
  const rows = (markup as { inline_keyboard?: { callback_data?: string }[][] })
    ?.inline_keyboard ?? [];
  return rows.flat().flatMap((button) =>
    button.callback_data?.startsWith(RETRY_PREFIX) ? [button.callback_data] : []
  );
}
