// The messages of one turn that change while it runs, paced by the chat's
// outbox: a live preview (a draft, or a message edited in place) and the
// verbose tool log, which continues in a new message when one is full.
import type { Answer } from "./answer.ts";
import type { Clock } from "./clock.ts";
import type { Outbox } from "./outbox.ts";
import { htmlToPlainText } from "./render.ts";
import { splitHtml } from "./split.ts";

/** Telegram refused the message's HTML; the text is resent as plain text. */
export class FormattingRejectedError extends Error {
  override name = "FormattingRejectedError";
}

/** The server has no sendMessageDraft (Bot API before 9.3). */
export class DraftsUnsupportedError extends Error {
  override name = "DraftsUnsupportedError";
}

/** The few Bot API calls a reply makes, bound to one chat (and topic). */
export interface ChatApi {
  /** Whether drafts may be tried: a private chat, on a server not known to lack them. */
  readonly canDraft: boolean;
  /** Sends a message; returns its id. @throws {FormattingRejectedError} */
  sendText(text: string, options: { html: boolean }): Promise<number>;
  /** Edits a message; "not modified" is success. @throws {FormattingRejectedError} */
  editText(
    messageId: number,
    text: string,
    options: { html: boolean },
  ): Promise<void>;
  /**
   * Shows `text` as the chat's draft (sendMessageDraft): a preview that
   * vanishes once the bot sends a message, or after 30 s without an update.
   * @throws {DraftsUnsupportedError} {FormattingRejectedError}
   */
  sendDraft(
    draftId: number,
    text: string,
    options: { html: boolean },
  ): Promise<void>;
  deleteMessage(messageId: number): Promise<void>;
  sendTyping(): Promise<void>;
  sendDocument(
    fileName: string,
    content: string,
    caption: string,
  ): Promise<void>;
}

/** What a view shows and where. */
export interface LiveViewOptions {
  api: ChatApi;
  outbox: Outbox;
  /** The outbox queue (one per chat). */
  chatKey: string;
  clock: Clock;
  /** The preview's inputs, unrendered and cheap: when it is unchanged, nothing is sent. "" for no preview. */
  previewSource: () => string;
  /** The preview as HTML of at most about `maxLength` characters. */
  previewHtml: (maxLength: number) => string;
  log?: (message: string) => void;
}

/** Drafts vanish after 30 s without an update; a long tool run must not lose its status. */
const DRAFT_REFRESH_MS = 20_000;
const PREVIEW_LIMIT = 3_500;
/** A log message's lines; the preview below them gets the rest. */
const LOG_PAGE_LIMIT = 3_000;
const LOG_TAIL_LIMIT = 1_000;

/** One message the view keeps editing: log lines, and the preview when it is the last. */
interface Page {
  readonly index: number;
  lines: string[];
  /** Its message id once sent; undefined if sending failed. */
  id?: Promise<number | undefined>;
  /** Queued to be sent: the send will read the newest lines, so no edit is needed yet. */
  isUnsent: boolean;
  shownHtml?: string;
}

/** The changing part of one turn's messages. */
export class LiveView {
  #options: LiveViewOptions;
  #pages: Page[] = [];
  #isUsingDrafts: boolean;
  readonly #draftId = 1 + Math.floor(Math.random() * 0x7ffffffe);
  #shownDraftHtml = "";
  #lastDraftAtMs = -Infinity;
  /** The state each coalesced update (draft, page edit) was last queued for. */
  #requested = new Map<string, string>();
  #isFinished = false;
  #lastVisibleCallMs = -Infinity;
  readonly #id = crypto.randomUUID();

  constructor(options: LiveViewOptions) {
    this.#options = options;
    this.#isUsingDrafts = options.api.canDraft;
  }

  /** Shows the current preview: as a draft, or in the last message. */
  refresh(): void {
    if (this.#isFinished) return;
    const source = this.#options.previewSource();
    if (this.#isUsingDrafts) {
      this.#request("draft", source, () => this.#showDraft());
      return;
    }
    const page = this.#pages.at(-1);
    if (page) this.#showPage(page);
    else if (source) this.#showPage(this.#newPage());
  }

  /**
   * Appends a log line; a full page continues in a new message, so no line
   * is lost. `reserveChars` must also fit on the page (a result to come).
   */
  addLine(html: string, reserveChars = 0): void {
    for (const piece of splitHtml(html, { maxLength: LOG_PAGE_LIMIT })) {
      const last = this.#pages.at(-1);
      const isFull = last !== undefined && last.lines.length > 0 &&
        last.lines.join("\n").length + piece.length + reserveChars >=
          LOG_PAGE_LIMIT;
      const page = !last || isFull ? this.#newPage() : last;
      // The full page's last edit drops the preview, now on the new page.
      if (isFull) this.#showPage(last);
      page.lines.push(piece);
      this.#showPage(page);
    }
  }

  /** Sends a draft again before Telegram lets it expire; call every few seconds. */
  keepDraftAlive(): void {
    const nowMs = this.#options.clock.now();
    if (
      !this.#isUsingDrafts || !this.#shownDraftHtml ||
      nowMs - this.#lastDraftAtMs < DRAFT_REFRESH_MS
    ) return;
    this.#forgetDraft();
    this.refresh();
  }

  /** Sends a message after everything queued before it; a failure is logged. */
  async post(html: string): Promise<void> {
    await this.#enqueue(async () => {
      await this.#send(html);
      this.#redraftAfterSend();
    });
  }

  /**
   * Ends the preview and delivers the answer below the log; a message that
   * only ever held the preview becomes the answer's first message.
   */
  async finish({ messages, attachment }: Answer): Promise<void> {
    // A page still being sent must show up before it can turn into the answer.
    await Promise.all(this.#pages.map((page) => page.id));
    this.#isFinished = true;
    const rest = [...messages];
    const last = this.#pages.at(-1);
    const sent: Promise<unknown>[] = [];
    const messageId = await last?.id;
    if (last && last.lines.length === 0 && messageId !== undefined) {
      const first = rest.shift();
      const { api } = this.#options;
      sent.push(this.#enqueue(async () => {
        if (first === undefined) await api.deleteMessage(messageId);
        else if (first !== last.shownHtml) await this.#edit(messageId, first);
      }, `page:${last.index}`));
    } else if (last) this.#showPage(last);
    for (const [index, html] of rest.entries()) {
      // The first message takes the place of a queued draft, which it would
      // clear anyway; every page was sent already, so the order holds.
      const key = index === 0 ? "draft" : undefined;
      sent.push(this.#enqueue(() => this.#send(html), key));
    }
    if (attachment !== undefined) {
      sent.push(this.#enqueue(() =>
        this.#options.api.sendDocument(
          "answer.md",
          attachment,
          "The full answer",
        )
      ));
    }
    await Promise.all(sent);
  }

  #previewHtml(page?: Page): string {
    if (this.#isFinished || !this.#options.previewSource()) return "";
    const isBelowLog = page !== undefined && page.lines.length > 0;
    return this.#options.previewHtml(
      isBelowLog ? LOG_TAIL_LIMIT : PREVIEW_LIMIT,
    );
  }

  #isLive(page: Page): boolean {
    return !this.#isUsingDrafts && page === this.#pages.at(-1);
  }

  #pageHtml(page: Page): string {
    const preview = this.#isLive(page) ? this.#previewHtml(page) : "";
    return [page.lines.join("\n"), preview].filter(Boolean).join("\n\n");
  }

  #pageSource(page: Page): string {
    const preview = this.#isLive(page) && !this.#isFinished
      ? this.#options.previewSource()
      : "";
    return `${page.lines.length}\0${preview}`;
  }

  /**
   * Queues an update under `key` unless nothing changed since the last one was
   * queued: that one reads the newest state when it runs. A no-op call would
   * still take one of the chat's paced slots.
   */
  #request(key: string, source: string, call: () => Promise<void>): void {
    if (this.#requested.get(key) === source) return;
    this.#requested.set(key, source);
    this.#enqueue(call, key);
  }

  #newPage(): Page {
    const page = { index: this.#pages.length, lines: [], isUnsent: false };
    this.#pages.push(page);
    return page;
  }

  /** Sends the page, or queues an edit; edits of one page coalesce, and each reads the page when it runs. */
  #showPage(page: Page): void {
    const key = `page:${page.index}`;
    if (!page.id) {
      page.isUnsent = true;
      page.id = this.#enqueue(async () => {
        page.isUnsent = false;
        this.#requested.set(key, this.#pageSource(page));
        const html = this.#pageHtml(page);
        const id = await this.#send(html);
        page.shownHtml = html;
        this.#redraftAfterSend();
        return id;
      });
      return;
    }
    if (page.isUnsent) return;
    const id = page.id;
    this.#request(key, this.#pageSource(page), async () => {
      const messageId = await id;
      const html = this.#pageHtml(page);
      if (messageId === undefined || !html || html === page.shownHtml) return;
      await this.#edit(messageId, html);
      page.shownHtml = html;
    });
  }

  async #showDraft(): Promise<void> {
    const html = this.#previewHtml();
    const isStale = this.#isFinished || !this.#isUsingDrafts;
    if (isStale || html === this.#shownDraftHtml) return;
    const { api } = this.#options;
    try {
      try {
        await api.sendDraft(this.#draftId, html, { html: true });
      } catch (error) {
        if (!(error instanceof FormattingRejectedError)) throw error;
        await api.sendDraft(this.#draftId, htmlToPlainText(html), {
          html: false,
        });
      }
      this.#shownDraftHtml = html;
      this.#lastDraftAtMs = this.#options.clock.now();
    } catch (error) {
      // Edits of one message show the same preview, only less smoothly.
      this.#options.log?.(
        `Drafts failed in chat ${this.#options.chatKey}, editing instead: ${error}`,
      );
      this.#isUsingDrafts = false;
      this.refresh();
    }
  }

  /** Telegram clears the draft when the bot sends a message: show it again. */
  #redraftAfterSend(): void {
    this.#forgetDraft();
    if (this.#isUsingDrafts) this.refresh();
  }

  #forgetDraft(): void {
    this.#shownDraftHtml = "";
    this.#requested.delete("draft");
  }

  /** Sends HTML, falling back to its plain text when Telegram refuses the formatting. */
  async #send(html: string): Promise<number | undefined> {
    try {
      return await this.#options.api.sendText(html, { html: true });
    } catch (error) {
      if (!(error instanceof FormattingRejectedError)) throw error;
      this.#options.log?.(
        `Telegram refused formatting, sending plain text: ${error.message}`,
      );
      return await this.#options.api.sendText(htmlToPlainText(html), {
        html: false,
      });
    }
  }

  async #edit(messageId: number, html: string): Promise<void> {
    try {
      await this.#options.api.editText(messageId, html, { html: true });
    } catch (error) {
      if (!(error instanceof FormattingRejectedError)) throw error;
      await this.#options.api.editText(messageId, htmlToPlainText(html), {
        html: false,
      });
    }
  }

  /** When this view last sent, edited or drafted something (clock ms). */
  get lastVisibleCallMs(): number {
    return this.#lastVisibleCallMs;
  }

  /** Queues a call on the chat's outbox; a failure is logged, never thrown, so the turn goes on. */
  #enqueue<T>(
    call: () => Promise<T>,
    replaceKey?: string,
  ): Promise<T | undefined> {
    const key = replaceKey && `${replaceKey}:${this.#id}`;
    return this.#options.outbox.enqueue(
      this.#options.chatKey,
      () => {
        this.#lastVisibleCallMs = this.#options.clock.now();
        return call();
      },
      key ? { replaceKey: key } : undefined,
    ).catch((error) => {
      this.#options.log?.(
        `Sending to chat ${this.#options.chatKey} failed: ${error}`,
      );
      return undefined;
    });
  }
}
