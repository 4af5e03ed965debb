// How sessions read in the chat: their state and persona labels, the
// /sessions list and the /usage report, as Telegram HTML.
import { timeAgo, truncate, usd } from "./format.ts";
import { escapeHtml } from "./render.ts";
import type { SessionView } from "./session_view.ts";
import { costSince, dayKey } from "./usage.ts";

/** A session's state in a word or two: "LIVE", "LIVE, working", "IDLE (suspended)". */
export function stateLabel(view: SessionView): string {
  switch (view.state) {
    case "busy":
      return "LIVE, working";
    case "live":
      return "LIVE";
    case "starting":
      return "LIVE, starting";
    case "suspended":
    case "archived":
      return "IDLE (suspended)";
  }
}

/** The persona's name, else the start of a free-text prompt; "" for none. Not escaped. */
export function personaLabel(view: SessionView): string {
  return view.personaName ??
    (view.systemPrompt ? truncate(view.systemPrompt, 40) : "");
}

/** The project a session works on, as HTML: "<b>api</b>", "<b>api</b> @ <b>feat</b>"; "" for its own folder. */
export function projectLabel(
  view: Pick<SessionView, "project" | "branch">,
): string {
  if (view.project === undefined) return "";
  return `<b>${escapeHtml(view.project)}</b>${
    view.branch === undefined ? "" : ` @ <b>${escapeHtml(view.branch)}</b>`
  }`;
}

/**
 * /sessions: one line per session of a chat, the active one marked, then a
 * note on how many archived sessions are hidden.
 */
export function sessionsReport(
  views: readonly SessionView[],
  options: { archivedCount: number; nowMs: number },
): string {
  const lines = views.map((v) =>
    `${v.isActive ? "▶️" : "▫️"} <b>${v.name}</b> — ${stateLabel(v)}${
      v.project === undefined ? "" : ` · 📁 ${projectLabel(v)}`
    } · ${escapeHtml(personaLabel(v) || "no persona")} · ${
      escapeHtml(v.model ?? "default model")
    } · ${timeAgo(v.lastActiveAt, options.nowMs)} · ${usd(v.totalCostUsd)}${
      contextNote(v)
    }`
  );
  if (!lines.length) {
    lines.push("No sessions yet: send a message or use /new.");
  }
  if (options.archivedCount) {
    lines.push(`<i>${options.archivedCount} archived session(s) hidden.</i>`);
  }
  return lines.join("\n");
}

/** What the /usage report covers. */
export interface UsageReportOptions {
  /** Every session of every chat, for the totals and the budget. */
  allSessions: readonly SessionView[];
  nowMs: number;
  /** DAILY_BUDGET_USD; undefined: none. */
  dailyBudgetUsd?: number;
}

/** /usage: this chat's sessions, then every session's totals and the daily budget. */
export function usageReport(
  chatSessions: readonly SessionView[],
  options: UsageReportOptions,
): string {
  const { allSessions, nowMs } = options;
  const lines = chatSessions.map((v) =>
    `• <b>${v.name}</b>: today ${
      usd(costSince(v.costByDay, { nowMs, days: 1 }))
    } · last turn ${usd(v.lastTurnCostUsd)} · total ${
      usd(v.totalCostUsd)
    } · ${v.turns} turns${contextNote(v)}`
  );
  const totalSince = (days: number) =>
    allSessions.reduce(
      (sum, v) => sum + costSince(v.costByDay, { nowMs, days }),
      0,
    );
  const today = totalSince(1);
  const week = totalSince(7);
  const budget = options.dailyBudgetUsd;
  return [
    `<b>Usage</b> (UTC day ${dayKey(nowMs)})`,
    ...(lines.length ? lines : ["No sessions in this chat yet."]),
    "",
    `All sessions: today ${usd(today)} · last 7 days ${usd(week)}`,
    budget === undefined
      ? "No daily budget (DAILY_BUDGET_USD)."
      : `Daily budget: ${usd(today)} of ${usd(budget)} spent.`,
  ].join("\n");
}

/** " · context 42%" for the end of a session's line; "" while unknown. */
function contextNote(view: SessionView): string {
  return view.contextUsed === undefined
    ? ""
    : ` · context ${Math.round(view.contextUsed * 100)}%`;
}
