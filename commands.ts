// The bot's Telegram face: wires updates to access control, the chat
// commands, the message intake and the buttons; answers through the outbox.
import { Bot, type Context } from "grammy";
import { AccessControl } from "./access_control.ts";
import { APPROVAL_PREFIX, Approvals } from "./approvals.ts";
import { ChatCommands, IN_ORDER_COMMANDS } from "./chat_commands.ts";
import { errorText } from "./error_text.ts";
import { truncate } from "./format.ts";
import type { Clock } from "./clock.ts";
import type { TranscriptionConfig } from "./config.ts";
import {
  chatApi,
  describeError,
  DraftSupport,
  telegramFiles,
} from "./chat_api.ts";
import { RETRY_PREFIX, TurnIntake } from "./intake.ts";
import {
  chatKeyOf as chatKey,
  type InboundJournal,
  type JournalInput,
} from "./journal.ts";
import type { Outbox } from "./outbox.ts";
import type { Persona } from "./personas.ts";
import { TurnCalls } from "./chat_port.ts";
import { type CommandReply, sendCommandReply } from "./command_reply.ts";
import {
  PROJECT_BUTTONS,
  PROJECT_COMMANDS,
  type ProjectCommands,
} from "./project_commands.ts";
import { escapeHtml } from "./render.ts";
import { quotedText } from "./reply_context.ts";
import { alwaysAllowTool } from "./session_settings.ts";
import type { SessionRegistry } from "./sessions.ts";
import { voiceInput, VoiceNotConfiguredError } from "./voice.ts";

/** What the handlers need. */
export interface CommandsOptions {
  sessions: SessionRegistry;
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
  /** Why CLAUDE_SANDBOX=auto found no sandbox, shown in /sessions. */
  sandboxWarning?: string;
  /** Where voice notes are transcribed; undefined: voice is off. */
  transcription?: TranscriptionConfig;
  /** /projects, /open, /diff, /get, /handoff, /resume and worktrees on /archive. */
  projects: ProjectCommands;
  log: (message: string) => void;
}

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
  const { sessions, projects, log } = options;
  const textOf = (error: unknown) =>
    errorText(error, {
      clock: options.clock,
      maxUploadBytes: options.maxUploadBytes,
      log,
    });
  const drafts = new DraftSupport();
  const chats = (target: { chatId: number; threadId?: number }) =>
    chatApi(bot.api, { ...target, drafts });
  const approvals = new Approvals({
    chatFor: chats,
    outbox: options.outbox,
    sessions: {
      list: (chatKey) => sessions.list(chatKey),
      answerPermission: async (chatKey, name, requestId, decision) =>
        await sessions.find(chatKey, name)?.answerPermission(
          requestId,
          decision,
        ) ?? false,
      alwaysAllow: (chatKey, name, tool) =>
        sessions.configure(chatKey, alwaysAllowTool(tool), name),
    },
    clock: options.clock,
    timeoutMs: options.approvalTimeoutMs,
    log,
  });
  const intake = new TurnIntake({
    sessions,
    approvals,
    journal: options.journal,
    outbox: options.outbox,
    clock: options.clock,
    chats,
    files: telegramFiles(bot.api, options),
    transcription: options.transcription,
    errorText: textOf,
    log,
  });
  const chatCommands = new ChatCommands({
    sessions,
    clock: options.clock,
    personas: options.personas,
    defaultIdleTimeoutMs: options.defaultIdleTimeoutMs,
    dailyBudgetUsd: options.dailyBudgetUsd,
    sandboxWarning: options.sandboxWarning,
  });

  bot.use(async (ctx, next) => {
    // A message already journaled is a redelivery after a crash: its turn
    // was recovered from the journal, so it must not run twice.
    if (options.journal.has(ctx.update.update_id)) return;
    await next();
  });
  const access = new AccessControl(options);
  bot.use((ctx, next) => {
    const decision = access.check({
      userId: ctx.from?.id,
      chatId: ctx.chat?.id,
      chatType: ctx.chat?.type,
      isButton: ctx.callbackQuery !== undefined,
    });
    if (decision.kind === "pass") return next();
    if (decision.toast) inBackground(ctx.answerCallbackQuery(decision.toast));
    if (decision.reply) reply(ctx, escapeHtml(decision.reply));
  });

  /**
   * Answers in the chat without holding up the update loop (no chat waits on
   * another's rate limit): queued on the chat's outbox, split into messages
   * that fit, as plain text when Telegram refuses the HTML; buttons and a
   * document go with it.
   */
  const reply = (ctx: Context, answer: string | CommandReply): void => {
    const calls = new TurnCalls({
      api: chats({ chatId: ctx.chat!.id, threadId: threadOf(ctx) }),
      outbox: options.outbox,
      chatKey: chatKeyOf(ctx),
      clock: options.clock,
      log,
    });
    sendCommandReply(
      calls,
      typeof answer === "string" ? { html: answer } : answer,
    );
  };

  /** Runs a Telegram call that nobody waits for; a failure is logged. */
  const inBackground = (call: Promise<unknown>): void => {
    call.catch((error) => log(`Telegram call failed: ${describeError(error)}`));
  };

  /**
   * Runs a command body in the chat's intake order (so "/new x" then a
   * message sends the message to x) without holding up the update loop;
   * maps known errors to a short reply. `immediate` commands (/stop) skip
   * the queue: they must act while a download or turn start is pending.
   */
  const command = (
    body: (chatKey: string, args: string) => Promise<string | CommandReply>,
    options: { immediate?: boolean } = {},
  ) =>
  (ctx: Context) => {
    const args = typeof ctx.match === "string" ? ctx.match.trim() : "";
    const run = async () => {
      let answer: string | CommandReply;
      try {
        answer = await body(chatKeyOf(ctx), args);
      } catch (error) {
        answer = textOf(error);
      }
      reply(ctx, answer);
    };
    if (options.immediate) {
      run().catch((error) => log(`Command failed: ${describeError(error)}`));
    } else intake.inOrder(chatKeyOf(ctx), run);
  };

  bot.command(
    ["start", "help"],
    command(async () => await chatCommands.help() + projects.help()),
  );
  for (const name of IN_ORDER_COMMANDS) {
    bot.command(
      name,
      command((chatKey, args) =>
        name === "archive" // a branch session's worktree goes with it
          ? projects.archive(chatKey, args, chatCommands)
          : chatCommands[name](chatKey, args)
      ),
    );
  }
  bot.command(
    "stop",
    command((chatKey) => chatCommands.stop(chatKey), { immediate: true }),
  );
  for (const name of PROJECT_COMMANDS) {
    bot.command(
      name,
      command((chatKey, args) => projects[name](chatKey, args)),
    );
  }
  bot.callbackQuery(PROJECT_BUTTONS, (ctx) => {
    inBackground(ctx.answerCallbackQuery());
    const data = ctx.callbackQuery.data;
    command((chatKey) => projects.press(chatKey, data))(ctx);
  });

  bot.callbackQuery(new RegExp(`^${APPROVAL_PREFIX}`), (ctx) => {
    const from = ctx.from;
    const name = from.username ? `@${from.username}` : from.first_name;
    // Not awaited: the answer waits on the session's lock and on Telegram.
    inBackground(
      approvals.press(ctx.callbackQuery.data, chatKeyOf(ctx), { name })
        .then((toast) => ctx.answerCallbackQuery(toast)),
    );
  });

  bot.command(
    "retry",
    command(async (chatKey) =>
      await intake.retry(chatKey)
        ? "Sending your interrupted message again."
        : "There is no interrupted message to retry."
    ),
  );

  bot.callbackQuery(new RegExp(`^${RETRY_PREFIX}(\\d+)$`), (ctx) => {
    const chatKey = chatKeyOf(ctx);
    const id = Number(ctx.match[1]);
    // In the chat's order, like /retry, so two ways of retrying one message
    // cannot both see it interrupted.
    intake.inOrder(chatKey, async () => {
      const isPending = await intake.retry(chatKey, id);
      await ctx.answerCallbackQuery(
        isPending ? "Sending it again" : "This message is no longer pending",
      );
      if (isPending) {
        await ctx.editMessageReplyMarkup({ reply_markup: undefined });
      }
    });
  });

  bot.on("message:text", async (ctx) => {
    const text = ctx.message.text;
    if (text.startsWith("/")) {
      reply(
        ctx,
        `Unknown command ${
          escapeHtml(truncate(text.split(/\s/)[0], 40))
        }. See /help.`,
      );
      return;
    }
    if (text.trim() === "") {
      reply(ctx, "That message is empty; nothing was sent to Claude.");
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

  bot.on(["message:voice", "message:audio"], async (ctx) => {
    // Not journaled: without a transcription service there is nothing to run.
    if (!options.transcription) {
      reply(ctx, textOf(new VoiceNotConfiguredError()));
      return;
    }
    const audio = ctx.message.voice ?? ctx.message.audio!;
    await journalAndAccept(ctx, voiceInput(audio, ctx.message.caption));
  });

  bot.on("message:document", async (ctx) => {
    const document = ctx.message.document;
    // Sent "as a file", a recording is a document; without a transcription
    // service it still reaches Claude as a file.
    if (options.transcription && document.mime_type?.startsWith("audio/")) {
      await journalAndAccept(ctx, voiceInput(document, ctx.message.caption));
      return;
    }
    await journalAndAccept(ctx, {
      kind: "document",
      fileId: document.file_id,
      fileName: document.file_name ?? "document",
      size: document.file_size,
      caption: ctx.message.caption,
    });
  });

  bot.on("edited_message", (ctx) => {
    reply(
      ctx,
      "✏️ Edits are not sent to Claude. Send the corrected message again.",
    );
  });

  bot.on("message", (ctx) => {
    reply(
      ctx,
      `Sorry, ${
        messageKind(ctx)
      } messages are not supported yet. Send text, a voice note, a photo or a document.`,
    );
  });

  bot.catch((error) => {
    log(
      `Update ${error.ctx.update.update_id} failed: ${
        describeError(error.error)
      }`,
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
      replyTo: ctx.msg && quotedText(ctx.msg),
    };
    let journaled;
    try {
      journaled = await options.journal.add(entry);
    } catch (error) {
      reply(ctx, textOf(error));
      return;
    }
    intake.accept(journaled);
  }
}

/** One chat session space: a chat, or a forum topic inside it. */
function chatKeyOf(ctx: Context): string {
  return chatKey(ctx.chat!.id, threadOf(ctx));
}

function threadOf(ctx: Context): number | undefined {
  const message = ctx.msg;
  return message && "is_topic_message" in message && message.is_topic_message
    ? message.message_thread_id
    : undefined;
}

function messageKind(ctx: Context): string {
  const message = ctx.message ?? {};
  const kinds = [
    "sticker",
    "video",
    "video_note",
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
