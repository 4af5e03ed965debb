// The messages of one turn that change while it runs, paced by the chat's
// outbox: the streaming answer (a draft, or a message edited in place) whose
// full parts become messages of their own, normal mode's status line, and
// verbose mode's tool log, which continues in a new message when one is full.
import { AnswerStream } from "./answer.ts";
import {
  DraftsUnsupportedError,
  FormattingRejectedError,
  TurnCalls,
  type TurnCallsOptions,
} from "./chat_port.ts";
import { Draft } from "./draft.ts";
import { renderMarkdown } from "./render.ts";
import { splitHtml } from "./split.ts";

/** What a view shows and where: the chat's calls. */
export type LiveViewOptions = TurnCallsOptions;

/** A preview's HTML, with room for the status line under it. */
const PREVIEW_LIMIT = 3_500;
/** A log message's lines; the preview below them gets the rest. */
const LOG_PAGE_LIMIT = 3_000;
const LOG_TAIL_LIMIT = 1_000;

/** One message the view keeps editing: log lines, and the preview while it is the last. */
interface Page {
  readonly index: number;
  lines: string[];
  /** A part of the answer it shows for good, instead of the preview. */
  fixedHtml?: string;
  /** Takes no more lines and no preview: something was sent below it. */
  isSealed: boolean;
  /** Its message id once sent; undefined if sending failed. */
  id?: Promise<number | undefined>;
  /** Queued to be sent: the send will read the newest state, so no edit is needed yet. */
  isUnsent: boolean;
  shownHtml?: string;
}

/**
 * The changing part of one turn's messages. Its owner pushes the state in
 * (the answer so far, the status, log lines) and the view shows it at the
 * chat's pace, never calling back. When the answer outgrows the preview,
 * its full part is sent as a message of its own and the preview goes on
 * with the rest, so a long answer streams to its end.
 */
export class LiveView {
  #calls: TurnCalls;
  #pages: Page[] = [];
  #answer = new AnswerStream();
  /** Where the draft's text starts: the end of the parts delivered. */
  #draftFromChars = 0;
  /** Undefined when the chat edits a message instead. */
  #draft?: Draft;
  #isFinished = false;

  constructor(options: LiveViewOptions) {
    this.#calls = new TurnCalls(options);
    const { api, clock } = options;
    if (api.canDraft) {
      this.#draft = new Draft({
        sendDraft: (id, text, how) => api.sendDraft(id, text, how),
        clock,
      });
    }
  }

  /** When this view last sent, edited or drafted something (clock ms). */
  get lastVisibleCallMs(): number {
    return this.#calls.lastCallMs;
  }

  /**
   * The answer so far, in Markdown (it only grows until {@linkcode logText}),
   * and normal mode's status line under it ("" for none).
   */
  show(preview: { markdown: string; status: string }): void {
    this.#answer.setText(preview.markdown);
    this.#answer.setStatus(preview.status);
    this.#refresh();
  }

  /** Verbose mode: the text not sent yet joins the log, and the next text starts afresh. */
  logText(): void {
    const rest = this.#answer.restart();
    this.#draftFromChars = 0;
    if (rest.trim()) this.addLine(renderMarkdown(rest));
    else this.#refresh();
  }

  /**
   * Appends a log line; a full page continues in a new message, so no line
   * is lost. `reserveChars` must also fit on the page (a result to come).
   */
  addLine(html: string, reserveChars = 0): void {
    for (const piece of splitHtml(html, { maxLength: LOG_PAGE_LIMIT })) {
      const last = this.#pages.at(-1);
      const open = last && !last.isSealed ? last : undefined;
      const isFull = open !== undefined && open.lines.length > 0 &&
        open.lines.join("\n").length + piece.length + reserveChars >=
          LOG_PAGE_LIMIT;
      if (open && isFull) {
        // Its last edit drops the preview, which moves to the new page.
        open.isSealed = true;
        this.#showPage(open);
      }
      const page = open && !isFull ? open : this.#newPage();
      page.lines.push(piece);
      this.#showPage(page);
    }
  }

  /** Sends a draft again before Telegram lets it expire; call every few seconds. */
  keepDraftAlive(): void {
    if (!this.#draft?.isExpiring()) return;
    this.#forgetDraft();
    this.#refresh();
  }

  /** Sends a message after everything queued before it; a failure is logged. */
  async post(html: string): Promise<void> {
    await this.#calls.enqueue(async () => {
      await this.#calls.send(html);
      this.#redraftAfterSend();
    });
  }

  /**
   * Ends the preview and delivers the rest of the answer below the log; a
   * message that only ever held the preview becomes its first message. A
   * queued draft is dropped and a queued preview edit overtaken, not sent
   * first.
   */
  async finish(markdown: string, footerHtml: string): Promise<void> {
    this.#draft?.stop();
    this.#calls.cancel("draft");
    // A page still being sent must show up before it can turn into the answer.
    await Promise.all(this.#pages.map((page) => page.id));
    this.#isFinished = true;
    const answer = this.#answer.final(markdown, footerHtml);
    if (!answer.isConsistent) {
      this.#calls.log(
        `Answer changed after ${this.#answer.sent.chars} characters were sent`,
      );
    }
    const rest = [...answer.messages];
    const last = this.#pages.at(-1);
    const sent: Promise<unknown>[] = [];
    const messageId = await last?.id;
    if (last && !last.isSealed && last.lines.length === 0 && messageId) {
      const first = rest.shift();
      last.isSealed = true;
      sent.push(this.#calls.enqueue(async () => {
        if (first === undefined) {
          await this.#calls.api.deleteMessage(messageId);
        } else if (first !== last.shownHtml) {
          await this.#calls.edit(messageId, first);
        }
      }, { replaceKey: `page:${last.index}` }));
    } else if (last && !last.isSealed) {
      last.isSealed = true;
      this.#showPage(last);
    }
    for (const html of rest) {
      sent.push(this.#calls.enqueue(() => this.#calls.send(html)));
    }
    if (answer.attachment !== undefined) {
      const { attachment } = answer;
      sent.push(this.#calls.enqueue(() =>
        this.#calls.api.sendDocument(
          "answer.md",
          attachment,
          "The full answer",
        )
      ));
    }
    await Promise.all(sent);
  }

  #refresh(): void {
    if (this.#isFinished) return;
    if (this.#draft) {
      const source = this.#answer.previewSource(this.#draftFromChars);
      this.#calls.request("draft", source, "draft", () => this.#showDraft());
      return;
    }
    const last = this.#pages.at(-1);
    if (last && !last.isSealed) this.#showPage(last);
    else if (this.#answer.previewSource(this.#answer.sent.chars)) {
      this.#showPage(this.#newPage());
    }
  }

  /**
   * Sends the answer's next full part as a message of its own once the
   * preview cannot hold it. A preview message with nothing but the answer
   * becomes that part; any other page is sealed above it.
   */
  #stream(): void {
    const part = this.#answer.takePart(PREVIEW_LIMIT);
    if (!part) return;
    const messages = [...part.messages];
    const last = this.#pages.at(-1);
    if (last && !last.isSealed) {
      if (!this.#draft && last.lines.length === 0) {
        last.fixedHtml = messages.shift();
      }
      last.isSealed = true;
    }
    for (const [index, html] of messages.entries()) {
      const isLast = index === messages.length - 1;
      this.#calls.enqueue(async () => {
        await this.#calls.send(html);
        if (isLast) this.#draftFromChars = part.endChars;
        this.#redraftAfterSend();
      });
    }
    this.#refresh();
  }

  #isLive(page: Page): boolean {
    return !this.#draft && !page.isSealed && !this.#isFinished &&
      page === this.#pages.at(-1);
  }

  #pageHtml(page: Page): string {
    if (page.fixedHtml !== undefined) return page.fixedHtml;
    const preview = this.#isLive(page)
      ? this.#answer.previewHtml(
        this.#answer.sent.chars,
        page.lines.length > 0 ? LOG_TAIL_LIMIT : PREVIEW_LIMIT,
      )
      : "";
    return [page.lines.join("\n"), preview].filter(Boolean).join("\n\n");
  }

  #pageSource(page: Page): string {
    const preview = this.#isLive(page)
      ? this.#answer.previewSource(this.#answer.sent.chars)
      : "";
    return `${page.lines.length}\0${page.fixedHtml ?? ""}\0${preview}`;
  }

  #newPage(): Page {
    const page: Page = {
      index: this.#pages.length,
      lines: [],
      isSealed: false,
      isUnsent: false,
    };
    this.#pages.push(page);
    return page;
  }

  /**
   * Sends the page, or queues an edit; edits of one page coalesce, and each
   * reads the page when it runs. The live page's edit first sends what of the
   * answer the preview cannot hold.
   */
  #showPage(page: Page): void {
    const key = `page:${page.index}`;
    if (!page.id) {
      page.isUnsent = true;
      page.id = this.#calls.enqueue(async () => {
        page.isUnsent = false;
        this.#calls.requested(key, {
          source: this.#pageSource(page),
          kind: this.#isLive(page) ? "preview" : "answer",
        });
        const html = this.#pageHtml(page);
        const id = await this.#calls.send(html);
        page.shownHtml = html;
        this.#redraftAfterSend();
        return id;
      });
      return;
    }
    if (page.isUnsent) return;
    const id = page.id;
    const kind = this.#isLive(page) ? "preview" : "answer";
    this.#calls.request(key, this.#pageSource(page), kind, async () => {
      const messageId = await id;
      if (messageId === undefined) return;
      if (this.#isLive(page)) this.#grow(page);
      const html = this.#pageHtml(page);
      if (!html || html === page.shownHtml) return;
      await this.#calls.edit(messageId, html);
      page.shownHtml = html;
    });
  }

  /** Below a log, an answer that outgrew its room moves to a page of its own; alone, it streams its full part out. */
  #grow(page: Page): void {
    const fromChars = this.#answer.sent.chars;
    if (
      page.lines.length > 0 && this.#answer.overflows(fromChars, LOG_TAIL_LIMIT)
    ) {
      page.isSealed = true;
      this.#refresh();
    } else this.#stream();
  }

  async #showDraft(): Promise<void> {
    const draft = this.#draft;
    if (this.#isFinished || !draft) return;
    this.#stream();
    const html = this.#answer.previewHtml(this.#draftFromChars, PREVIEW_LIMIT);
    if (draft.isShowing(html)) return;
    try {
      try {
        await draft.show(html);
      } catch (error) {
        if (!(error instanceof FormattingRejectedError)) throw error;
        await draft.show(html, { asPlainText: true });
      }
    } catch (error) {
      // Stopped on purpose: the answer is out. Only a server without drafts
      // is worth knowing then (the next turns edit from the start).
      if (draft.isStopped && !(error instanceof DraftsUnsupportedError)) return;
      // Edits of one message show the same preview, only less smoothly.
      this.#calls.log(`Drafts failed, editing instead: ${error}`);
      this.#draft = undefined;
      this.#refresh();
    }
  }

  /** Telegram clears the draft when the bot sends a message: show it again. */
  #redraftAfterSend(): void {
    this.#forgetDraft();
    this.#refresh();
  }

  #forgetDraft(): void {
    this.#draft?.forget();
    this.#calls.requested("draft");
  }
}
