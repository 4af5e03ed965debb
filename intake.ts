// From a journaled user message to a session turn: per-chat arrival order,
// file downloads into the inbox, the reply sink, and recovery after a crash.
import type { Api } from "grammy";
import type { Approvals } from "./approvals.ts";
import { chatApi, DraftSupport } from "./chat_api.ts";
import { truncate } from "./format.ts";
import type { Clock } from "./clock.ts";
import { saveToInbox } from "./inbox.ts";
import type { InboundJournal, JournalEntry } from "./journal.ts";
import { KeyedLock } from "./lock.ts";
import type { Outbox } from "./outbox.ts";
import { escapeHtml } from "./render.ts";
import type { ChatApi } from "./live_view.ts";
import { TelegramReply } from "./reply.ts";
import { ShuttingDownError } from "./session_errors.ts";
import { sessionNameFrom } from "./session_settings.ts";
import type { SessionManager } from "./sessions.ts";
import type { TurnInput, TurnSink } from "./turn.ts";

/** A file over MAX_UPLOAD_MB. */
export class FileTooLargeError extends Error {
  override name = "FileTooLargeError";
}

/** Telegram did not hand over a file. */
export class FileDownloadError extends Error {
  override name = "FileDownloadError";
}

/** What the intake needs. */
export interface IntakeOptions {
  api: Api;
  sessions: SessionManager;
  journal: InboundJournal;
  approvals: Approvals;
  outbox: Outbox;
  clock: Clock;
  /** Bot API base URL and token, for file downloads. */
  apiRoot: string;
  botToken: string;
  maxUploadBytes: number;
  /** The one error → chat text mapping (error_text.ts). */
  errorText: (error: unknown) => string;
  log: (message: string) => void;
}

/** Callback data of the Retry button: the prefix, then the update id. */
export const RETRY_PREFIX = "retry:";

/** Images up to this size also reach Claude as image blocks, not only as files. */
const MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 120_000;

/** Runs journaled messages as turns, in arrival order per chat. */
export class TurnIntake {
  #options: IntakeOptions;
  #order = new KeyedLock<string>();
  #drafts = new DraftSupport();
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
    const { journal } = this.#options;
    for (const entry of journal.list("running")) {
      // Marked only once the notice is out: a crash before that sends it
      // again at the next start, where marking first would lose it for good.
      await this.#options.outbox.enqueue(
        entry.chatKey,
        () =>
          this.#options.api.sendMessage(
            entry.chatId,
            `⚠️ The bot restarted while Claude was working on your message “${
              escapeHtml(truncate(describeInput(entry), 80))
            }”. It was not run again, because Claude may already have run tools. Tap Retry (or send /retry) to send it again.`,
            {
              parse_mode: "HTML",
              message_thread_id: entry.threadId,
              reply_markup: {
                inline_keyboard: [[{
                  text: "Retry",
                  callback_data: `${RETRY_PREFIX}${entry.id}`,
                }]],
              },
            },
          ),
      ).catch((error) =>
        // /retry still works; a chat that refuses the notice must not keep
        // the bot from starting.
        this.#options.log(
          `Cannot send the notice about interrupted message ${entry.id} to chat ${entry.chatKey}: ${error}`,
        )
      );
      await journal.mark(entry.id, "interrupted");
    }
    for (const entry of journal.list("queued")) this.accept(entry);
  }

  /**
   * Sends an interrupted message again (the Retry button, or /retry for the
   * chat's latest). Returns false when there is nothing to retry.
   */
  async retry(chatKey: string, id?: number): Promise<boolean> {
    const { journal } = this.#options;
    const entry = id === undefined
      ? journal.list("interrupted").filter((e) => e.chatKey === chatKey).at(-1)
      : journal.get(id);
    if (!entry || entry.chatKey !== chatKey || entry.state !== "interrupted") {
      return false;
    }
    await journal.mark(entry.id, "queued");
    this.accept({ ...entry, state: "queued" });
    return true;
  }

  async #start(entry: JournalEntry): Promise<void> {
    const { sessions, journal, outbox, log } = this.#options;
    const api = this.#chat(entry);
    const fail = (error: unknown) =>
      outbox.enqueue(
        entry.chatKey,
        () => api.sendText(this.#options.errorText(error), { html: true }),
      );
    let view;
    let input: TurnInput;
    try {
      // In a forum topic the first message names the session after the topic.
      view = await sessions.ensureActive(entry.chatKey, {
        newName: entry.topicName === undefined
          ? undefined
          : sessionNameFrom(entry.topicName) ?? `topic-${entry.threadId}`,
      });
      input = await this.#prepare(entry, view.workDir);
    } catch (error) {
      try {
        await fail(error);
      } finally {
        await journal.mark(entry.id, "done");
      }
      return;
    }
    const reply = new TelegramReply({
      api,
      outbox,
      chatKey: entry.chatKey,
      clock: this.#options.clock,
      mode: view.outputMode,
      log,
    });
    this.#activeReplies++;
    reply.delivered.finally(() => this.#activeReplies--);
    const { approvals } = this.#options;
    const target = {
      chatKey: entry.chatKey,
      chatId: entry.chatId,
      threadId: entry.threadId,
      session: view.name,
    };
    const sink: TurnSink = {
      update(update) {
        if (
          update.type === "event" && update.event.type === "permission_request"
        ) {
          approvals.request(target, update.event).catch((error) =>
            log(`Cannot ask chat ${target.chatKey} for approval: ${error}`)
          );
        }
        if (update.type === "done") {
          approvals.endTurn(target.chatKey, target.session).catch((error) =>
            log(`Cannot close approvals in chat ${target.chatKey}: ${error}`)
          );
        }
        reply.update(update);
      },
    };
    sessions.send(entry.chatKey, {
      session: view.name,
      input,
      sink,
      beforeStart: () => journal.mark(entry.id, "running"),
    }).then(
      async (outcome) => {
        // Done only once the answer is out: a crash before that leaves the
        // entry running, so the next start offers Retry instead of silence.
        await reply.delivered;
        // Cut short by a shutdown, the entry stays as it is: the next start
        // replays it (queued) or offers Retry (running).
        const isCutShort = outcome.kind === "cancelled" ||
          outcome.kind === "interrupted";
        if (isCutShort && sessions.isShuttingDown) return;
        await journal.mark(entry.id, "done");
      },
      async (error) => {
        reply.update({ type: "done", outcome: { kind: "cancelled" } });
        if (error instanceof ShuttingDownError) return;
        try {
          await fail(error);
        } finally {
          await journal.mark(entry.id, "done");
        }
      },
    ).catch((error) => log(`Turn in chat ${entry.chatKey} failed: ${error}`));
  }

  /** Turns a journal entry into Claude's input; files are downloaded into the inbox first. */
  async #prepare(entry: JournalEntry, workDir: string): Promise<TurnInput> {
    const { input } = entry;
    const caption = input.kind === "text" || !input.caption
      ? ""
      : `\n${input.caption}`;
    switch (input.kind) {
      case "text":
        return { text: input.text };
      case "photo": {
        const bytes = await this.#download(input.fileId, input.size);
        const path = await saveToInbox(
          workDir,
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
        const bytes = await this.#download(input.fileId, input.size);
        const path = await saveToInbox(workDir, input.fileName, bytes);
        return {
          text:
            `[The user sent a file, saved as ${path} (${bytes.length} bytes)]${caption}`,
        };
      }
    }
  }

  async #download(fileId: string, size?: number): Promise<Uint8Array> {
    const limit = this.#options.maxUploadBytes;
    if (size !== undefined && size > limit) {
      throw new FileTooLargeError(
        `Cannot accept a file of ${size} bytes: the limit is ${limit}`,
      );
    }
    const file = await this.#options.api.getFile(fileId);
    if (!file.file_path) {
      throw new FileDownloadError(
        `Cannot download file "${fileId}": Telegram gave no file path`,
      );
    }
    const { apiRoot, botToken } = this.#options;
    const response = await fetch(
      `${apiRoot}/file/bot${botToken}/${file.file_path}`,
      { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) },
    );
    if (!response.ok) {
      await response.body?.cancel();
      throw new FileDownloadError(
        `Cannot download file "${fileId}": status ${response.status}`,
      );
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.length > limit) {
      throw new FileTooLargeError(
        `Cannot accept a file of ${bytes.length} bytes: the limit is ${limit}`,
      );
    }
    return bytes;
  }

  #chat(entry: JournalEntry): ChatApi {
    return chatApi(this.#options.api, {
      chatId: entry.chatId,
      threadId: entry.threadId,
      drafts: this.#drafts,
    });
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
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
