// The bot's Telegram face: access control, commands, messages and files;
// turns updates into session calls and typed results and errors into text.
import { Bot, type Context, GrammyError, HttpError } from "grammy";
import { APPROVAL_PREFIX, Approvals } from "./approvals.ts";
import { AtomicWriteError } from "./atomic_file.ts";
import { humanDuration, timeAgo, truncate, usd } from "./format.ts";
import type { Clock } from "./idle_timer.ts";
import {
  FileDownloadError,
  FileTooLargeError,
  RETRY_PREFIX,
  TurnIntake,
} from "./intake.ts";
import type { InboundJournal, JournalInput } from "./journal.ts";
import type { Outbox } from "./outbox.ts";
import { PERMISSION_MODES } from "./config.ts";
import { type Persona, PersonasFileError, resolvePersona } from "./personas.ts";
import { escapeHtml } from "./render.ts";
import {
  BudgetExceededError,
  type OutputMode,
  SessionExistsError,
  type SessionManager,
  SessionNameError,
  type SessionView,
  ShuttingDownError,
  TIMEOUT_MINUTES,
  UnknownSessionError,
} from "./sessions.ts";
import { costSince, dayKey } from "./usage.ts";
import { StoreWriteError } from "./store.ts";

/** What the handlers need. */
export interface CommandsOptions {
  sessions: SessionManager;
  journal: InboundJournal;
  outbox: Outbox;
  clock: Clock;
  allowedUserIds: ReadonlySet<number>;
  allowedChatIds: ReadonlySet<number>;
  personas: readonly Persona[];
  /** Bot API base URL and token, for file downloads. */
  apiRoot: string;
  botToken: string;
  maxUploadBytes: number;
  /** Idle timeout of sessions not yet created, for /timeout. */
  defaultIdleTimeoutMs: number;
  /** An unanswered tool approval is denied after this long. */
  approvalTimeoutMs: number;
  dailyBudgetUsd?: number;
  log: (message: string) => void;
}

/** The commands menu registered with setMyCommands. */
export const COMMANDS = [
  { command: "new", description: "New session: /new <name> [persona]" },
  { command: "switch", description: "Switch session: /switch <name>" },
  { command: "sessions", description: "List sessions" },
  { command: "archive", description: "Archive a session: /archive [name]" },
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

const OUTPUT_MODES: readonly OutputMode[] = ["verbose", "normal", "quiet"];

const HELP = [
  "<b>Claude Code from Telegram</b>",
  "Send a message and Claude answers in the active session. Photos and documents are saved in the session's <code>inbox/</code> folder and Claude is told where.",
  "",
  "/new &lt;name&gt; [persona] — create a session and switch to it",
  "/switch &lt;name&gt; — switch (the old one keeps running on its idle timer)",
  "/sessions — list sessions",
  "/archive [name] — stop and archive a session",
  "/stop — interrupt the running turn",
  "/model [name|default] — show or set the model",
  "/persona [name|text|none] — show, list or set the persona",
  `/timeout [${TIMEOUT_MINUTES.min}–${TIMEOUT_MINUTES.max}] — idle minutes before the session is suspended`,
  "/mode [verbose|normal|quiet] — how much of Claude's work you see",
  "/permissions [mode] — ask (approve tools here), acceptEdits, plan, …",
  "/usage — cost today, this week and per session; context use",
  "/budget [usd|off] — a session's spending cap per Claude process",
  "/retry — send again a message interrupted by a restart",
  "",
  "Idle sessions are suspended and resume with their full history on your next message.",
].join("\n");

/** What the handlers report back: replies still being delivered. */
export interface CommandsHandle {
  readonly activeReplies: number;
  /** Replays messages journaled before a restart; see TurnIntake.recover. */
  recover(): Promise<void>;
}

/** Wires every handler onto the bot. */
export function registerCommands(
  bot: Bot,
  options: CommandsOptions,
): CommandsHandle {
  const { sessions, log } = options;
  const approvals = new Approvals({
    api: bot.api,
    outbox: options.outbox,
    sessions,
    clock: options.clock,
    timeoutMs: options.approvalTimeoutMs,
    log,
  });
  const intake = new TurnIntake({
    api: bot.api,
    sessions,
    approvals,
    journal: options.journal,
    outbox: options.outbox,
    clock: options.clock,
    apiRoot: options.apiRoot,
    botToken: options.botToken,
    maxUploadBytes: options.maxUploadBytes,
    errorText: (error) => errorText(error, log),
    log,
  });
  const refused = new Set<number>();

  bot.use(async (ctx, next) => {
    // A message already journaled is a redelivery after a crash: its turn
    // was recovered from the journal, so it must not run twice.
    if (options.journal.has(ctx.update.update_id)) return;
    const userId = ctx.from?.id;
    if (userId === undefined || !options.allowedUserIds.has(userId)) {
      await refuse(ctx, refused);
      return;
    }
    const chat = ctx.chat;
    if (
      chat && chat.type !== "private" && !options.allowedChatIds.has(chat.id)
    ) {
      if (ctx.callbackQuery) {
        await ctx.answerCallbackQuery("This chat is not enabled.");
      }
      return;
    }
    await next();
  });

  /** Command answers share the chat's outbox with turns, so they count toward its pace. */
  const reply = (ctx: Context, html: string) =>
    options.outbox.enqueue(chatKeyOf(ctx), () =>
      ctx.reply(html, {
        parse_mode: "HTML",
        message_thread_id: threadOf(ctx),
        link_preview_options: { is_disabled: true },
      }));

  /**
   * Runs a command body in the chat's intake order (so "/new x" then a
   * message sends the message to x) without holding up the update loop;
   * maps known errors to a short reply. `immediate` commands (/stop) skip
   * the queue: they must act while a download or turn start is pending.
   */
  const command = (
    body: (ctx: Context, args: string) => Promise<string>,
    options: { immediate?: boolean } = {},
  ) =>
  (ctx: Context) => {
    const args = typeof ctx.match === "string" ? ctx.match.trim() : "";
    const run = async () => {
      try {
        await reply(ctx, await body(ctx, args));
      } catch (error) {
        await reply(ctx, errorText(error, log));
      }
    };
    if (options.immediate) {
      run().catch((error) => log(`Command failed: ${describe(error)}`));
    } else intake.inOrder(chatKeyOf(ctx), run);
  };

  bot.command(["start", "help"], command(() => Promise.resolve(HELP)));

  bot.command(
    "new",
    command(async (ctx, args) => {
      const [name, ...rest] = args.split(/\s+/);
      if (!name) return "Usage: /new &lt;name&gt; [persona]";
      let persona: { name?: string; prompt: string } | undefined;
      if (rest.length) {
        persona = resolvePersona(options.personas, rest.join(" "));
        if (!persona) return unknownPersona(rest.join(" "), options.personas);
      }
      const view = await sessions.create(chatKeyOf(ctx), name, persona);
      return `Created session <b>${view.name}</b>${
        persona ? ` with persona ${escapeHtml(personaLabel(view))}` : ""
      } and switched to it.`;
    }),
  );

  bot.command(
    "switch",
    command(async (ctx, args) => {
      if (!args || /\s/.test(args)) return "Usage: /switch &lt;name&gt;";
      const view = await sessions.switch(chatKeyOf(ctx), args);
      return `Switched to <b>${view.name}</b> (${stateLabel(view)}).`;
    }),
  );

  bot.command(
    "sessions",
    command(async (ctx) => {
      const chatKey = chatKeyOf(ctx);
      const views = sessions.list(chatKey);
      const archived = await sessions.countArchived(chatKey);
      const now = options.clock.now();
      const lines = views.map((v) =>
        `${v.isActive ? "▶️" : "▫️"} <b>${v.name}</b> — ${stateLabel(v)} · ${
          escapeHtml(personaLabel(v) || "no persona")
        } · ${escapeHtml(v.model ?? "default model")} · ${
          timeAgo(v.lastActiveAt, now)
        } · ${usd(v.totalCostUsd)}${
          v.contextUsed === undefined
            ? ""
            : ` · context ${Math.round(v.contextUsed * 100)}%`
        }`
      );
      if (!lines.length) {
        lines.push("No sessions yet: send a message or use /new.");
      }
      if (archived) {
        lines.push(`<i>${archived} archived session(s) hidden.</i>`);
      }
      return lines.join("\n");
    }),
  );

  bot.command(
    "archive",
    command(async (ctx, args) => {
      if (/\s/.test(args)) return "Usage: /archive [name]";
      const view = await sessions.archive(chatKeyOf(ctx), args || undefined);
      return `Archived <b>${view.name}</b>; its process is stopped.${
        view.isActive
          ? " Your next message starts a fresh <b>default</b> session."
          : ""
      }`;
    }),
  );

  bot.command(
    "stop",
    command(async (ctx) => {
      const { wasBusy, dropped } = await sessions.interrupt(chatKeyOf(ctx));
      const droppedText = dropped
        ? ` ${dropped} queued message(s) dropped.`
        : "";
      return wasBusy
        ? `Stopping…${droppedText}`
        : `Nothing is running.${droppedText}`;
    }, { immediate: true }),
  );

  bot.command(
    "model",
    command(async (ctx, args) => {
      const chatKey = chatKeyOf(ctx);
      if (!args) {
        const view = sessions.active(chatKey);
        return `Model: <b>${
          escapeHtml(view?.model ?? "default")
        }</b>. Set with /model &lt;name&gt; (e.g. sonnet, opus, haiku) or /model default.`;
      }
      if (!/^[\w.:\[\]-]{1,100}$/.test(args)) {
        return "Usage: /model &lt;name&gt; — e.g. sonnet, opus, haiku or a full model id.";
      }
      const view = await sessions.setModel(
        chatKey,
        args === "default" ? undefined : args,
      );
      return `Model of <b>${view.name}</b>: <b>${
        escapeHtml(view.model ?? "default")
      }</b>. It applies from the next message (history is kept).`;
    }),
  );

  bot.command(
    "persona",
    command(async (ctx, args) => {
      const chatKey = chatKeyOf(ctx);
      if (!args) {
        const current = sessions.active(chatKey);
        return [
          `Persona of <b>${current?.name ?? "default"}</b>: ${
            escapeHtml((current && personaLabel(current)) || "none")
          }`,
          "",
          "Defined personas:",
          ...options.personas.map((p) =>
            `• <b>${p.name}</b> — ${escapeHtml(truncate(p.prompt, 80))}`
          ),
          "",
          "Set with /persona &lt;name or free text&gt;, clear with /persona none.",
        ].join("\n");
      }
      const persona = args === "none"
        ? undefined
        : resolvePersona(options.personas, args);
      if (args !== "none" && !persona) {
        return unknownPersona(args, options.personas);
      }
      const view = await sessions.setPersona(chatKey, persona);
      return `Persona of <b>${view.name}</b>: ${
        escapeHtml(personaLabel(view) || "none")
      }. It applies from the next message (history is kept).`;
    }),
  );

  bot.command(
    "timeout",
    command(async (ctx, args) => {
      const chatKey = chatKeyOf(ctx);
      const range = `${TIMEOUT_MINUTES.min}–${TIMEOUT_MINUTES.max}`;
      if (!args) {
        const view = sessions.active(chatKey);
        const ms = view?.idleTimeoutMs ?? options.defaultIdleTimeoutMs;
        return `Idle timeout of <b>${view?.name ?? "default"}</b>: ${
          humanDuration(ms)
        }. Set with /timeout &lt;${range} minutes&gt;.`;
      }
      const minutes = /^\d+$/.test(args) ? Number(args) : NaN;
      if (
        !Number.isInteger(minutes) || minutes < TIMEOUT_MINUTES.min ||
        minutes > TIMEOUT_MINUTES.max
      ) {
        return `The timeout must be a whole number of minutes from ${range}; "${
          escapeHtml(truncate(args, 20))
        }" is not.`;
      }
      const view = await sessions.setIdleTimeout(chatKey, minutes);
      return `Idle timeout of <b>${view.name}</b>: ${
        humanDuration(view.idleTimeoutMs)
      }.`;
    }),
  );

  bot.command(
    "mode",
    command(async (ctx, args) => {
      const chatKey = chatKeyOf(ctx);
      const choices = OUTPUT_MODES.join(", ");
      if (!args) {
        return `Output mode: <b>${
          sessions.active(chatKey)?.outputMode ?? "normal"
        }</b>. Choices: ${choices}.`;
      }
      const mode = OUTPUT_MODES.find((m) => m === args);
      if (!mode) return `Usage: /mode [${OUTPUT_MODES.join("|")}]`;
      const view = await sessions.setOutputMode(chatKey, mode);
      return `Output mode of <b>${view.name}</b>: <b>${view.outputMode}</b>.`;
    }),
  );

  bot.callbackQuery(new RegExp(`^${APPROVAL_PREFIX}`), async (ctx) => {
    const from = ctx.from;
    const name = from.username ? `@${from.username}` : from.first_name;
    const toast = await approvals.press(
      ctx.callbackQuery.data,
      chatKeyOf(ctx),
      { name },
    );
    await ctx.answerCallbackQuery(toast);
  });

  bot.command(
    "permissions",
    command(async (ctx, args) => {
      const chatKey = chatKeyOf(ctx);
      const choices = PERMISSION_MODES.join(", ");
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
        }</b>: <b>${mode}</b>.${always}\nChoices: ${choices}. <b>ask</b> sends each tool that needs approval here with Allow/Deny buttons.`;
      }
      const mode = PERMISSION_MODES.find((m) => m === args);
      if (!mode) return `Usage: /permissions [${PERMISSION_MODES.join("|")}]`;
      const view = await sessions.setPermissionMode(chatKey, mode);
      return `Permission mode of <b>${view.name}</b>: <b>${mode}</b>. It applies from the next message (history is kept).`;
    }),
  );

  bot.command(
    "budget",
    command(async (ctx, args) => {
      const chatKey = chatKeyOf(ctx);
      if (!args) {
        const view = sessions.active(chatKey);
        return `Budget of <b>${view?.name ?? "default"}</b>: ${
          view?.maxBudgetUsd === undefined ? "none" : usd(view.maxBudgetUsd)
        } per Claude process (--max-budget-usd). Set with /budget &lt;usd&gt; or /budget off.`;
      }
      const amount = /^\d+(\.\d+)?$/.test(args) ? Number(args) : NaN;
      if (args !== "off" && !(amount > 0)) {
        return "Usage: /budget &lt;usd&gt; (e.g. 2.50) or /budget off";
      }
      const view = await sessions.setMaxBudget(
        chatKey,
        args === "off" ? undefined : amount,
      );
      return `Budget of <b>${view.name}</b>: ${
        view.maxBudgetUsd === undefined ? "none" : usd(view.maxBudgetUsd)
      }. It applies from the next message.`;
    }),
  );

  bot.command(
    "usage",
    command((ctx) => Promise.resolve(usageText(chatKeyOf(ctx)))),
  );

  bot.command("retry", (ctx) => {
    const chatKey = chatKeyOf(ctx);
    intake.inOrder(chatKey, async () => {
      if (!await intake.retry(chatKey)) {
        await reply(ctx, "There is no interrupted message to retry.");
      }
    });
  });

  bot.callbackQuery(new RegExp(`^${RETRY_PREFIX}(\\d+)$`), async (ctx) => {
    const chatKey = chatKeyOf(ctx);
    const id = Number(ctx.match[1]);
    const isPending = await intake.retry(chatKey, id);
    await ctx.answerCallbackQuery(
      isPending ? "Sending it again" : "This message is no longer pending",
    );
    if (isPending) {
      await ctx.editMessageReplyMarkup({ reply_markup: undefined });
    }
  });

  bot.on("message:text", async (ctx) => {
    const text = ctx.message.text;
    if (text.startsWith("/")) {
      await reply(
        ctx,
        `Unknown command ${
          escapeHtml(truncate(text.split(/\s/)[0], 40))
        }. See /help.`,
      );
      return;
    }
    if (text.trim() === "") {
      await reply(ctx, "That message is empty; nothing was sent to Claude.");
      return;
    }
    await journalAndAccept(ctx, { kind: "text", text });
  });

  bot.on("message:photo", async (ctx) => {
    const photo = ctx.message.photo.at(-1)!;
    await journalAndAccept(ctx, {
      kind: "photo",
      fileId: photo.file_id,
      fileUniqueId: photo.file_unique_id,
      size: photo.file_size,
      caption: ctx.message.caption,
    });
  });

  bot.on("message:document", async (ctx) => {
    const document = ctx.message.document;
    await journalAndAccept(ctx, {
      kind: "document",
      fileId: document.file_id,
      fileName: document.file_name ?? "document",
      size: document.file_size,
      caption: ctx.message.caption,
    });
  });

  bot.on("edited_message", async (ctx) => {
    await reply(
      ctx,
      "✏️ Edits are not sent to Claude. Send the corrected message again.",
    );
  });

  bot.on("message", async (ctx) => {
    await reply(
      ctx,
      `Sorry, ${
        messageKind(ctx)
      } messages are not supported yet. Send text, a photo or a document.`,
    );
  });

  bot.catch((error) => {
    log(
      `Update ${error.ctx.update.update_id} failed: ${describe(error.error)}`,
    );
  });

  return {
    get activeReplies() {
      return intake.activeReplies;
    },
    recover: () => intake.recover(),
  };

  /**
   * Records the message in the journal before this handler returns (grammY
   * confirms the update to Telegram only after that), then starts its turn.
   */
  async function journalAndAccept(ctx: Context, input: JournalInput) {
    const entry = {
      id: ctx.update.update_id,
      chatId: ctx.chat!.id,
      threadId: threadOf(ctx),
      topicName: ctx.msg?.reply_to_message?.forum_topic_created?.name,
      chatKey: chatKeyOf(ctx),
      input,
    };
    try {
      await options.journal.add(entry);
    } catch (error) {
      await reply(ctx, errorText(error, log));
      return;
    }
    intake.accept({ ...entry, state: "queued", receivedAt: Date.now() });
  }

  /** /usage: this chat's sessions, then every session's totals and the budget. */
  function usageText(chatKey: string): string {
    const now = options.clock.now();
    const lines = sessions.list(chatKey).map((v) =>
      `• <b>${v.name}</b>: today ${
        usd(costSince(v.costByDay, now, 1))
      } · last turn ${usd(v.lastTurnCostUsd)} · total ${
        usd(v.totalCostUsd)
      } · ${v.turns} turns${
        v.contextUsed === undefined
          ? ""
          : ` · context ${Math.round(v.contextUsed * 100)}%`
      }`
    );
    const all = sessions.all();
    const today = all.reduce((s, v) => s + costSince(v.costByDay, now, 1), 0);
    const week = all.reduce((s, v) => s + costSince(v.costByDay, now, 7), 0);
    const budget = options.dailyBudgetUsd;
    return [
      `<b>Usage</b> (UTC day ${dayKey(now)})`,
      ...(lines.length ? lines : ["No sessions in this chat yet."]),
      "",
      `All sessions: today ${usd(today)} · last 7 days ${usd(week)}`,
      budget === undefined
        ? "No daily budget (DAILY_BUDGET_USD)."
        : `Daily budget: ${usd(today)} of ${usd(budget)} spent.`,
    ].join("\n");
  }

  /** The one mapping from errors to chat text. */
  function errorText(error: unknown, log: (message: string) => void): string {
    if (error instanceof SessionNameError) {
      return `"${
        escapeHtml(truncate(error.sessionName, 40))
      }" is not a valid session name: use 1–32 letters, digits, _ or -.`;
    }
    if (error instanceof UnknownSessionError) {
      return `There is no session named "${
        escapeHtml(truncate(error.sessionName, 40))
      }". /sessions lists them.`;
    }
    if (error instanceof SessionExistsError) {
      return `A session named <b>${error.sessionName}</b> already exists: /switch ${error.sessionName}`;
    }
    if (error instanceof BudgetExceededError) {
      return `The daily budget of ${usd(error.budgetUsd)} is spent (${
        usd(error.spentUsd)
      } today), so no new turns start. It resets at 00:00 UTC, in ${
        humanDuration(error.resetsAt - options.clock.now())
      }.`;
    }
    if (error instanceof ShuttingDownError) {
      return "The bot is restarting; please send that again in a moment.";
    }
    if (error instanceof StoreWriteError || error instanceof AtomicWriteError) {
      log(error.message);
      return "⚠️ Could not save to the data directory (disk full or read-only?). Nothing was changed.";
    }
    if (error instanceof FileTooLargeError) {
      return `That file is too large: the limit is ${
        Math.round(options.maxUploadBytes / 1024 / 1024)
      } MB (MAX_UPLOAD_MB).`;
    }
    if (error instanceof PersonasFileError) {
      log(error.message);
      return "⚠️ personas.json in the data directory is invalid; see the log.";
    }
    if (
      error instanceof FileDownloadError || error instanceof HttpError ||
      error instanceof GrammyError
    ) {
      log(describe(error));
      return "⚠️ Telegram did not deliver the file; please try again.";
    }
    log(`Unexpected error: ${describe(error)}`);
    return "⚠️ Something went wrong; the details are in the bot's log.";
  }
}

/** One chat session space: a chat, or a forum topic inside it. */
export function chatKeyOf(ctx: Context): string {
  const chatId = ctx.chat!.id;
  const thread = threadOf(ctx);
  return thread === undefined ? `${chatId}` : `${chatId}:${thread}`;
}

function threadOf(ctx: Context): number | undefined {
  const message = ctx.msg;
  return message && "is_topic_message" in message && message.is_topic_message
    ? message.message_thread_id
    : undefined;
}

/** Answers strangers once per run (with their id, so the owner can add them); silence after. */
async function refuse(ctx: Context, refused: Set<number>): Promise<void> {
  if (ctx.callbackQuery) {
    await ctx.answerCallbackQuery("You are not allowed to use this bot.");
    return;
  }
  const userId = ctx.from?.id;
  if (
    userId === undefined || ctx.chat?.type !== "private" || refused.has(userId)
  ) return;
  refused.add(userId);
  await ctx.reply(
    `Sorry, this bot is private. Your Telegram user id is ${userId}; the owner can add it to ALLOWED_USER_IDS.`,
  );
}

function stateLabel(view: SessionView): string {
  switch (view.state) {
    case "busy":
      return "LIVE, working";
    case "running":
      return "LIVE";
    case "suspended":
      return "IDLE (suspended)";
  }
}

function personaLabel(view: SessionView): string {
  return view.personaName ??
    (view.systemPrompt ? truncate(view.systemPrompt, 40) : "");
}

function unknownPersona(text: string, personas: readonly Persona[]): string {
  return `No persona named "${escapeHtml(truncate(text, 40))}". Defined: ${
    personas.map((p) => p.name).join(", ")
  }. Or give a whole sentence to use as the system prompt.`;
}

function messageKind(ctx: Context): string {
  const message = ctx.message ?? {};
  const kinds = [
    "sticker",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
  ];
  return (kinds.find((k) => k in message) ?? "these").replace("_", " ");
}

/** An error for the log: grammY errors carry request URLs with the token, so only their codes and descriptions are kept. */
export function describe(error: unknown): string {
  if (error instanceof GrammyError) {
    return `GrammyError ${error.method}: ${error.error_code} ${error.description}`;
  }
  if (error instanceof HttpError) return `HttpError: ${error.message}`;
  return error instanceof Error
    ? (error.stack ?? error.message)
    : String(error);
}
