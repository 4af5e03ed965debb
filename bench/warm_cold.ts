// Benchmark 2: time to the first visible answer text with the long-lived
// Claude process (warm) against a process started for the message (cold),
// as bots that spawn the CLI per message do. Cold turns are the bot's own
// resume path: the session is suspended after 1 s idle, so each message
// starts `claude --resume`. The fake starts and answers as slowly as the
// real CLI (calibrate.ts); pacing is off so only the process strategy differs.
import type { FakeCall } from "../tests/fakes/fake_bot_api.ts";
import type { Calibration } from "./calibrate.ts";
import { epochMs } from "./epoch.ts";
import { InProcessBot, NO_PACING, OWNER_ID } from "./in_process_bot.ts";
import { round, summarize, type Summary } from "./stats.ts";

/** First-text latency of both strategies, in ms. */
export interface WarmColdResult {
  /** FAKE_CLAUDE_START_DELAY_MS used. */
  startDelayMs: number;
  /** The fake's own time to answer a warm turn (the real CLI's, calibrated). */
  claudeTurnMs: number;
  warmFirstTextMs: Summary;
  coldFirstTextMs: Summary;
  /** Cold turns: message → the "Resuming session…" notice. */
  coldNoticeMs: Summary;
  /** Cold p50 / warm p50. */
  ratio: number;
}

const TEXT_CALLS = new Set([
  "sendMessage",
  "editMessageText",
  "sendMessageDraft",
]);
/** Messages are padded to one length so every echo takes the same time. */
const ECHO_CHARS = "echo: warm 000".length;

/** Measures `samples` warm and cold turns of one session. */
export async function runWarmCold(
  options: { warmSamples: number; coldSamples: number },
  calibration: Calibration,
): Promise<WarmColdResult> {
  const claudeTurnMs = calibration.realWarmTurnMs;
  await using bot = await InProcessBot.start({
    pacing: NO_PACING,
    env: { IDLE_TIMEOUT_SECONDS: "1" },
    claudeEnv: {
      FAKE_CLAUDE_START_DELAY_MS: String(calibration.startDelayMs),
      FAKE_CLAUDE_CHARS_PER_SEC: String(
        Math.round(ECHO_CHARS * 1000 / claudeTurnMs),
      ),
    },
  });
  const chatKey = String(OWNER_ID);
  const turn = async (text: string) => {
    const firstCall = bot.api.calls.length;
    const sentAt = epochMs();
    bot.api.sendText(text);
    const calls = () => bot.api.calls.slice(firstCall);
    const answer = await bot.until(
      () => calls().find((c) => isText(c, `echo: ${text}`)),
      `the answer to "${text}"`,
    );
    await bot.until(() => bot.isIdle(chatKey), "the turn's end");
    const notice = calls().find((c) => TEXT_CALLS.has(c.method));
    return { answerMs: answer.at - sentAt, noticeMs: notice!.at - sentAt };
  };
  await turn("first 000");
  const warm: number[] = [];
  for (let i = 0; i < options.warmSamples; i++) {
    warm.push((await turn(`warm ${pad(i)}`)).answerMs);
  }
  const cold: number[] = [];
  const notice: number[] = [];
  for (let i = 0; i < options.coldSamples; i++) {
    await bot.until(
      () => bot.app.sessions.active(chatKey)?.state === "suspended",
      "the idle session to be suspended",
      { everyMs: 20 },
    );
    const timing = await turn(`cold ${pad(i)}`);
    cold.push(timing.answerMs);
    notice.push(timing.noticeMs);
  }
  const warmMs = summarize(warm);
  const coldMs = summarize(cold);
  return {
    startDelayMs: calibration.startDelayMs,
    claudeTurnMs,
    warmFirstTextMs: warmMs,
    coldFirstTextMs: coldMs,
    coldNoticeMs: summarize(notice),
    ratio: round(coldMs.p50 / warmMs.p50),
  };
}

function isText(call: FakeCall, text: string): boolean {
  return TEXT_CALLS.has(call.method) &&
    String(call.params.text ?? "").includes(text);
}

function pad(n: number): string {
  return String(n).padStart(3, "0");
}
