// Benchmarks 3, 4 and 7: Bot API traffic while Claude streams long answers,
// with the fake enforcing Telegram-like flood limits (1 message/s per chat,
// 20 a minute per group, 30/s in all, one draft per 250 ms per chat, 429 with
// retry_after beyond). main.ts runs as in production, so the outbox pacing
// and the 429 retries are the real ones.
import { join } from "node:path";
import { TextLineStream } from "../line_stream.ts";
import { parseClaudeLine, userMessageLine } from "../stream_json.ts";
import { STREAM_JSON_ARGS } from "../subprocess.ts";
import { createFakeClaudeBin } from "../tests/fakes/claude_bin.ts";
import { FakeBotApi, type FakeCall } from "../tests/fakes/fake_bot_api.ts";
import { pollUntil } from "../tests/fakes/wait.ts";
import { BotProcess } from "./bot_process.ts";
import { type ClaudeLog, readClaudeLog } from "./claude_log.ts";
import { epochMs } from "./epoch.ts";
import { BENCH_TOKEN } from "./in_process_bot.ts";
import { longestLagMs } from "./staleness.ts";
import {
  maxInWindow,
  minGap,
  percentile,
  round,
  summarize,
  type Summary,
} from "./stats.ts";

/**
 * Private chats stream through drafts, groups by editing a message; topics
 * are forum topics of one group, which share its limits.
 */
export type ChatKind = "private" | "group" | "topic";

/** What to stream, and where. */
export interface StreamingOptions {
  /** How many chats of each kind stream at once (topics: of one forum). */
  chats: Partial<Record<ChatKind, number>>;
  /** Answer length (the fake's `!long N`). */
  answerChars: number;
  /** Streaming time of each answer. */
  streamSeconds: number;
  /** FAKE_CLAUDE_START_DELAY_MS (see calibrate.ts). */
  startDelayMs: number;
}

/** What one kind of chat saw. */
export interface ChatKindStats {
  chats: number;
  /** Calls by method into chats of this kind, per chat (mean). */
  callsPerChat: Record<string, number>;
  /** Most flood-limited calls (send, edit, delete, document) in any 1 s of one chat. */
  maxPerSecond: number;
  /** The same with drafts counted too. */
  maxPerSecondWithDrafts: number;
  /** Most drafts in any 1 s of one chat. */
  maxDraftsPerSecond: number;
  /** Most flood-limited calls in any minute of one group (topics together). */
  maxPerMinute: number;
  /** The longest the screen lagged Claude's text, per chat (see staleness.ts). */
  stalenessMs: Summary;
  /** Smallest gap between two flood-limited calls of one chat, ms. */
  minGapMs: number;
  /** Visible updates (sends, edits, drafts) of one chat while it streamed. */
  updates: { min: number; max: number };
  /** Message sent → first answer text visible (draft or message). */
  firstTextMs: Summary;
  /** Claude's result → the answer's last call. */
  finalAfterResultMs: Summary;
  /** Every chat got the whole answer (as messages or as answer.md). */
  allTextDelivered: boolean;
}

/** What the fake Bot API saw. */
export interface StreamingResult {
  answerChars: number;
  /** Claude's time from the message to its result, median of the chats. */
  streamSeconds: number;
  /** Calls by method (polling and start-up excluded), all chats. */
  callsByMethod: Record<string, number>;
  /** Answers 429 Too Many Requests. */
  rateLimited: number;
  /** Most flood-limited calls in any 1 s, all chats. */
  maxGlobalPerSecond: number;
  /** The same with typing and drafts counted too. */
  maxGlobalPerSecondAllCalls: number;
  byKind: Partial<Record<ChatKind, ChatKindStats>>;
}

/** Calls Telegram's flood control counts (and the fake limits). */
const FLOOD_LIMITED = new Set([
  "sendMessage",
  "editMessageText",
  "sendDocument",
  "deleteMessage",
]);
const DRAFT = "sendMessageDraft";
const NOT_TRAFFIC = new Set([
  "getUpdates",
  "getMe",
  "deleteWebhook",
  "setMyCommands",
]);
const USER_ID = 2001;
const FIRST_GROUP_ID = -1002001;
const FORUM_ID = -1003001;
/** This long without a call after every answer arrived means the replies are out. */
const QUIET_MS = 3_500;
/**
 * Telegram documents no limit for sendMessageDraft; other bots stream a draft
 * every 300 ms. Assumed here: one draft per 250 ms per chat is accepted.
 */
export const DRAFT_LIMIT_MS = 250;
/** The flood limits the fake enforces. */
export const TELEGRAM_LIMITS = {
  perChatIntervalMs: 1000,
  globalPerSecond: 30,
  retryAfterSeconds: 2,
  draftIntervalMs: DRAFT_LIMIT_MS,
  groupPerMinute: 20,
};

interface BenchChat {
  kind: ChatKind;
  chatId: number;
  userId: number;
  /** Forum topics only. */
  threadId?: number;
  /** The chat key's folder under DATA_DIR/work. */
  dir: string;
}

/** Streams one long answer into each chat at once. */
export async function runStreaming(
  options: StreamingOptions,
): Promise<StreamingResult> {
  const chats: BenchChat[] = [
    ...Array.from({ length: options.chats.private ?? 0 }, (_, i) => ({
      kind: "private" as const,
      chatId: USER_ID + i,
      userId: USER_ID + i,
      dir: String(USER_ID + i),
    })),
    ...Array.from({ length: options.chats.group ?? 0 }, (_, i) => ({
      kind: "group" as const,
      chatId: FIRST_GROUP_ID - i,
      userId: USER_ID,
      dir: String(FIRST_GROUP_ID - i),
    })),
    ...Array.from({ length: options.chats.topic ?? 0 }, (_, i) => ({
      kind: "topic" as const,
      chatId: FORUM_ID,
      userId: USER_ID,
      threadId: i + 1,
      // chatKey "<chat>:<topic>", as store.ts names its folder.
      dir: `${FORUM_ID}_${i + 1}`,
    })),
  ];
  const dir = await Deno.makeTempDir({ prefix: "ct-bench-stream-" });
  try {
    const claudeBin = await createFakeClaudeBin(dir);
    const expected = await expectedAnswer(claudeBin, dir, options.answerChars);
    await using api = await FakeBotApi.start({
      token: BENCH_TOKEN,
      rateLimit: TELEGRAM_LIMITS,
      now: epochMs,
    });
    const logPath = join(dir, "claude.log");
    await using bot = BotProcess.start({
      api,
      dataDir: join(dir, "data"),
      claudeBin,
      allowedUserIds: [...new Set(chats.map((c) => c.userId))],
      env: {
        ALLOWED_CHAT_IDS: [
          ...new Set(
            chats.filter((c) => c.kind !== "private").map((c) => c.chatId),
          ),
        ].join(","),
      },
      claudeEnv: {
        FAKE_CLAUDE_LOG: logPath,
        FAKE_CLAUDE_LOG_TIMES: "1",
        FAKE_CLAUDE_STATE_DIR: join(dir, "claude-state"),
        FAKE_CLAUDE_START_DELAY_MS: String(options.startDelayMs),
        FAKE_CLAUDE_CHARS_PER_SEC: String(
          Math.round(expected.length / options.streamSeconds),
        ),
      },
    });
    await api.waitFor(() => api.calls.some((c) => c.method === "getUpdates"), {
      timeoutMs: 30_000,
      description: "the bot's first getUpdates",
    }).catch((error) => {
      throw new Error(`${error.message}\nBot log:\n${bot.stderr}`);
    });
    const sentAt = epochMs();
    for (const chat of chats) {
      api.sendText(`!long ${options.answerChars}`, {
        userId: chat.userId,
        chatId: chat.chatId,
        chatType: chat.kind === "private" ? "private" : "supergroup",
        ...(chat.threadId !== undefined && {
          isForum: true,
          threadId: chat.threadId,
          topicName: `topic ${chat.threadId}`,
        }),
      });
    }
    const results = await pollUntil(
      async () => {
        const { results } = await readClaudeLog(logPath);
        return results.length >= chats.length && results;
      },
      {
        description: "every answer's result",
        timeoutMs: options.streamSeconds * 1000 + 60_000,
        everyMs: 200,
      },
    );
    const lastResultAt = Math.max(...results.map((r) => r.t));
    // A group's answers may wait for its minute to have room.
    await pollUntil(
      () => chats.every((chat) => isDelivered(api, chat, expected)),
      { description: "every answer", timeoutMs: 150_000, everyMs: 200 },
    ).catch((error) => {
      throw new Error(`${error.message}\nBot log:\n${bot.stderr}`);
    });
    await pollUntil(
      () => {
        const last = api.calls.findLast((c) => !NOT_TRAFFIC.has(c.method));
        return epochMs() - Math.max(last?.at ?? 0, lastResultAt) > QUIET_MS;
      },
      { description: "the last reply call", timeoutMs: 60_000, everyMs: 100 },
    );
    return analyse(api, chats, await readClaudeLog(logPath), {
      sentAt,
      expected,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function analyse(
  api: FakeBotApi,
  chats: BenchChat[],
  log: ClaudeLog,
  context: { sentAt: number; expected: string },
): StreamingResult {
  const traffic = api.calls.filter((c) => !NOT_TRAFFIC.has(c.method));
  const callsByMethod: Record<string, number> = {};
  for (const call of traffic) {
    callsByMethod[call.method] = (callsByMethod[call.method] ?? 0) + 1;
  }
  const flood = traffic.filter((c) => FLOOD_LIMITED.has(c.method));
  const observed = chats.map((chat) => {
    const calls = traffic.filter((c) => isOf(api, chat, c));
    const visible = calls.filter((c) =>
      FLOOD_LIMITED.has(c.method) || c.method === DRAFT
    );
    // A session's working directory is DATA_DIR/work/<chat key>/<name>.
    const pid = log.starts.find((s) => s.cwd.includes(`/work/${chat.dir}/`))
      ?.pid;
    const input = log.inputs.find((i) => i.pid === pid);
    const result = log.results.find((r) => r.pid === pid);
    if (!input || !result || visible.length === 0) {
      throw new Error(`Cannot analyse chat ${chat.dir}: it got no answer`);
    }
    const sentIds = api.messages(chat.chatId)
      .filter((m) => m.message_thread_id === chat.threadId)
      .map((m) => m.message_id);
    const deltas = log.deltas.filter((d) => d.pid === pid);
    const stalenessMs = longestLagMs(context.expected, deltas, calls, sentIds);
    return { ...chat, visible, input, result, stalenessMs };
  });
  const byKind: Partial<Record<ChatKind, ChatKindStats>> = {};
  for (const kind of ["private", "group", "topic"] as const) {
    const ofKind = observed.filter((c) => c.kind === kind);
    if (ofKind.length === 0) continue;
    const floodTimes = ofKind.map((c) =>
      c.visible.filter((v) => FLOOD_LIMITED.has(v.method)).map((v) => v.at)
    );
    const draftTimes = ofKind.map((c) =>
      c.visible.filter((v) => v.method === DRAFT).map((v) => v.at)
    );
    // Topics of one forum share its limits: count them as one chat.
    const groupTimes = kind === "topic" ? [floodTimes.flat()] : floodTimes;
    const updates = ofKind.map((c) =>
      c.visible.filter((v) => v.at <= c.result.t).length
    );
    const callsPerChat: Record<string, number> = {};
    for (const chat of ofKind) {
      for (const call of traffic.filter((c) => isOf(api, chat, c))) {
        callsPerChat[call.method] = (callsPerChat[call.method] ?? 0) +
          1 / ofKind.length;
      }
    }
    for (const [method, n] of Object.entries(callsPerChat)) {
      callsPerChat[method] = round(n);
    }
    byKind[kind] = {
      chats: ofKind.length,
      callsPerChat,
      maxPerSecond: Math.max(...groupTimes.map((t) => maxInWindow(t))),
      maxPerSecondWithDrafts: Math.max(
        ...ofKind.map((c) => maxInWindow(c.visible.map((v) => v.at))),
      ),
      maxDraftsPerSecond: Math.max(...draftTimes.map((t) => maxInWindow(t))),
      maxPerMinute: Math.max(
        ...groupTimes.map((t) => maxInWindow(t, 60_000)),
      ),
      stalenessMs: summarize(ofKind.map((c) => c.stalenessMs)),
      minGapMs: round(Math.min(...groupTimes.map(minGap))),
      updates: { min: Math.min(...updates), max: Math.max(...updates) },
      firstTextMs: summarize(
        ofKind.map((c) => c.visible[0].at - context.sentAt),
      ),
      finalAfterResultMs: summarize(
        ofKind.map((c) => c.visible.at(-1)!.at - c.result.t),
      ),
      allTextDelivered: ofKind.every((c) =>
        isDelivered(api, c, context.expected)
      ),
    };
  }
  return {
    answerChars: context.expected.length,
    streamSeconds: round(
      percentile(observed.map((c) => c.result.t - c.input.t), 50) / 1000,
    ),
    callsByMethod,
    rateLimited: api.rateLimited,
    maxGlobalPerSecond: maxInWindow(flood.map((c) => c.at)),
    maxGlobalPerSecondAllCalls: maxInWindow(traffic.map((c) => c.at)),
    byKind,
  };
}

/** Multipart calls (sendDocument) carry chat_id as text. */
function chatOf(call: FakeCall): number {
  return Number(call.params.chat_id);
}

/**
 * Whether a call went to this chat (this topic: edits and deletes name only
 * the message, so its topic is the message's).
 */
function isOf(api: FakeBotApi, chat: BenchChat, call: FakeCall): boolean {
  if (chatOf(call) !== chat.chatId) return false;
  if (chat.threadId === undefined) return true;
  const messageId = call.params.message_id;
  const thread = messageId === undefined
    ? Number(call.params.message_thread_id)
    : api.messages(chat.chatId)
      .find((m) => m.message_id === Number(messageId))?.message_thread_id;
  return thread === chat.threadId;
}

/**
 * The whole answer reached the chat: as answer.md, or as visible text that
 * holds every word of it (links show their label, not their address; a code
 * block's language is not shown).
 */
function isDelivered(
  api: FakeBotApi,
  chat: BenchChat,
  expected: string,
): boolean {
  const messages = api.messages(chat.chatId).filter((m) =>
    !m.deleted && m.message_thread_id === chat.threadId
  );
  if (messages.some((m) => m.document?.content === expected)) return true;
  const visible = new Set(words(messages.map((m) => m.text).join("\n")));
  return words(
    expected.replaceAll(/\]\([^)]*\)/g, "]").replaceAll(/^```\w+$/gm, ""),
  ).every((word) => visible.has(word));
}

function words(text: string): string[] {
  return text.match(/[A-Za-z0-9]+/g) ?? [];
}

/** The answer the fake streams for `!long N`: its text blocks, joined as a reply joins them. */
async function expectedAnswer(
  claudeBin: string,
  dir: string,
  chars: number,
): Promise<string> {
  const child = new Deno.Command(claudeBin, {
    args: [...STREAM_JSON_ARGS],
    cwd: dir,
    env: { FAKE_CLAUDE_STATE_DIR: join(dir, "expected-state") },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(userMessageLine(`!long ${chars}`) + "\n"),
  );
  const blocks: string[] = [];
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream());
  for await (const line of lines) {
    for (const event of parseClaudeLine(line)) {
      if (event.type === "text") blocks.push(event.text);
      if (event.type === "result") await writer.close();
    }
  }
  await child.status;
  return blocks.join("\n\n");
}
