// Benchmark 1: what the bot adds to one turn on a warm session. Inbound: the
// fake Bot API answers the poll with the update → the user line reaches
// Claude's stdin. Outbound: Claude emits `result` → the final sendMessage or
// editMessageText reaches the fake Bot API. Outbox pacing is off so Telegram's
// 1 message/s per chat (benchmark 3) does not hide the bot's own work.
import { epochMs } from "./epoch.ts";
import { InProcessBot, NO_PACING } from "./in_process_bot.ts";
import { summarize, type Summary } from "./stats.ts";

/** Overhead of warm turns, in ms. */
export interface OverheadResult {
  turns: number;
  /** Update served → user line on Claude's stdin. */
  inboundMs: Summary;
  /** Claude's result → final message call at the API. */
  outboundMs: Summary;
  /** Both together: the whole turn minus Claude's own time. */
  totalMs: Summary;
  /** Bot API calls per turn besides polling (typing, previews, the answer). */
  callsPerTurn: number;
}

const MESSAGE_CALLS = new Set(["sendMessage", "editMessageText"]);

/** Runs `warmup` unmeasured turns, then `turns` measured ones, one after another. */
export async function runOverhead(
  options: { turns: number; warmup: number },
): Promise<OverheadResult> {
  await using bot = await InProcessBot.start({ pacing: NO_PACING });
  const total = options.warmup + options.turns;
  const sent: { text: string; t0: number; firstCall: number }[] = [];
  for (let i = 0; i < total; i++) {
    const text = `turn ${i}`;
    const firstCall = bot.api.calls.length;
    // Queueing the update answers the bot's held getUpdates at once.
    const t0 = epochMs();
    bot.api.sendText(text);
    sent.push({ text, t0, firstCall });
    await bot.until(
      () =>
        bot.api.calls.length > firstCall + 1 && bot.isIdle() &&
        bot.api.calls.slice(firstCall).some((c) => MESSAGE_CALLS.has(c.method)),
      `the reply to "${text}"`,
      { everyMs: 1 },
    );
  }
  const log = await bot.claudeLog();
  const inbound: number[] = [];
  const outbound: number[] = [];
  const totals: number[] = [];
  let calls = 0;
  for (let i = options.warmup; i < total; i++) {
    const { text, t0, firstCall } = sent[i];
    const input = log.inputs.find((entry) => entry.text === text);
    const result = input && log.results.find((r) => r.t >= input.t);
    const turnCalls = bot.api.calls.slice(firstCall, sent[i + 1]?.firstCall)
      .filter((call) => call.method !== "getUpdates");
    const final = turnCalls.findLast((call) => MESSAGE_CALLS.has(call.method));
    if (!input || !result || !final) {
      throw new Error(`Cannot time "${text}": a log line or call is missing`);
    }
    inbound.push(input.t - t0);
    outbound.push(final.at - result.t);
    totals.push(final.at - t0 - (result.t - input.t));
    calls += turnCalls.length;
  }
  return {
    turns: options.turns,
    inboundMs: summarize(inbound),
    outboundMs: summarize(outbound),
    totalMs: summarize(totals),
    callsPerTurn: calls / options.turns,
  };
}
