// Benchmarks 3 and 4: Bot API traffic while Claude streams long answers, with
// the fake enforcing Telegram-like flood limits (1 message/s per chat, 30/s in
// all, 429 with retry_after beyond). main.ts runs as in production, so the
// outbox pacing and the 429 retries are the real ones.
import { join } from "node:path";
import { TextLineStream } from "../line_stream.ts";
import { parseClaudeLine, userMessageLine } from "../stream_json.ts";
import { createFakeClaudeBin } from "../tests/fakes/claude_bin.ts";
import { FakeBotApi, type FakeCall } from "../tests/fakes/fake_bot_api.ts";
import { BotProcess } from "./bot_process.ts";
import { type ClaudeLog, readClaudeLog } from "./claude_log.ts";
import { epochMs } from "./epoch.ts";
import { BENCH_TOKEN, until } from "./in_process_bot.ts";
import {
  maxInWindow,
  minGap,
  percentile,
  round,
  summarize,
  type Summary,
} from "./stats.ts";

/** What to stream. */
export interface StreamingOptions {
  chats: number;
  /** Answer length (the fake's `!long N`). */
  answerChars: number;
  /** Streaming time of each answer. */
  streamSeconds: number;
  /** FAKE_CLAUDE_START_DELAY_MS (see calibrate.ts). */
  startDelayMs: number;
}

/** What the fake Bot API saw. */
export interface StreamingResult {
  chats: number;
  answerChars: number;
  /** Claude's time from the message to its result, median of the chats. */
  streamSeconds: number;
  /** Calls by method (polling excluded), all chats. */
  callsByMethod: Record<string, number>;
  /** Answers 429 Too Many Requests. */
  rateLimited: number;
  /** Most flood-limited calls (send, edit, delete, document) in any 1 s, one chat. */
  maxPerChatPerSecond: number;
  /** Smallest gap between two flood-limited calls of one chat, ms. */
  minPerChatGapMs: number;
  /** Most flood-limited calls in any 1 s, all chats. */
  maxGlobalPerSecond: number;
  /** The same with typing and draft calls counted too. */
  maxGlobalPerSecondAllCalls: number;
  /** Visible updates of each chat while its answer streamed (fairness). */
  updatesPerChat: { min: number; max: number };
  /** Message sent → first answer text visible, per chat. */
  firstTextMs: Summary;
  /** Claude's result → last call of the answer, per chat. */
  finalAfterResultMs: Summary;
  /** Every chat got the whole answer (as messages or as answer.md). */
  allTextDelivered: boolean;
  /** Flood-limited calls per second of streaming, averaged over chats. */
  perChatCallsPerSecond: number;
}

/** Calls Telegram's flood control counts (and the fake limits). */
const FLOOD_LIMITED = new Set([
  "sendMessage",
  "editMessageText",
  "sendDocument",
  "deleteMessage",
]);
const NOT_TRAFFIC = new Set([
  "getUpdates",
  "getMe",
  "deleteWebhook",
  "setMyCommands",
]);
const FIRST_USER_ID = 2001;
/** After the last result: this long without a call means the outbox is empty. */
const QUIET_MS = 2_500;
const TELEGRAM_LIMITS = {
  perChatIntervalMs: 1000,
  globalPerSecond: 30,
  retryAfterSeconds: 2,
};

/** Streams one long answer into each of `chats` chats at once. */
export async function runStreaming(
  options: StreamingOptions,
): Promise<StreamingResult> {
  const dir = await Deno.makeTempDir({ prefix: "ct-bench-stream-" });
  try {
    const claudeBin = await createFakeClaudeBin(dir);
    const expected = await expectedAnswer(claudeBin, dir, options.answerChars);
    await using api = await FakeBotApi.start({
      token: BENCH_TOKEN,
      rateLimit: TELEGRAM_LIMITS,
      now: epochMs,
    });
    const userIds = Array.from(
      { length: options.chats },
      (_, i) => FIRST_USER_ID + i,
    );
    const logPath = join(dir, "claude.log");
    await using bot = BotProcess.start({
      api,
      dataDir: join(dir, "data"),
      claudeBin,
      allowedUserIds: userIds,
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
    for (const userId of userIds) {
      api.sendText(`!long ${options.answerChars}`, { userId });
    }
    await until(
      async () =>
        (await readClaudeLog(logPath)).results.length >= userIds.length,
      "every answer's result",
      { timeoutMs: options.streamSeconds * 1000 + 60_000, everyMs: 200 },
    );
    await until(
      () => {
        const last = api.calls.findLast((c) => !NOT_TRAFFIC.has(c.method));
        return last !== undefined && epochMs() - last.at > QUIET_MS;
      },
      "the last reply call",
      { timeoutMs: 60_000, everyMs: 100 },
    );
    return analyse(api, userIds, await readClaudeLog(logPath), {
      ...options,
      sentAt,
      expected,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function analyse(
  api: FakeBotApi,
  userIds: number[],
  log: ClaudeLog,
  context: StreamingOptions & { sentAt: number; expected: string },
): StreamingResult {
  const traffic = api.calls.filter((c) => !NOT_TRAFFIC.has(c.method));
  const callsByMethod: Record<string, number> = {};
  for (const call of traffic) {
    callsByMethod[call.method] = (callsByMethod[call.method] ?? 0) + 1;
  }
  const flood = traffic.filter((c) => FLOOD_LIMITED.has(c.method));
  const perChat = userIds.map((chatId) => {
    const calls = flood.filter((c) => chatOf(c) === chatId);
    // A session's working directory is DATA_DIR/work/<chat>/<name>.
    const pid = log.starts.find((s) => s.cwd.includes(`/work/${chatId}/`))
      ?.pid;
    const input = log.inputs.find((i) => i.pid === pid);
    const result = log.results.find((r) => r.pid === pid);
    if (!input || !result || calls.length === 0) {
      throw new Error(`Cannot analyse chat ${chatId}: it got no answer`);
    }
    return { chatId, calls, times: calls.map((c) => c.at), input, result };
  });
  const firstText: number[] = [];
  const finalAfter: number[] = [];
  const updates: number[] = [];
  let perChatRate = 0;
  for (const { calls, input, result } of perChat) {
    const first = calls.find((c) => c.method === "sendMessage") ?? calls[0];
    firstText.push(first.at - context.sentAt);
    finalAfter.push(calls.at(-1)!.at - result.t);
    const streamed = calls.filter((c) => c.at <= result.t);
    updates.push(streamed.length);
    perChatRate += streamed.length / ((result.t - input.t) / 1000);
  }
  return {
    chats: userIds.length,
    answerChars: context.expected.length,
    streamSeconds: round(
      percentile(perChat.map((c) => c.result.t - c.input.t), 50) / 1000,
    ),
    callsByMethod,
    rateLimited: api.rateLimited,
    maxPerChatPerSecond: Math.max(...perChat.map((c) => maxInWindow(c.times))),
    minPerChatGapMs: round(Math.min(...perChat.map((c) => minGap(c.times)))),
    maxGlobalPerSecond: maxInWindow(flood.map((c) => c.at)),
    maxGlobalPerSecondAllCalls: maxInWindow(traffic.map((c) => c.at)),
    updatesPerChat: { min: Math.min(...updates), max: Math.max(...updates) },
    firstTextMs: summarize(firstText),
    finalAfterResultMs: summarize(finalAfter),
    allTextDelivered: perChat.every((c) =>
      isDelivered(api, c.chatId, context.expected)
    ),
    perChatCallsPerSecond: round(perChatRate / perChat.length),
  };
}

/** Multipart calls (sendDocument) carry chat_id as text. */
function chatOf(call: FakeCall): number {
  return Number(call.params.chat_id);
}

/**
 * The whole answer reached the chat: as answer.md, or as visible text that
 * holds every word of it (links show their label, not their address).
 */
function isDelivered(api: FakeBotApi, chatId: number, expected: string) {
  const messages = api.messages(chatId).filter((m) => !m.deleted);
  if (messages.some((m) => m.document?.content === expected)) return true;
  const visible = new Set(words(messages.map((m) => m.text).join("\n")));
  return words(expected.replaceAll(/\]\([^)]*\)/g, "]"))
    .every((word) => visible.has(word));
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
    args: [
      "-p",
      "--input-format",
      "stream-json",
      "--output-format",
      "stream-json",
      "--verbose",
    ],
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
