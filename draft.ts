// One turn's draft in a private chat (sendMessageDraft): the streaming
// preview Telegram shows under the chat until the bot sends a message. It
// remembers what it shows, tells when it would expire, and stops at the
// answer.
import type { Clock } from "./clock.ts";
import { htmlToPlainText } from "./render.ts";

/** The one Bot API call a draft makes (ChatApi.sendDraft). */
export type SendDraft = (
  draftId: number,
  text: string,
  options: { html: boolean; signal?: AbortSignal },
) => Promise<void>;

/** Drafts vanish after 30 s without an update; a long tool run must not lose its status. */
const REFRESH_MS = 20_000;

/** The draft of one turn; its owner decides when to show what. */
export class Draft {
  readonly #sendDraft: SendDraft;
  readonly #clock: Clock;
  // Changes of one draft id animate; each turn gets its own.
  readonly #id = 1 + Math.floor(Math.random() * 0x7ffffffe);
  readonly #calls = new AbortController();
  #shownHtml = "";
  #shownAtMs = -Infinity;

  constructor(options: { sendDraft: SendDraft; clock: Clock }) {
    this.#sendDraft = options.sendDraft;
    this.#clock = options.clock;
  }

  /** Whether the chat shows `html` now. */
  isShowing(html: string): boolean {
    return html === this.#shownHtml;
  }

  /** Whether it must be sent again before Telegram lets it expire. */
  isExpiring(): boolean {
    return this.#shownHtml !== "" &&
      this.#clock.now() - this.#shownAtMs >= REFRESH_MS;
  }

  /** Whether {@linkcode stop} ended it. */
  get isStopped(): boolean {
    return this.#calls.signal.aborted;
  }

  /**
   * Shows `html` as the draft, or its plain text (when Telegram refused
   * the HTML).
   * @throws what sendDraft throws
   */
  async show(html: string, options: { asPlainText?: boolean } = {}) {
    const signal = this.#calls.signal;
    await (options.asPlainText
      ? this.#sendDraft(this.#id, htmlToPlainText(html), {
        html: false,
        signal,
      })
      : this.#sendDraft(this.#id, html, { html: true, signal }));
    this.#shownHtml = html;
    this.#shownAtMs = this.#clock.now();
  }

  /** Telegram cleared it: the bot sent a message. */
  forget(): void {
    this.#shownHtml = "";
  }

  /**
   * Ends a call still running or waiting out a 429: once the answer is
   * out, a late draft would show up again under it.
   */
  stop(): void {
    this.#calls.abort();
  }
}
