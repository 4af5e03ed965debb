// What each chat command does, without grammY: parse the arguments, act on
// the chat's sessions, answer in Telegram HTML. Errors are left to the caller.
import { PERMISSION_MODES } from "./config.ts";
import { humanDuration, truncate, usd } from "./format.ts";
import type { Clock } from "./clock.ts";
import { type Persona, resolvePersona } from "./personas.ts";
import { escapeHtml } from "./render.ts";
import {
  personaLabel,
  sessionsReport,
  stateLabel,
  usageReport,
} from "./reports.ts";
import * as setting from "./session_settings.ts";
import type { SessionRegistry } from "./sessions.ts";
import type { OutputMode } from "./turn.ts";

/** What the commands act on and need to know. */
export interface ChatCommandsOptions {
  sessions: SessionRegistry;
  clock: Clock;
  personas: readonly Persona[];
  /** Idle timeout of sessions not yet created, for /timeout. */
  defaultIdleTimeoutMs: number;
  /** DAILY_BUDGET_USD, for /usage. */
  dailyBudgetUsd?: number;
  /** Why CLAUDE_SANDBOX=auto found no sandbox, shown in /sessions. */
  sandboxWarning?: string;
}

/** The commands menu registered with setMyCommands. */
export const COMMANDS = [
  { command: "new", description: "New session: /new <name> [persona]" },
  { command: "switch", description: "Switch session: /switch <name>" },
  { command: "sessions", description: "List sessions" },
  { command: "archive", description: "Archive a session: /archive [name]" },
  { command: "projects", description: "Your repositories and their sessions" },
  {
    command: "open",
    description: "Work on a project: /open <project>[@branch]",
  },
  { command: "diff", description: "What changed against HEAD" },
  { command: "get", description: "Send a file or folder: /get <path>" },
  { command: "handoff", description: "Continue in a terminal" },
  { command: "resume", description: "Continue a Claude Code conversation" },
  { command: "stop", description: "Interrupt the running turn" },
  { command: "model", description: "Show or set the model" },
  { command: "persona", description: "Show, list or set the persona" },
  {
    command: "timeout",
    description: "Show or set the idle timeout (1–120 min)",
  },
  { command: "mode", description: "Output mode: verbose, normal or quiet" },
  { command: "permissions", description: "Show or set tool permissions" },
  { command: "usage", description: "Cost and context use" },
  { command: "budget", description: "Per-session budget: /budget <usd|off>" },
  { command: "retry", description: "Send an interrupted message again" },
  { command: "help", description: "How to use this bot" },
] as const;

/** Commands that run in the chat's intake order, each by its ChatCommands method. */
export const IN_ORDER_COMMANDS = [
  "new",
  "switch",
  "sessions",
  "archive",
  "model",
  "persona",
  "timeout",
  "mode",
  "permissions",
  "budget",
  "usage",
] as const;

const OUTPUT_MODES: readonly OutputMode[] = ["verbose", "normal", "quiet"];

const HELP = [
  "<b>Claude Code from Telegram</b>",
  "Send a message and Claude answers in the active session. Photos and documents are saved for the session (in its <code>inbox/</code>, or outside a project's repository) and Claude is told where; voice notes are transcribed when set up; reply to a message to give Claude its text.",
  "",
  "/new &lt;name&gt; [persona] — create a session and switch to it",
  "/switch &lt;name&gt; — switch (the old one keeps running on its idle timer)",
  "/sessions — list sessions",
  "/archive [name] — stop and archive a session",
  "/stop — interrupt the running turn",
  "/model [name|default] — show or set the model",
  "/persona [name|text|none] — show, list or set the persona",
  `/timeout [${setting.TIMEOUT_MINUTES.min}–${setting.TIMEOUT_MINUTES.max}] — idle minutes before the session is suspended`,
  "/mode [verbose|normal|quiet] — how much of Claude's work you see",
  "/permissions [mode] — ask (approve tools here), acceptEdits, plan, …",
  "/usage — cost today, this week and per session; context use",
  "/budget [usd|off] — a session's spending cap per Claude process",
  "/retry — send again a message interrupted by a restart",
  "",
  "Idle sessions are suspended and resume with their full history on your next message.",
].join("\n");

/**
 * The chat commands: each method is the body of the command of its name.
 * It takes the chat key and the trimmed text after the command, and returns
 * the reply's HTML; a typed error (UnknownSessionError, …) is the caller's to
 * turn into text.
 */
export class ChatCommands {
  #options: ChatCommandsOptions;

  constructor(options: ChatCommandsOptions) {
    this.#options = options;
  }

  /** /help (and /start): what the bot does and its commands. */
  help(): Promise<string> {
    return Promise.resolve(HELP);
  }

  /** /new &lt;name&gt; [persona]: creates a session and switches to it. */
  async new(chatKey: string, args: string): Promise<string> {
    const { sessions, personas } = this.#options;
    const [name, ...rest] = args.split(/\s+/);
    if (!name) return "Usage: /new &lt;name&gt; [persona]";
    let persona: { name?: string; prompt: string } | undefined;
    if (rest.length) {
      persona = resolvePersona(personas, rest.join(" "));
      if (!persona) return unknownPersona(rest.join(" "), personas);
    }
    const view = await sessions.create(chatKey, name, persona);
    return `Created session <b>${view.name}</b>${
      persona ? ` with persona ${escapeHtml(personaLabel(view))}` : ""
    } and switched to it.`;
  }

  /** /switch &lt;name&gt;: makes another session active. */
  async switch(chatKey: string, args: string): Promise<string> {
    if (!args || /\s/.test(args)) return "Usage: /switch &lt;name&gt;";
    const view = await this.#options.sessions.switch(chatKey, args);
    return `Switched to <b>${view.name}</b> (${stateLabel(view)}).`;
  }

  /** /sessions: lists the chat's sessions. */
  async sessions(chatKey: string): Promise<string> {
    const { sessions, clock, sandboxWarning } = this.#options;
    const report = sessionsReport(sessions.list(chatKey), {
      archivedCount: await sessions.countArchived(chatKey),
      nowMs: clock.now(),
    });
    return sandboxWarning
      ? `${report}\n\n⚠️ Claude runs without a sandbox: ${
        escapeHtml(sandboxWarning)
      }`
      : report;
  }

  /** /archive [name]: archives a session, the active one by default. */
  async archive(chatKey: string, args: string): Promise<string> {
    if (/\s/.test(args)) return "Usage: /archive [name]";
    const view = await this.#options.sessions.archive(
      chatKey,
      args || undefined,
    );
    return `Archived <b>${view.name}</b>; its process is stopped.${
      view.isActive
        ? " No session is active now: your next message goes to <b>default</b> (created if needed), or /switch to another."
        : ""
    }`;
  }

  /** /stop: interrupts the running turn and drops the queued messages. */
  async stop(chatKey: string): Promise<string> {
    const session = this.#options.sessions.find(chatKey);
    const { wasBusy, dropped } = await session?.interrupt() ??
      { wasBusy: false, dropped: 0 };
    const droppedText = dropped ? ` ${dropped} queued message(s) dropped.` : "";
    return wasBusy
      ? `Stopping…${droppedText}`
      : `Nothing is running.${droppedText}`;
  }

  /** /model [name|default]: shows or sets the active session's model. */
  async model(chatKey: string, args: string): Promise<string> {
    const { sessions } = this.#options;
    if (!args) {
      const view = sessions.active(chatKey);
      return `Model: <b>${
        escapeHtml(view?.model ?? "default")
      }</b>. Set with /model &lt;name&gt; (e.g. sonnet, opus, haiku) or /model default.`;
    }
    if (!/^[\w.:\[\]-]{1,100}$/.test(args)) {
      return "Usage: /model &lt;name&gt; — e.g. sonnet, opus, haiku or a full model id.";
    }
    const view = await sessions.configure(
      chatKey,
      setting.model(args === "default" ? undefined : args),
    );
    return `Model of <b>${view.name}</b>: <b>${
      escapeHtml(view.model ?? "default")
    }</b>. It applies from the next message (history is kept).`;
  }

  /** /persona [name|text|none]: shows and lists, or sets the persona. */
  async persona(chatKey: string, args: string): Promise<string> {
    const { sessions, personas } = this.#options;
    if (!args) {
      const current = sessions.active(chatKey);
      return [
        `Persona of <b>${current?.name ?? "default"}</b>: ${
          escapeHtml((current && personaLabel(current)) || "none")
        }`,
        "",
        "Defined personas:",
        ...personas.map((p) =>
          `• <b>${p.name}</b> — ${escapeHtml(truncate(p.prompt, 80))}`
        ),
        "",
        "Set with /persona &lt;name or free text&gt;, clear with /persona none.",
      ].join("\n");
    }
    const persona = args === "none"
      ? undefined
      : resolvePersona(personas, args);
    if (args !== "none" && !persona) return unknownPersona(args, personas);
    const view = await sessions.configure(chatKey, setting.persona(persona));
    return `Persona of <b>${view.name}</b>: ${
      escapeHtml(personaLabel(view) || "none")
    }. It applies from the next message (history is kept).`;
  }

  /** /timeout [minutes]: shows or sets the active session's idle timeout. */
  async timeout(chatKey: string, args: string): Promise<string> {
    const { sessions } = this.#options;
    const range =
      `${setting.TIMEOUT_MINUTES.min}–${setting.TIMEOUT_MINUTES.max}`;
    if (!args) {
      const view = sessions.active(chatKey);
      const ms = view?.idleTimeoutMs ?? this.#options.defaultIdleTimeoutMs;
      return `Idle timeout of <b>${view?.name ?? "default"}</b>: ${
        humanDuration(ms)
      }. Set with /timeout &lt;${range} minutes&gt;.`;
    }
    const minutes = /^\d+$/.test(args) ? Number(args) : NaN;
    if (!setting.isIdleTimeoutMinutes(minutes)) {
      return `The timeout must be a whole number of minutes from ${range}; "${
        escapeHtml(truncate(args, 20))
      }" is not.`;
    }
    const view = await sessions.configure(
      chatKey,
      setting.idleTimeout(minutes),
    );
    return `Idle timeout of <b>${view.name}</b>: ${
      humanDuration(view.idleTimeoutMs)
    }.`;
  }

  /** /mode [verbose|normal|quiet]: shows or sets the output mode. */
  async mode(chatKey: string, args: string): Promise<string> {
    const { sessions } = this.#options;
    if (!args) {
      return `Output mode: <b>${
        sessions.active(chatKey)?.outputMode ?? "normal"
      }</b>. Choices: ${OUTPUT_MODES.join(", ")}.`;
    }
    const mode = OUTPUT_MODES.find((m) => m === args);
    if (!mode) return `Usage: /mode [${OUTPUT_MODES.join("|")}]`;
    const view = await sessions.configure(chatKey, setting.outputMode(mode));
    return `Output mode of <b>${view.name}</b>: <b>${view.outputMode}</b>.`;
  }

  /** /permissions [mode]: shows or sets the active session's permission mode. */
  async permissions(chatKey: string, args: string): Promise<string> {
    const { sessions } = this.#options;
    if (!args) {
      const view = sessions.active(chatKey);
      const mode = view?.permissionMode ?? "(default)";
      const always = view?.alwaysAllowedTools.length
        ? ` Always allowed here: ${
          escapeHtml(view.alwaysAllowedTools.join(", "))
        }.`
        : "";
      return `Permission mode of <b>${
        view?.name ?? "default"
      }</b>: <b>${mode}</b>.${always}\nChoices: ${
        PERMISSION_MODES.join(", ")
      }. <b>ask</b> sends each tool that needs approval here with Allow/Deny buttons.`;
    }
    const mode = PERMISSION_MODES.find((m) => m === args);
    if (!mode) return `Usage: /permissions [${PERMISSION_MODES.join("|")}]`;
    const view = await sessions.configure(
      chatKey,
      setting.permissionMode(mode),
    );
    return `Permission mode of <b>${view.name}</b>: <b>${mode}</b>. It applies from the next message (history is kept).`;
  }

  /** /budget [usd|off]: shows or sets the active session's --max-budget-usd. */
  async budget(chatKey: string, args: string): Promise<string> {
    const { sessions } = this.#options;
    if (!args) {
      const view = sessions.active(chatKey);
      return `Budget of <b>${view?.name ?? "default"}</b>: ${
        budgetLabel(view?.maxBudgetUsd)
      } per Claude process (--max-budget-usd). Set with /budget &lt;usd&gt; or /budget off.`;
    }
    const amount = /^\d+(\.\d+)?$/.test(args) ? Number(args) : NaN;
    if (args !== "off" && !(amount > 0)) {
      return "Usage: /budget &lt;usd&gt; (e.g. 2.50) or /budget off";
    }
    const view = await sessions.configure(
      chatKey,
      setting.maxBudget(args === "off" ? undefined : amount),
    );
    return `Budget of <b>${view.name}</b>: ${
      budgetLabel(view.maxBudgetUsd)
    }. It applies from the next message.`;
  }

  /** /usage: costs of the chat's sessions and of all, and the daily budget. */
  usage(chatKey: string): Promise<string> {
    const { sessions, clock, dailyBudgetUsd } = this.#options;
    return Promise.resolve(
      usageReport(sessions.list(chatKey), {
        allSessions: sessions.all(),
        nowMs: clock.now(),
        dailyBudgetUsd,
      }),
    );
  }
}

function budgetLabel(maxBudgetUsd: number | undefined): string {
  return maxBudgetUsd === undefined ? "none" : usd(maxBudgetUsd);
}

function unknownPersona(text: string, personas: readonly Persona[]): string {
  return `No persona named "${escapeHtml(truncate(text, 40))}". Defined: ${
    personas.map((p) => p.name).join(", ")
  }. Or give a whole sentence to use as the system prompt.`;
}
