// The calls one turn makes to its chat: the ChatApi port (chat_api.ts binds
// grammY to it), and TurnCalls, which queues them on the chat's outbox with
// a plain-text fallback when Telegram refuses the HTML.
import type { Clock } from "./clock.ts";
import type { Outbox } from "./outbox.ts";
import type { CallKind } from "./pacing.ts";
import { htmlToPlainText } from "./render.ts";

/** Telegram refused the message's HTML; the text is resent as plain text. */
export class FormattingRejectedError extends Error {
  override name = "FormattingRejectedError";
}

/** The server has no sendMessageDraft (Bot API before 9.3). */
export class DraftsUnsupportedError extends Error {
  override name = "DraftsUnsupportedError";
}

/** An inline keyboard button: its label and its callback data. */
export interface InlineButton {
  text: string;
  data: string;
}

/** The few Bot API calls a reply makes, bound to one chat (and topic). */
export interface ChatApi {
  /** Whether drafts may be tried: a private chat, on a server not known to lack them. */
  readonly canDraft: boolean;
  /** Sends a message; returns its id. @throws {FormattingRejectedError} */
  sendText(
    text: string,
    options: { html: boolean; buttons?: InlineButton[][] },
  ): Promise<number>;
  /** Edits a message; "not modified" is success. @throws {FormattingRejectedError} */
  editText(
    messageId: number,
    text: string,
    options: { html: boolean },
  ): Promise<void>;
  /**
   * Shows `text` as the chat's draft (sendMessageDraft): a preview that
   * vanishes once the bot sends a message, or after 30 s without an update.
   * `signal` ends a call still running (or waiting out a 429) when the
   * answer is ready: a late draft would show up again under it.
   * @throws {DraftsUnsupportedError} {FormattingRejectedError}
   */
  sendDraft(
    draftId: number,
    text: string,
    options: { html: boolean; signal?: AbortSignal },
  ): Promise<void>;
  deleteMessage(messageId: number): Promise<void>;
  sendTyping(): Promise<void>;
  /** Sends a file: `content` as UTF-8 text, or bytes; the caption is plain text. */
  sendDocument(
    fileName: string,
    content: string | Uint8Array,
    caption: string,
  ): Promise<void>;
}

/** Where a turn's calls go. */
export interface TurnCallsOptions {
  api: ChatApi;
  outbox: Outbox;
  /** The chat's outbox key: "chatId", or "chatId:threadId" in a topic. */
  chatKey: string;
  clock: Clock;
  log?: (message: string) => void;
}

/** One turn's calls to its chat, queued on the outbox. */
export class TurnCalls {
  readonly api: ChatApi;
  readonly #options: TurnCallsOptions;
  readonly #id = crypto.randomUUID();
  #lastCallMs = -Infinity;
  /** The state each coalesced update was last queued for. */
  #requested = new Map<string, string>();

  constructor(options: TurnCallsOptions) {
    this.api = options.api;
    this.#options = options;
  }

  /** When the last of these calls started (clock ms). */
  get lastCallMs(): number {
    return this.#lastCallMs;
  }

  /**
   * Queues a call on the chat's outbox; a failure is logged, never thrown, so
   * the turn goes on. `replaceKey` is scoped to this turn: it never replaces
   * another turn's call.
   */
  enqueue<T>(
    call: () => Promise<T>,
    options: { replaceKey?: string; kind?: CallKind } = {},
  ): Promise<T | undefined> {
    const { outbox, chatKey, clock, log } = this.#options;
    return outbox.enqueue(chatKey, () => {
      this.#lastCallMs = clock.now();
      return call();
    }, {
      kind: options.kind,
      replaceKey: options.replaceKey && this.#scoped(options.replaceKey),
    }).catch((error) => {
      log?.(`Sending to chat ${chatKey} failed: ${error}`);
      return undefined;
    });
  }

  /**
   * Queues an update under `key` unless nothing changed since the last one
   * was queued (`source` is the same): that one reads the newest state when
   * it runs, and a no-op call would still take one of the chat's paced slots.
   */
  request(
    key: string,
    source: string,
    kind: CallKind,
    call: () => Promise<void>,
  ): void {
    // Of another kind, the queued update moves (a preview edit becomes part
    // of the answer and must go before it).
    const state = `${kind}\0${source}`;
    if (this.#requested.get(key) === state) return;
    this.#requested.set(key, state);
    this.enqueue(call, { replaceKey: key, kind });
  }

  /**
   * Records what the update under `key` shows now, as if queued as `kind`;
   * undefined forgets it, so the next request is queued.
   */
  requested(key: string, shown?: { source: string; kind: CallKind }): void {
    if (shown === undefined) this.#requested.delete(key);
    else this.#requested.set(key, `${shown.kind}\0${shown.source}`);
  }

  /** Logs a line about this chat. */
  log(message: string): void {
    this.#options.log?.(`Chat ${this.#options.chatKey}: ${message}`);
  }

  /** Drops this turn's queued call of `replaceKey`, if it has not started. */
  cancel(replaceKey: string): void {
    this.#options.outbox.cancel(
      this.#options.chatKey,
      this.#scoped(replaceKey),
    );
  }

  /** Sends HTML, or its plain text when Telegram refuses the formatting. */
  async send(html: string): Promise<number> {
    try {
      return await this.api.sendText(html, { html: true });
    } catch (error) {
      if (!(error instanceof FormattingRejectedError)) throw error;
      this.#options.log?.(
        `Telegram refused formatting, sending plain text: ${error.message}`,
      );
      return await this.api.sendText(htmlToPlainText(html), { html: false });
    }
  }

  /** Edits a message to HTML, or to its plain text when Telegram refuses the formatting. */
  async edit(messageId: number, html: string): Promise<void> {
    try {
      await this.api.editText(messageId, html, { html: true });
    } catch (error) {
      if (!(error instanceof FormattingRejectedError)) throw error;
      await this.api.editText(messageId, htmlToPlainText(html), {
        html: false,
      });
    }
  }

  #scoped(replaceKey: string): string {
    return `${replaceKey}:${this.#id}`;
  }
}
