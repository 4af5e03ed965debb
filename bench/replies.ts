// Benchmark 8: short replies as a user sees them, with a model that takes
// 500 ms to its first token. main.ts runs as in production against the
// flood-limited fake (streaming.ts), in a private chat: the first message
// starts Claude (cold), the next ones find it running (warm).
import { join } from "node:path";
import { createFakeClaudeBin } from "../tests/fakes/claude_bin.ts";
import { FakeBotApi, type FakeCall } from "../tests/fakes/fake_bot_api.ts";
import { pollUntil } from "../tests/fakes/wait.ts";
import { BotProcess } from "./bot_process.ts";
import type { Calibration } from "./calibrate.ts";
import { readClaudeLog } from "./claude_log.ts";
import { epochMs } from "./epoch.ts";
import { BENCH_TOKEN } from "./in_process_bot.ts";
import { round, summarize, type Summary } from "./stats.ts";
import { TELEGRAM_LIMITS } from "./streaming.ts";

/** What the user saw of short replies, in ms. */
export interface RepliesResult {
  firstTokenMs: number;
  /** The first message: it starts Claude. */
  cold: {
    /** Message sent → final message. */
    finalMs: number;
    /** The CLI's own part: process start → its result. */
    claudeMs: number;
    /** The rest: the bot, Telegram and the pacing. */
    botMs: number;
  };
  /** Message sent → first text on screen (a draft). */
  firstVisibleMs: Summary;
  /** Claude's result (the text is complete) → the final message. */
  finalAfterResultMs: Summary;
  /** Message sent → final message. */
  finalMs: Summary;
  /** Answers 429 Too Many Requests. */
  rateLimited: number;
}

const USER_ID = 2101;
/** Messages are padded to one length so every echo takes the same time. */
const ECHO_CHARS = "echo: warm 000".length;
/** Between two messages, as a person types: the pacing does not carry over. */
const PAUSE_MS = 1_500;

/** One cold, then `warmSamples` warm short replies. */
export async function runReplies(
  options: { warmSamples: number; firstTokenMs: number },
  calibration: Calibration,
): Promise<RepliesResult> {
  const dir = await Deno.makeTempDir({ prefix: "ct-bench-replies-" });
  try {
    const claudeBin = await createFakeClaudeBin(dir);
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
      allowedUserIds: [USER_ID],
      claudeEnv: {
        FAKE_CLAUDE_LOG: logPath,
        FAKE_CLAUDE_LOG_TIMES: "1",
        FAKE_CLAUDE_STATE_DIR: join(dir, "claude-state"),
        FAKE_CLAUDE_START_DELAY_MS: String(calibration.startDelayMs),
        FAKE_CLAUDE_FIRST_TOKEN_MS: String(options.firstTokenMs),
        FAKE_CLAUDE_CHARS_PER_SEC: String(
          Math.round(ECHO_CHARS * 1000 / calibration.realWarmTurnMs),
        ),
      },
    });
    await api.waitFor(() => api.calls.some((c) => c.method === "getUpdates"), {
      timeoutMs: 30_000,
      description: "the bot's first getUpdates",
    });
    const turn = async (text: string) => {
      const firstCall = api.calls.length;
      const sentAt = epochMs();
      api.sendText(text, { userId: USER_ID, chatId: USER_ID });
      const calls = () => api.calls.slice(firstCall);
      const final = await pollUntil(
        () =>
          calls().find((c) =>
            c.method === "sendMessage" && hasText(c, `echo: ${text}`)
          ),
        { description: `the answer to "${text}"`, everyMs: 1 },
      ).catch((error) => {
        throw new Error(`${error.message}\nBot log:\n${bot.stderr}`);
      });
      const { log, input, result } = await pollUntil(async () => {
        const log = await readClaudeLog(logPath);
        const input = log.inputs.find((entry) => entry.text === text);
        const result = log.results.find((entry) =>
          entry.pid === input?.pid && entry.t >= input.t
        );
        return input && result && { log, input, result };
      }, { description: `the result of "${text}"`, everyMs: 20 });
      const start = log.starts.find((entry) => entry.pid === input.pid)!;
      const draft = calls().find((c) =>
        c.method === "sendMessageDraft" && hasText(c, "echo:")
      );
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      return {
        finalMs: final.at - sentAt,
        finalAfterResultMs: final.at - result.t,
        firstVisibleMs: (draft ?? final).at - sentAt,
        claudeMs: result.t - start.t,
      };
    };
    const cold = await turn("cold 000");
    const warm = [];
    for (let i = 0; i < options.warmSamples; i++) {
      warm.push(await turn(`warm ${String(i).padStart(3, "0")}`));
    }
    return {
      firstTokenMs: options.firstTokenMs,
      cold: {
        finalMs: round(cold.finalMs),
        claudeMs: round(cold.claudeMs),
        botMs: round(cold.finalMs - cold.claudeMs),
      },
      firstVisibleMs: summarize(warm.map((t) => t.firstVisibleMs)),
      finalAfterResultMs: summarize(warm.map((t) => t.finalAfterResultMs)),
      finalMs: summarize(warm.map((t) => t.finalMs)),
      rateLimited: api.rateLimited,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function hasText(call: FakeCall, text: string): boolean {
  return String(call.params.text ?? "").includes(text);
}
