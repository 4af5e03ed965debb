// From a journaled user message to a session turn: per-chat arrival order,
// file downloads into the inbox, the turn's updates into its reply, and
// recovery after a crash.
import type { Approvals } from "./approvals.ts";
import type { Clock } from "./clock.ts";
import type { TranscriptionConfig } from "./config.ts";
import { truncate } from "./format.ts";
import { saveUpload } from "./inbox.ts";
import type { InboundJournal, JournalEntry } from "./journal.ts";
import type { ChatApi } from "./chat_port.ts";
import { KeyedLock } from "./lock.ts";
import type { Outbox } from "./outbox.ts";
import { escapeHtml } from "./render.ts";
import { TelegramReply } from "./reply.ts";
import { withQuote } from "./reply_context.ts";
import { ShuttingDownError } from "./session_errors.ts";
import { sessionNameFrom } from "./session_settings.ts";
import type { SessionRegistry } from "./sessions.ts";
import type {
  OutputMode,
  TurnInput,
  TurnOutcome,
  TurnUpdates,
} from "./turn.ts";
import { TranscriptionError } from "./transcribe.ts";
import { transcribeVoice, transcriptHtml } from "./voice.ts";

/** A file over MAX_UPLOAD_MB. */
export class FileTooLargeError extends Error {
  override name = "FileTooLargeError";
}

/** Telegram did not hand over a file. */
export class FileDownloadError extends Error {
  override name = "FileDownloadError";
}

/** Where a chat's files come from (Telegram, at the edge). */
export interface FileSource {
  /**
   * The file's bytes.
   * @param size the size Telegram announced, checked before downloading
   * @throws {FileTooLargeError} {FileDownloadError}
   */
  download(fileId: string, size?: number): Promise<Uint8Array>;
}

/** Where a message was posted: a chat, and a forum topic in it. */
export interface ChatTarget {
  chatId: number;
  threadId?: number;
}

/** What the intake needs. */
export interface IntakeOptions {
  sessions: SessionRegistry;
  journal: InboundJournal;
  approvals: Approvals;
  outbox: Outbox;
  clock: Clock;
  /** The API of one chat (or topic), made at the edge. */
  chats: (target: ChatTarget) => ChatApi;
  files: FileSource;
  /** Where voice notes are transcribed; undefined: voice is off. */
  transcription?: TranscriptionConfig;
  /** The one error → chat text mapping (error_text.ts). */
  errorText: (error: unknown) => string;
  log: (message: string) => void;
}

/** Callback data of the Retry button: the prefix, then the update id. */
export const RETRY_PREFIX = "retry:";

/** Images up to this size also reach Claude as image blocks, not only as files. */
const MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024;

/** Runs journaled messages as turns, in arrival order per chat. */
export class TurnIntake {
  #options: IntakeOptions;
  /** Serialises what a chat sent: each message reaches its session in order. */
  #order = new KeyedLock<string>();
  #activeReplies = 0;

  constructor(options: IntakeOptions) {
    this.#options = options;
  }

  /** Replies still being delivered. */
  get activeReplies(): number {
    return this.#activeReplies;
  }

  /**
   * Runs `task` after everything that arrived earlier in the chat was handed
   * to its session (so "/new x" then a message sends the message to x).
   */
  inOrder(chatKey: string, task: () => Promise<void>): void {
    this.#order.run(chatKey, task).catch((error) =>
      this.#options.log(`Chat ${chatKey}: ${error?.stack ?? error}`)
    );
  }

  /** Starts the turn of a journaled (queued) message, without waiting for it. */
  accept(entry: JournalEntry): void {
    this.inOrder(entry.chatKey, () => this.#start(entry));
  }

  /**
   * After a restart: replays queued messages in order, and tells the user
   * which ones were interrupted (Claude may have run tools, so they are not
   * re-run blindly) with a Retry button.
   */
  async recover(): Promise<void> {
    const { journal, log } = this.#options;
    for (const entry of journal.list("running")) {
      // Marked only once the notice is out: a crash before that sends it
      // again at the next start, where marking first would lose it for good.
      await this.#say(
        entry,
        `⚠️ The bot restarted while Claude was working on your message “${
          escapeHtml(truncate(describeInput(entry), 80))
        }”. It was not run again, because Claude may already have run tools. Tap Retry (or send /retry) to send it again.`,
        retryButtons(entry.id),
      ).catch((error) =>
        // /retry still works; a chat that refuses the notice must not keep
        // the bot from starting.
        log(
          `Cannot send the notice about interrupted message ${entry.id} to chat ${entry.chatKey}: ${error}`,
        )
      );
      await journal.interrupt(entry.id);
    }
    for (const entry of journal.list("queued")) this.accept(entry);
  }

  /**
   * Sends an interrupted message again (the Retry button, or /retry for the
   * chat's latest). Returns false when there is nothing to retry.
   */
  async retry(chatKey: string, id?: number): Promise<boolean> {
    const entry = await this.#options.journal.requeue(chatKey, id);
    if (entry) this.accept(entry);
    return entry !== undefined;
  }

  async #start(entry: JournalEntry): Promise<void> {
    const { sessions } = this.#options;
    let updates: TurnUpdates;
    let reply: TelegramReply;
    let session: string;
    try {
      // In a forum topic the first message names the session after the topic.
      const view = await sessions.ensureActive(entry.chatKey, {
        newName: entry.topicName === undefined
          ? undefined
          : sessionNameFrom(entry.topicName) ?? `topic-${entry.threadId}`,
      });
      const prepared = await this.#prepare(entry, view);
      const input = {
        ...prepared,
        text: withQuote(entry.replyTo, prepared.text),
      };
      session = view.name;
      updates = sessions.send(entry.chatKey, { session, input });
      reply = this.#reply(entry, view.outputMode);
    } catch (error) {
      if (error instanceof ShuttingDownError) return;
      await this.#refuse(entry, error);
      return;
    }
    // Not awaited: the chat's next message may queue behind this turn now.
    this.#follow(entry, { updates, reply, session }).catch((error) =>
      this.#options.log(`Turn in chat ${entry.chatKey} failed: ${error}`)
    );
  }

  /** Pulls the turn's updates into its reply and approvals; the journal follows the turn. */
  async #follow(
    entry: JournalEntry,
    turn: { updates: TurnUpdates; reply: TelegramReply; session: string },
  ): Promise<void> {
    const { journal, approvals, sessions, log } = this.#options;
    const { reply } = turn;
    const target = { ...entry, session: turn.session };
    let outcome: TurnOutcome = { kind: "cancelled" };
    try {
      for await (const update of turn.updates) {
        if (update.type === "starting") {
          // Before Claude gets the message: a crash from here on offers Retry.
          await journal.start(entry.id);
          continue;
        }
        if (
          update.type === "event" && update.event.type === "permission_request"
        ) {
          approvals.request(target, update.event).catch((error) =>
            log(`Cannot ask chat ${entry.chatKey} for approval: ${error}`)
          );
        }
        if (update.type === "done") outcome = update.outcome;
        reply.update(update);
      }
    } catch (error) {
      reply.update({ type: "done", outcome });
      await this.#refuse(entry, error);
      return;
    } finally {
      approvals.endTurn(entry.chatKey, turn.session).catch((error) =>
        log(`Cannot close approvals in chat ${entry.chatKey}: ${error}`)
      );
    }
    // Done only once the answer is out: a crash before that leaves the
    // entry running, so the next start offers Retry instead of silence.
    await reply.delivered;
    // Cut short by a shutdown, the entry stays as it is: the next start
    // replays it (queued) or offers Retry (running).
    const isCutShort = outcome.kind === "cancelled" ||
      outcome.kind === "interrupted";
    if (isCutShort && sessions.isShuttingDown) return;
    await journal.finish(entry.id);
  }

  /**
   * Tells the chat why its message was not run, and closes the entry; a
   * failed transcription instead waits for Retry, which transcribes again.
   */
  async #refuse(entry: JournalEntry, error: unknown): Promise<void> {
    const { errorText, journal } = this.#options;
    if (error instanceof TranscriptionError) {
      // Through running, the one way into interrupted, from where Retry
      // requeues it; nothing reached Claude.
      await journal.start(entry.id);
      await journal.interrupt(entry.id);
      await this.#say(
        entry,
        `${errorText(error)} Tap Retry (or send /retry) to try again.`,
        retryButtons(entry.id),
      );
      return;
    }
    try {
      await this.#say(entry, errorText(error));
    } finally {
      await journal.finish(entry.id);
    }
  }

  /** Sends chat HTML to the entry's chat (or topic), in the outbox's order. */
  async #say(
    entry: JournalEntry,
    html: string,
    buttons?: { text: string; data: string }[][],
  ): Promise<void> {
    const { outbox, chats } = this.#options;
    await outbox.enqueue(
      entry.chatKey,
      () => chats(entry).sendText(html, { html: true, buttons }),
    );
  }

  #reply(entry: JournalEntry, mode: OutputMode): TelegramReply {
    const reply = new TelegramReply({
      api: this.#options.chats(entry),
      outbox: this.#options.outbox,
      chatKey: entry.chatKey,
      clock: this.#options.clock,
      mode,
      log: this.#options.log,
    });
    this.#activeReplies++;
    reply.delivered.finally(() => this.#activeReplies--);
    return reply;
  }

  /** Turns a journal entry into Claude's input; files are saved in the session's upload folder first. */
  async #prepare(
    entry: JournalEntry,
    session: { workDir: string; uploadDir?: string },
  ): Promise<TurnInput> {
    const { input } = entry;
    const { files } = this.#options;
    const caption = input.kind === "text" || !input.caption
      ? ""
      : `\n${input.caption}`;
    switch (input.kind) {
      case "text":
        return { text: input.text };
      case "photo": {
        const bytes = await files.download(input.fileId, input.size);
        const path = await saveUpload(
          session,
          `photo-${input.fileUniqueId}.jpg`,
          bytes,
        );
        return {
          text: `[The user sent a photo, saved as ${path}]${caption}`,
          images: bytes.length <= MAX_INLINE_IMAGE_BYTES
            ? [{ mediaType: "image/jpeg", base64: toBase64(bytes) }]
            : undefined,
        };
      }
      case "document": {
        const bytes = await files.download(input.fileId, input.size);
        const path = await saveUpload(session, input.fileName, bytes);
        return {
          text:
            `[The user sent a file, saved as ${path} (${bytes.length} bytes)]${caption}`,
        };
      }
      case "voice": {
        const transcript = await transcribeVoice(input, this.#options);
        // Before the turn, so the user sees what Claude will read; a chat
        // that refuses the quote still gets its answer.
        await this.#say(entry, transcriptHtml(transcript)).catch((error) =>
          this.#options.log(
            `Cannot show the transcript in chat ${entry.chatKey}: ${error}`,
          )
        );
        return { text: `${transcript}${caption}` };
      }
    }
  }
}

function describeInput(entry: JournalEntry): string {
  const { input } = entry;
  switch (input.kind) {
    case "text":
      return input.text;
    case "photo":
      return `a photo${input.caption ? `: ${input.caption}` : ""}`;
    case "document":
      return `the file ${input.fileName}`;
    case "voice":
      return `a voice note${input.caption ? `: ${input.caption}` : ""}`;
  }
}

function retryButtons(id: number): { text: string; data: string }[][] {
  return [[{ text: "Retry", data: `${RETRY_PREFIX}${id}` }]];
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
