// A ChatApi that keeps one chat in memory, for reply and view tests: the
// messages as the user sees them, and every call with its clock time.
import assert from "node:assert/strict";
import { type ChatApi, FormattingRejectedError } from "../../chat_port.ts";
import type { Clock } from "../../clock.ts";
import { parseTelegramHtml } from "./telegram_html.ts";

/** One visible change in the chat, at a clock time. */
export interface ChatCall {
  atMs: number;
  kind: "send" | "edit" | "draft" | "delete" | "document";
  messageId?: number;
  /** Visible text (HTML parsed). */
  text: string;
}

/** A ChatApi that keeps messages in memory and records every call. */
export class MemoryChat implements ChatApi {
  canDraft: boolean;
  readonly calls: ChatCall[] = [];
  readonly messages = new Map<number, { text: string; isDeleted: boolean }>();
  typingCount = 0;
  /** Documents sent, oldest first. */
  readonly documents: { fileName: string; content: string }[] = [];
  /** Thrown by every sendDraft while set. */
  draftError?: Error;
  /** Refuses HTML containing this, like Telegram's "can't parse entities". */
  rejectHtmlWith?: string;
  /** While set, every sendDraft hangs until its signal aborts. */
  isHoldingDrafts = false;
  /** The signals of drafts held so far. */
  readonly heldDraftSignals: (AbortSignal | undefined)[] = [];
  #clock: Clock;
  #nextId = 1;

  constructor(clock: Clock, { canDraft = false } = {}) {
    this.#clock = clock;
    this.canDraft = canDraft;
  }

  sendText(text: string, { html }: { html: boolean }): Promise<number> {
    const visible = this.#visible(text, html);
    const messageId = this.#nextId++;
    this.messages.set(messageId, { text: visible, isDeleted: false });
    this.#record("send", visible, messageId);
    return Promise.resolve(messageId);
  }

  editText(
    messageId: number,
    text: string,
    { html }: { html: boolean },
  ): Promise<void> {
    const visible = this.#visible(text, html);
    this.messages.get(messageId)!.text = visible;
    this.#record("edit", visible, messageId);
    return Promise.resolve();
  }

  sendDraft(
    _draftId: number,
    text: string,
    { html, signal }: { html: boolean; signal?: AbortSignal },
  ): Promise<void> {
    if (this.draftError) return Promise.reject(this.draftError);
    this.#record("draft", this.#visible(text, html));
    if (!this.isHoldingDrafts) return Promise.resolve();
    // Like a draft waiting out a 429: it ends only when aborted.
    this.heldDraftSignals.push(signal);
    return new Promise((_, reject) => {
      signal?.addEventListener("abort", () => reject(signal.reason), {
        once: true,
      });
    });
  }

  deleteMessage(messageId: number): Promise<void> {
    this.messages.get(messageId)!.isDeleted = true;
    this.#record("delete", "", messageId);
    return Promise.resolve();
  }

  sendTyping(): Promise<void> {
    this.typingCount++;
    return Promise.resolve();
  }

  sendDocument(fileName: string, content: string | Uint8Array): Promise<void> {
    const text = typeof content === "string"
      ? content
      : new TextDecoder().decode(content);
    this.documents.push({ fileName, content: text });
    this.#record("document", `${fileName}: ${text.length} chars`);
    return Promise.resolve();
  }

  /** The chat as the user sees it: live messages, oldest first. */
  visible(): string[] {
    return [...this.messages.values()]
      .filter((message) => !message.isDeleted)
      .map((message) => message.text);
  }

  /** Calls as short lines: `send #1: text`. */
  transcript(): string[] {
    return this.calls.map((call) =>
      `${call.kind}${call.messageId ? ` #${call.messageId}` : ""}: ${call.text}`
    );
  }

  #visible(text: string, html: boolean): string {
    if (!html) return text;
    if (this.rejectHtmlWith && text.includes(this.rejectHtmlWith)) {
      throw new FormattingRejectedError("Bad Request: can't parse entities");
    }
    const visible = parseTelegramHtml(text);
    assert.ok(visible.length <= 4096, `${visible.length} characters`);
    return visible;
  }

  #record(kind: ChatCall["kind"], text: string, messageId?: number): void {
    this.calls.push({ atMs: this.#clock.now(), kind, messageId, text });
  }
}
