// Streams one turn into the chat in the session's output mode: a typing
// indicator, a live preview (a draft, or one message edited in place), the
// verbose tool log, then the final answer split into valid messages.
import { humanDuration, usd } from "./format.ts";
import type { Clock } from "./idle_timer.ts";
import type { Outbox } from "./outbox.ts";
import { escapeHtml, htmlToPlainText, renderMarkdown } from "./render.ts";
import type {
  OutputMode,
  TurnOutcome,
  TurnSink,
  TurnUpdate,
} from "./sessions.ts";
import { splitHtml, TELEGRAM_MESSAGE_LIMIT } from "./split.ts";
import type { ClaudeEvent } from "./stream_json.ts";
import { toolLineHtml, toolResultHtml, toolStatus } from "./tool_lines.ts";

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

/** Answers that need more messages than this go out as a first part plus a `.md` file. */
export const MAX_ANSWER_MESSAGES = 3;
/** Telegram's typing indicator lapses after ~5 s. */
const TYPING_REFRESH_MS = 4_000;
/** Drafts vanish after 30 s without an update; a long tool run must not lose its status. */
const DRAFT_REFRESH_MS = 20_000;
const PREVIEW_LIMIT = 3_500;
/** A verbose log message's lines; the streamed text below them gets the rest. */
const LOG_PAGE_LIMIT = 3_000;
const LOG_TAIL_LIMIT = 1_000;
const ATTACHMENT_NOTE_RESERVE = 120;

/** What a reply needs: where to send, how, and at what pace. */
export interface ReplyOptions {
  api: ChatApi;
  outbox: Outbox;
  /** The outbox queue (one per chat). */
  chatKey: string;
  clock: Clock;
  mode: OutputMode;
  log?: (message: string) => void;
}

/** One message this reply keeps editing: verbose log lines, and the live preview when it is the last. */
interface Page {
  readonly index: number;
  lines: string[];
  /** Its message id once sent; undefined if sending failed. */
  id?: Promise<number | undefined>;
  /** Queued to be sent: the send will read the newest lines, so no edit is needed yet. */
  isUnsent: boolean;
  shownHtml?: string;
}

/** One turn's messages in the chat; a TurnSink fed by the session manager. */
export class TelegramReply implements TurnSink {
  #options: ReplyOptions;
  /** Completed text blocks of the turn, in order. */
  #texts: string[] = [];
  /** Index in #texts of the first block after the last tool call. */
  #segmentStart = 0;
  #partial = "";
  #status = "";
  #toolCount = 0;
  #pages: Page[] = [];
  #isUsingDrafts: boolean;
  readonly #draftId = 1 + Math.floor(Math.random() * 0x7ffffffe);
  #shownDraftHtml = "";
  /** The state each coalesced update (draft, page edit) was last queued for. */
  #requested = new Map<string, string>();
  #lastDraftAtMs = -Infinity;
  #isFinished = false;
  #stopTyping?: () => void;
  #done = Promise.withResolvers<void>();
  readonly #id = crypto.randomUUID();

  constructor(options: ReplyOptions) {
    this.#options = options;
    this.#isUsingDrafts = options.api.canDraft;
    this.#typing();
  }

  /** Settles when every message of this turn was delivered (or given up). */
  get delivered(): Promise<void> {
    return this.#done.promise;
  }

  update(update: TurnUpdate): void {
    const { mode } = this.#options;
    switch (update.type) {
      case "resuming": {
        const text = `Resuming session (idle for ${
          humanDuration(update.idleMs)
        })…`;
        if (mode === "verbose") this.#addLogLine(`↻ ${escapeHtml(text)}`);
        if (mode === "normal") this.#status = text;
        this.#refresh();
        break;
      }
      case "history_lost":
        this.#enqueue(() =>
          this.#send(
            "⚠️ The earlier conversation history could not be restored. " +
              "Starting a fresh Claude session in the same folder; your message is answered there.",
          )
        );
        break;
      case "stalled": {
        const text = `⏳ No output from Claude for ${
          humanDuration(update.silentMs)
        }; it may still be working. /stop interrupts it.`;
        if (mode === "verbose") this.#addLogLine(escapeHtml(text));
        if (mode === "normal") this.#status = text;
        if (mode === "quiet") this.#enqueue(() => this.#send(escapeHtml(text)));
        this.#refresh();
        break;
      }
      case "event":
        this.#onEvent(update.event);
        break;
      case "done":
        this.#stopTyping?.();
        this.#finish(update.outcome)
          .catch((error) =>
            this.#options.log?.(
              `Reply to chat ${this.#options.chatKey} failed: ${error}`,
            )
          )
          .finally(() => this.#done.resolve());
        break;
    }
  }

  #onEvent(event: ClaudeEvent): void {
    const isVerbose = this.#options.mode === "verbose";
    switch (event.type) {
      case "text_delta":
        this.#partial += event.text;
        this.#status = "";
        break;
      case "text":
        this.#texts.push(event.text);
        this.#partial = "";
        this.#status = "";
        break;
      case "tool_use": {
        this.#toolCount++;
        if (this.#partial) this.#texts.push(this.#partial);
        this.#partial = "";
        const narration = this.#texts.slice(this.#segmentStart).join("\n\n");
        this.#segmentStart = this.#texts.length;
        if (isVerbose && narration) {
          this.#addLogLine(renderMarkdown(narration));
        }
        if (isVerbose) this.#addLogLine(toolLineHtml(event));
        this.#status = `⚙️ ${toolStatus(event)}${
          this.#toolCount > 1 ? ` (tool ${this.#toolCount})` : ""
        }`;
        break;
      }
      case "tool_result": {
        const excerpt = toolResultHtml(event);
        if (!isVerbose || !excerpt) return;
        this.#addLogLine(excerpt);
        break;
      }
      default:
        return;
    }
    this.#refresh();
  }

  /** The preview's inputs, unrendered, so every event can cheaply tell whether it changed. */
  #previewSource(): { text: string; status: string } {
    const { mode } = this.#options;
    if (this.#isFinished || mode === "quiet") return { text: "", status: "" };
    const texts = mode === "verbose"
      ? this.#texts.slice(this.#segmentStart)
      : this.#texts;
    const text = [...texts, this.#partial].filter(Boolean).join("\n\n");
    return { text, status: mode === "normal" ? this.#status : "" };
  }

  /** The live preview: text streamed so far, and in normal mode the status line. */
  #previewHtml(): string {
    const { text, status } = this.#previewSource();
    const limit = this.#options.mode === "verbose" && !this.#isUsingDrafts
      ? LOG_TAIL_LIMIT
      : PREVIEW_LIMIT;
    const body = text
      ? splitHtml(renderMarkdown(text), { maxLength: limit })
      : [];
    return [
      (body[0] ?? "") + (body.length > 1 ? "\n…" : ""),
      status && `<i>${escapeHtml(status)}</i>`,
    ].filter(Boolean).join("\n\n");
  }

  #isLive(page: Page): boolean {
    return !this.#isUsingDrafts && page === this.#pages.at(-1);
  }

  #pageHtml(page: Page): string {
    return [
      page.lines.join("\n"),
      this.#isLive(page) ? this.#previewHtml() : "",
    ]
      .filter(Boolean).join("\n\n");
  }

  /** Shows the current state: a draft, or an edit of the last page. */
  #refresh(): void {
    if (this.#options.mode === "quiet" || this.#isFinished) return;
    const { text, status } = this.#previewSource();
    if (this.#isUsingDrafts) {
      this.#request("draft", `${text}\0${status}`, () => this.#showDraft());
      return;
    }
    const page = this.#pages.at(-1);
    if (page) this.#showPage(page);
    else if (text || status) this.#showPage(this.#newPage());
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

  /** Appends HTML to the verbose log; a full page continues in a new message, so no line is lost. */
  #addLogLine(html: string): void {
    for (const piece of splitHtml(html, { maxLength: LOG_PAGE_LIMIT })) {
      let page = this.#pages.at(-1);
      if (
        !page ||
        page.lines.join("\n").length + piece.length + 1 > LOG_PAGE_LIMIT
      ) {
        const full = page;
        page = this.#newPage();
        if (full) this.#showPage(full);
      }
      page.lines.push(piece);
      this.#showPage(page);
    }
  }

  #newPage(): Page {
    const page: Page = {
      index: this.#pages.length,
      lines: [],
      isUnsent: false,
    };
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
        // Telegram clears the draft when the bot sends a message.
        this.#shownDraftHtml = "";
        this.#requested.delete("draft");
        if (this.#isUsingDrafts) this.#refresh();
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

  #pageSource(page: Page): string {
    const { text, status } = this.#isLive(page)
      ? this.#previewSource()
      : { text: "", status: "" };
    return `${page.lines.length}\0${text}\0${status}`;
  }

  async #showDraft(): Promise<void> {
    const html = this.#previewHtml();
    if (this.#isFinished || html === this.#shownDraftHtml) return;
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
      this.#refresh();
    }
  }

  async #finish(outcome: TurnOutcome): Promise<void> {
    // A page still being sent must show up before it can turn into the answer.
    await Promise.all(this.#pages.map((page) => page.id));
    this.#isFinished = true;
    const { messages, attachment } = this.#answer(outcome);
    const last = this.#pages.at(-1);
    const sent: Promise<unknown>[] = [];
    if (last?.lines.length === 0) {
      // A page that only ever held the preview becomes the first answer message.
      const messageId = await last.id;
      const first = messages.shift();
      if (messageId === undefined) {
        if (first) messages.unshift(first);
      } else {
        const key = `page:${last.index}`;
        sent.push(
          first === undefined
            ? this.#enqueue(
              () => this.#options.api.deleteMessage(messageId),
              key,
            )
            : this.#enqueue(async () => {
              if (first !== last.shownHtml) await this.#edit(messageId, first);
            }, key),
        );
      }
    } else if (last) this.#showPage(last);
    for (const [index, html] of messages.entries()) {
      // The first message takes the place of a queued draft, which it would
      // clear anyway; every page was sent already, so the order holds.
      const key = index === 0 ? "draft" : undefined;
      sent.push(this.#enqueue(() => this.#send(html), key));
    }
    if (attachment) {
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

  /** The answer as message HTML plus the footer; an answer too long for MAX_ANSWER_MESSAGES comes as its first part and a file. */
  #answer(outcome: TurnOutcome): { messages: string[]; attachment?: string } {
    // Verbose mode logged the text before tool calls; quiet mode skips it.
    const texts = this.#options.mode === "normal"
      ? this.#texts
      : this.#texts.slice(this.#segmentStart);
    const text = [...texts, this.#partial].filter(Boolean).join("\n\n") ||
      (outcome.kind === "completed" ? outcome.event.text ?? "" : "");
    const footer = this.#footer(outcome, text);
    let messages = text ? splitHtml(renderMarkdown(text)) : [];
    let attachment: string | undefined;
    if (messages.length > MAX_ANSWER_MESSAGES) {
      const [first] = splitHtml(renderMarkdown(text), {
        maxLength: TELEGRAM_MESSAGE_LIMIT - ATTACHMENT_NOTE_RESERVE,
      });
      messages = [
        `${first}\n\n<i>The full answer (${text.length} characters) is attached as answer.md.</i>`,
      ];
      attachment = text;
    }
    const last = messages.at(-1);
    if (!footer) return { messages, attachment };
    if (last && last.length + footer.length + 2 <= TELEGRAM_MESSAGE_LIMIT) {
      messages[messages.length - 1] = `${last}\n\n${footer}`;
    } else messages.push(footer);
    return { messages, attachment };
  }

  #footer(outcome: TurnOutcome, text: string): string {
    switch (outcome.kind) {
      case "completed": {
        const { event, costUsd } = outcome;
        const parts: string[] = [];
        if (event.isError) {
          parts.push("⚠️ Claude reported an error for this turn.");
        }
        if (this.#options.mode === "verbose") {
          const stats = [usd(costUsd)];
          if (event.durationMs !== undefined) {
            stats.push(humanDuration(event.durationMs));
          }
          if (event.numTurns !== undefined) {
            stats.push(`${event.numTurns} turns`);
          }
          parts.push(`<i>${stats.join(" · ")}</i>`);
        } else if (!text && !parts.length) {
          parts.push("<i>Claude finished without a text answer.</i>");
        }
        return parts.join("\n");
      }
      case "interrupted":
        return "⏹ Stopped.";
      case "crashed": {
        const how = outcome.exit.signal
          ? `signal ${outcome.exit.signal}`
          : `exit code ${outcome.exit.code}`;
        return `⚠️ Claude stopped unexpectedly (${
          escapeHtml(how)
        }). Your next message starts it again.`;
      }
      case "start_failed":
        return outcome.error.reason === "not_found"
          ? `⚠️ The Claude Code CLI was not found (<code>${
            escapeHtml(outcome.error.bin)
          }</code>). Install it or set CLAUDE_BIN.`
          : `⚠️ The Claude Code CLI could not be started (<code>${
            escapeHtml(outcome.error.bin)
          }</code>: ${outcome.error.reason.replace("_", " ")}).`;
      case "cancelled":
        return "";
    }
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

  /** Queues a call on the chat's outbox; a failure is logged, never thrown, so the turn goes on. */
  #enqueue<T>(
    call: () => Promise<T>,
    replaceKey?: string,
  ): Promise<T | undefined> {
    const key = replaceKey && `${replaceKey}:${this.#id}`;
    return this.#options.outbox.enqueue(
      this.#options.chatKey,
      call,
      key ? { replaceKey: key } : undefined,
    )
      .catch((error) => {
        this.#options.log?.(
          `Sending to chat ${this.#options.chatKey} failed: ${error}`,
        );
        return undefined;
      });
  }

  /** Refreshes the typing indicator, and a draft that would otherwise expire, until the turn ends. */
  #typing(): void {
    let cancel: (() => void) | undefined;
    let isStopped = false;
    const { clock } = this.#options;
    const tick = () => {
      if (isStopped) return;
      this.#options.api.sendTyping().catch(() => {
        // The indicator is cosmetic; a failed refresh must not break the turn.
      });
      if (
        this.#isUsingDrafts && this.#shownDraftHtml &&
        clock.now() - this.#lastDraftAtMs >= DRAFT_REFRESH_MS
      ) {
        this.#shownDraftHtml = "";
        this.#requested.delete("draft");
        this.#refresh();
      }
      cancel = clock.after(TYPING_REFRESH_MS, tick);
    };
    tick();
    this.#stopTyping = () => {
      isStopped = true;
      cancel?.();
    };
  }
}
