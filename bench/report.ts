// Turns benchmark results into the table `deno task bench` prints (Markdown,
// so BENCHMARKS.md can hold it verbatim), each result against its target.
import type { Calibration } from "./calibrate.ts";
import type { MemoryResult } from "./memory.ts";
import type { OverheadResult } from "./overhead.ts";
import type { RepliesResult } from "./replies.ts";
import { round, type Summary } from "./stats.ts";
import { DRAFT_LIMIT_MS, type StreamingResult } from "./streaming.ts";
import type { SuspendResumeResult } from "./suspend_resume.ts";
import type { WarmColdResult } from "./warm_cold.ts";

/** Everything one run measured; a benchmark left out is undefined. */
export interface BenchResults {
  calibration: Calibration;
  overhead?: OverheadResult;
  warmCold?: WarmColdResult;
  streaming?: StreamingResult;
  manyChats?: StreamingResult;
  memory?: MemoryResult;
  suspendResume?: SuspendResumeResult;
  forum?: StreamingResult;
  replies?: RepliesResult;
}

/** One line of the table; `isMet` is undefined where there is no target. */
export interface Row {
  benchmark: string;
  metric: string;
  result: string;
  target: string;
  isMet?: boolean;
}

/** The rows of every benchmark that ran. */
export function tableRows(results: BenchResults): Row[] {
  const rows: Row[] = [];
  const add = (
    benchmark: string,
    metric: string,
    result: string,
    target = "",
    isMet?: boolean,
  ) => rows.push({ benchmark, metric, result, target, isMet });
  const { calibration: cal } = results;
  add(
    "0 Calibration",
    `Real CLI (${cal.source}): spawn → first result · warm turn`,
    `${ms(cal.realFirstResultMs)} · ${ms(cal.realWarmTurnMs)}`,
  );
  add(
    "0 Calibration",
    "Fake claude: own start-up · start delay set",
    `${ms(cal.fakeFirstResultMs)} · ${ms(cal.startDelayMs)}`,
  );
  const o = results.overhead;
  if (o) {
    const title = `1 Overhead (${o.turns} warm turns)`;
    add(
      title,
      "Update served → line on Claude's stdin",
      pct(o.inboundMs),
      "p50 < 5, p99 < 20 ms",
      o.inboundMs.p50 < 5 && o.inboundMs.p99 < 20,
    );
    add(
      title,
      "Claude's result → final message call",
      pct(o.outboundMs),
      "p50 < 5, p99 < 20 ms",
      o.outboundMs.p50 < 5 && o.outboundMs.p99 < 20,
    );
    add(title, "Both: whole turn minus Claude's time", pct(o.totalMs));
    add(title, "Bot API calls per turn", String(o.callsPerTurn));
  }
  const w = results.warmCold;
  if (w) {
    const title = "2 Warm vs cold";
    add(
      title,
      "Warm: message → first answer text",
      pct(w.warmFirstTextMs),
    );
    add(
      title,
      "Cold (CLI started per message): same",
      pct(w.coldFirstTextMs),
    );
    add(title, "Cold ÷ warm (p50)", `${w.ratio}×`);
    add(title, 'Cold: message → "Resuming…" notice', pct(w.coldNoticeMs));
  }
  const s = results.streaming;
  if (s) {
    const title = `3 Streaming (${s.answerChars} chars, ${s.streamSeconds} s)`;
    add(
      title,
      `429 answers (drafts limited to 1 per ${DRAFT_LIMIT_MS} ms, groups to 20/min)`,
      String(s.rateLimited),
      "0",
      s.rateLimited === 0,
    );
    const group = s.byKind.group;
    const priv = s.byKind.private;
    if (group) {
      add(title, "Group chat: calls", methods(group.callsPerChat));
      add(
        title,
        "Group chat: most message calls in any 1 s (min gap)",
        `${group.maxPerSecond} (${ms(group.minGapMs)})`,
        "≤ 1",
        group.maxPerSecond <= 1,
      );
      add(
        title,
        "Group chat: most message calls in any minute",
        String(group.maxPerMinute),
        "≤ 20",
        group.maxPerMinute <= 20,
      );
      add(
        title,
        "Group chat: updates while streaming · result → last call",
        `${group.updates.max} · ${ms(group.finalAfterResultMs.max)}`,
      );
      add(
        title,
        "Group chat: longest the screen lagged Claude's text",
        ms(group.stalenessMs.max),
      );
    }
    if (priv) {
      add(title, "Private chat: calls", methods(priv.callsPerChat));
      add(
        title,
        "Private chat: most message calls in any 1 s",
        String(priv.maxPerSecond),
        "≤ 1",
        priv.maxPerSecond <= 1,
      );
      const draftLimit = Math.floor(1000 / DRAFT_LIMIT_MS);
      add(
        title,
        "Private chat: most drafts in any 1 s",
        String(priv.maxDraftsPerSecond),
        `≤ ${draftLimit}`,
        priv.maxDraftsPerSecond <= draftLimit,
      );
      add(
        title,
        "Private chat: updates while streaming · result → last call",
        `${priv.updates.max} · ${ms(priv.finalAfterResultMs.max)}`,
      );
      add(
        title,
        "Private chat: longest the screen lagged Claude's text",
        ms(priv.stalenessMs.max),
        "≤ 1500 ms",
        priv.stalenessMs.max <= 1500,
      );
    }
    const delivered = Object.values(s.byKind).every((k) => k.allTextDelivered);
    add(title, "All text delivered", yesNo(delivered), "yes", delivered);
  }
  const m = results.manyChats;
  const many = m?.byKind.group;
  if (m && many) {
    const title = `4 Many chats (${many.chats} groups at once)`;
    add(
      title,
      "Most message calls in any 1 s, all chats",
      String(m.maxGlobalPerSecond),
      "< 30",
      m.maxGlobalPerSecond < 30,
    );
    add(
      title,
      "Most calls of any kind in any 1 s (typing included)",
      String(m.maxGlobalPerSecondAllCalls),
      "< 30",
      m.maxGlobalPerSecondAllCalls < 30,
    );
    add(title, "429 answers", String(m.rateLimited), "0", m.rateLimited === 0);
    const isFair = many.updates.min >= 0.75 * many.updates.max;
    add(
      title,
      "Visible updates per chat while streaming (min–max)",
      `${many.updates.min}–${many.updates.max}`,
      "min ≥ 75% of max",
      isFair,
    );
    add(
      title,
      "Message → first text, per chat",
      pct(many.firstTextMs),
    );
    add(title, "Calls per chat", methods(many.callsPerChat));
    add(
      title,
      "All text delivered",
      yesNo(many.allTextDelivered),
      "yes",
      many.allTextDelivered,
    );
  }
  const mem = results.memory;
  if (mem) {
    const title = `5 Memory and start-up (median of ${mem.runs})`;
    for (const [count, mb] of Object.entries(mem.rssMbBySessions)) {
      const isTarget = count === "100";
      add(
        title,
        `Bot RSS, ${count} suspended sessions on disk`,
        `${mb} MB`,
        isTarget ? "< 80 MB" : "",
        isTarget ? mb < 80 : undefined,
      );
    }
    add(title, "Bot RSS, 1 live session", `${mem.rssMbLive1} MB`);
    add(title, "Bot RSS, 20 live sessions", `${mem.rssMbLive20} MB`);
    const { wrapperMb, wrapperAnonMb, botMb } = mem.task;
    add(
      title,
      "deno task start: the task process (its own part) · the bot (idle)",
      `${wrapperMb} MB (${wrapperAnonMb} MB) · ${botMb} MB`,
    );
    add(
      title,
      "start.sh: processes left · their RSS (idle)",
      `${mem.script.processes} · ${mem.script.rssMb} MB`,
    );
    // Under start.sh the bot is the only process: the same main.ts with the
    // same flags as the "Bot RSS" rows above.
    // (Only if start.sh really left one process.)
    for (
      const [launcher, extraMb] of [
        ["deno task start (task + bot)", wrapperMb],
        ["start.sh (the bot alone)", mem.script.processes === 1 ? 0 : NaN],
      ] as const
    ) {
      const live1 = round(extraMb + mem.rssMbLive1);
      add(
        title,
        `Everything the bot runs, 1 live session, ${launcher}`,
        `${live1} MB`,
        "≤ 60 MB",
        live1 <= 60,
      );
      const sessions100 = round(extraMb + mem.rssMbBySessions["100"]);
      add(
        title,
        `Everything the bot runs, 100 suspended sessions, ${launcher}`,
        `${sessions100} MB`,
        "≤ 80 MB",
        sessions100 <= 80,
      );
    }
    const stages = mem.breakdown.map((stage) => `${stage.stage} ${stage.rssMb}`)
      .join(" · ");
    add(title, "A Deno process's RSS as the bot's code loads (MB)", stages);
    const heap = mem.breakdown.at(-1)!;
    add(
      title,
      "Its V8 heap then: used · total",
      `${heap.heapUsedMb} MB · ${heap.heapTotalMb} MB`,
    );
    for (const [count, startup] of Object.entries(mem.startupMsBySessions)) {
      const isTarget = count === "1000";
      add(
        title,
        `Start → first getUpdates, ${count} sessions`,
        ms(startup),
        isTarget ? "< 1 s" : "",
        isTarget ? startup < 1000 : undefined,
      );
    }
  }
  const sr = results.suspendResume;
  if (sr) {
    const title = "6 Suspend/resume (bot side)";
    for (
      const [label, times] of [
        ["sessions + store", sr.sessions],
        ["plus subprocess.ts ps runs", sr.withProcessChecks],
      ] as const
    ) {
      add(
        title,
        `Suspend, ${label}`,
        pct(times.suspendMs),
        "< 50 ms",
        times.suspendMs.p99 < 50,
      );
      add(
        title,
        `Resume, ${label}`,
        pct(times.resumeMs),
        "< 50 ms",
        times.resumeMs.p99 < 50,
      );
    }
  }
  const f = results.forum;
  const topics = f?.byKind.topic;
  if (f && topics) {
    const title =
      `7 Forum (${topics.chats} topics of one group, ${f.answerChars} chars each, ${f.streamSeconds} s)`;
    add(title, "429 answers", String(f.rateLimited), "0", f.rateLimited === 0);
    add(
      title,
      "Most message calls in any minute, topics together",
      String(topics.maxPerMinute),
      "≤ 20",
      topics.maxPerMinute <= 20,
    );
    add(title, "Calls per topic", methods(topics.callsPerChat));
    add(
      title,
      "Result → last call, per topic",
      pct(topics.finalAfterResultMs),
    );
    add(
      title,
      "Longest the screen lagged Claude's text, per topic",
      pct(topics.stalenessMs),
    );
    add(
      title,
      "All text delivered",
      yesNo(topics.allTextDelivered),
      "yes",
      topics.allTextDelivered,
    );
  }
  const r = results.replies;
  if (r) {
    const title =
      `8 Short replies (private chat, ${r.firstTokenMs} ms to first token)`;
    add(
      title,
      "Claude's result → final message (after the last preview)",
      pct(r.finalAfterResultMs),
      "p50 ≤ 150 ms",
      r.finalAfterResultMs.p50 <= 150,
    );
    add(title, "Message → first text on screen", pct(r.firstVisibleMs));
    add(title, "Message → final message", pct(r.finalMs));
    add(
      title,
      "Cold first message → final message · the CLI's own part",
      `${ms(r.cold.finalMs)} · ${ms(r.cold.claudeMs)}`,
    );
    add(
      title,
      "Cold first message: the rest (bot, Telegram, pacing)",
      ms(r.cold.botMs),
      "≤ 300 ms",
      r.cold.botMs <= 300,
    );
    add(title, "429 answers", String(r.rateLimited), "0", r.rateLimited === 0);
  }
  return rows;
}

/** The rows as a Markdown table. */
export function markdownTable(rows: readonly Row[]): string {
  const header = ["Benchmark", "Metric", "Result", "Target", "Met"];
  const lines = rows.map((row) => [
    row.benchmark,
    row.metric,
    row.result,
    row.target,
    row.isMet === undefined ? "" : row.isMet ? "yes" : "**no**",
  ]);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...lines.map((line) => line[i].length))
  );
  const format = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
  return [
    format(header),
    `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`,
    ...lines.map(format),
  ].join("\n");
}

function pct(summary: Summary): string {
  return `p50 ${summary.p50} · p99 ${summary.p99} · max ${summary.max} ms`;
}

function ms(value: number): string {
  return `${value} ms`;
}

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

function methods(byMethod: Record<string, number>): string {
  return Object.entries(byMethod).map(([method, n]) => `${method} ${n}`)
    .join(", ");
}
