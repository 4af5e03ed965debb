// A turn's answer as chat messages: the parts sent for good while it still
// streams, the preview of the rest, and at the end the rest split into valid
// messages (or its first part plus the whole text as answer.md) and a footer.
import { humanDuration, usd } from "./format.ts";
import { escapeHtml, markdownBlocks, renderMarkdown } from "./render.ts";
import { splitHtml, TELEGRAM_MESSAGE_LIMIT } from "./split.ts";
import type { ClaudeStartError } from "./subprocess.ts";
import type { OutputMode, TurnOutcome } from "./turn.ts";

/** Answers that need more messages than this go out as a first part plus a `.md` file. */
export const MAX_ANSWER_MESSAGES = 3;
/** Room left in the first part for the note about the attachment. */
const ATTACHMENT_NOTE_RESERVE = 120;
const ELLIPSIS = "…\n";

/** The messages that end a turn. */
export interface Answer {
  /** Message HTML, in order. */
  messages: string[];
  /** The whole answer's Markdown, sent as answer.md when it is too long. */
  attachment?: string;
}

/** What of an answer the chat already got while it streamed. */
export interface SentPart {
  /** Characters of the answer's Markdown sent, from its start. */
  chars: number;
  /** Messages they took. */
  messages: number;
}

/**
 * Renders Markdown into messages with `footerHtml` under the last one (or
 * after it, when it does not fit).
 *
 * With `sent`, only the rest after the parts sent while streaming becomes
 * messages, so the answer reaches the chat exactly once. An answer that
 * needs more than MAX_ANSWER_MESSAGES in all also comes as answer.md: when
 * the rest alone needs more, it becomes its first part and a note (the old
 * rule for an answer that did not stream); otherwise the rest is sent whole
 * and the same note closes it.
 */
export function answerMessages(
  markdown: string,
  footerHtml: string,
  options: { sent?: SentPart } = {},
): Answer {
  const sent = options.sent ?? { chars: 0, messages: 0 };
  const rest = markdown.slice(sent.chars);
  const html = rest ? renderMarkdown(rest) : "";
  let messages = html ? splitHtml(html) : [];
  let attachment: string | undefined;
  let footer = footerHtml;
  if (messages.length > MAX_ANSWER_MESSAGES) {
    const [first] = splitHtml(html, {
      maxLength: TELEGRAM_MESSAGE_LIMIT - ATTACHMENT_NOTE_RESERVE,
    });
    messages = [
      `${first}\n\n${attachmentNote(markdown)}`,
    ];
    attachment = markdown;
  } else if (sent.messages + messages.length > MAX_ANSWER_MESSAGES) {
    attachment = markdown;
    footer = [
      attachmentNote(markdown),
      footerHtml,
    ].filter(Boolean).join("\n\n");
  }
  if (!footer) return { messages, attachment };
  const last = messages.at(-1);
  if (last && last.length + footer.length + 2 <= TELEGRAM_MESSAGE_LIMIT) {
    messages[messages.length - 1] = `${last}\n\n${footer}`;
  } else messages.push(footer);
  return { messages, attachment };
}

function attachmentNote(markdown: string): string {
  return `<i>The full answer (${markdown.length} characters) is attached as answer.md.</i>`;
}

/**
 * The part of a streaming answer to send for good: whole top-level blocks
 * that another block already follows, so their rendering cannot change, as
 * many as fill one message. Undefined while the text fits `previewLimit`
 * characters of HTML, or while no block is complete.
 * @param markdown the text not sent yet
 * @returns the part as messages (one, unless a single block is longer than a message) and its length in `markdown`
 */
export function streamedPart(
  markdown: string,
  options: { previewLimit: number },
): { messages: string[]; chars: number } | undefined {
  if (renderMarkdown(markdown).length <= options.previewLimit) return;
  const blocks = markdownBlocks(markdown);
  const growing = blocks.findLastIndex((block) => block.html !== "");
  let chars = 0;
  let length = 0;
  let taken = 0;
  for (const block of blocks.slice(0, Math.max(0, growing))) {
    if (block.html) {
      const added = (taken > 0 ? 2 : 0) + block.html.length;
      if (taken > 0 && length + added > TELEGRAM_MESSAGE_LIMIT) break;
      length += added;
      taken++;
    }
    chars += block.raw.length;
  }
  if (taken === 0) return;
  return {
    messages: splitHtml(renderMarkdown(markdown.slice(0, chars))),
    chars,
  };
}

/**
 * The preview of text not sent yet: all of it, or, when it is longer than
 * `maxLength` characters of HTML (a block still streaming), its end after
 * "…", so the screen keeps up with Claude.
 */
export function previewHtml(markdown: string, maxLength: number): string {
  const html = markdown ? renderMarkdown(markdown) : "";
  if (html.length <= maxLength) return html;
  const room = maxLength - ELLIPSIS.length;
  const chunks = splitHtml(html, { maxLength: room });
  let shown = chunks.pop()!;
  while (chunks.length > 0 && shown.length + chunks.at(-1)!.length < room) {
    shown = `${chunks.pop()}\n${shown}`;
  }
  return ELLIPSIS + shown;
}

/**
 * One answer while it streams: the text so far, the status line under it,
 * and what of it went out as messages of its own. Data only; the view that
 * owns it decides when to send.
 */
export class AnswerStream {
  #text = "";
  #status = "";
  #sent: SentPart = { chars: 0, messages: 0 };

  /** What of the text went out as messages of its own. */
  get sent(): SentPart {
    return this.#sent;
  }

  /** The answer so far, in Markdown; it only grows until {@linkcode restart}. */
  setText(markdown: string): void {
    this.#text = markdown;
  }

  /** The status line under the answer (normal mode); "" for none. */
  setStatus(status: string): void {
    this.#status = status;
  }

  /** Starts a new answer; returns the old one's text that was not sent. */
  restart(): string {
    const rest = this.#text.slice(this.#sent.chars);
    this.#text = "";
    this.#sent = { chars: 0, messages: 0 };
    return rest;
  }

  /**
   * The next full part to send for good, once a preview of `previewLimit`
   * cannot hold the text not sent (see {@linkcode streamedPart}); it counts
   * as sent from now on.
   * @returns its messages, and where in the text it ends
   */
  takePart(
    previewLimit: number,
  ): { messages: string[]; endChars: number } | undefined {
    const rest = this.#text.slice(this.#sent.chars);
    const part = streamedPart(rest, { previewLimit });
    if (!part) return;
    const endChars = this.#sent.chars + part.chars;
    this.#sent = {
      chars: endChars,
      messages: this.#sent.messages + part.messages.length,
    };
    return { messages: part.messages, endChars };
  }

  /** Whether the text from `fromChars` renders longer than `maxLength`. */
  overflows(fromChars: number, maxLength: number): boolean {
    return renderMarkdown(this.#text.slice(fromChars)).length > maxLength;
  }

  /**
   * The preview's inputs from `fromChars`, unrendered: while they are
   * unchanged, so is the preview. "" when there is nothing to show.
   */
  previewSource(fromChars: number): string {
    const text = this.#text.slice(fromChars);
    return text.trim() || this.#status
      ? `${fromChars}\0${text}\0${this.#status}`
      : "";
  }

  /** The preview from `fromChars` (see {@linkcode previewHtml}), with the status in italics below. */
  previewHtml(fromChars: number, maxLength: number): string {
    return [
      previewHtml(this.#text.slice(fromChars), maxLength),
      this.#status && `<i>${escapeHtml(this.#status)}</i>`,
    ].filter(Boolean).join("\n\n");
  }

  /**
   * The messages that end the answer: what was not sent of `markdown` (see
   * {@linkcode answerMessages}). `isConsistent` is false when `markdown`
   * does not start with the parts sent (the text changed under them).
   */
  final(
    markdown: string,
    footerHtml: string,
  ): Answer & { isConsistent: boolean } {
    return {
      ...answerMessages(markdown, footerHtml, { sent: this.#sent }),
      isConsistent: markdown.startsWith(
        this.#text.slice(0, this.#sent.chars),
      ),
    };
  }
}

/**
 * What goes under the answer: how the turn ended if not normally, and in
 * verbose mode its cost, duration and number of API round trips ("turns").
 */
export function footerHtml(
  outcome: TurnOutcome,
  options: { mode: OutputMode; hasText: boolean },
): string {
  switch (outcome.kind) {
    case "completed": {
      const { event, costUsd } = outcome;
      const parts: string[] = [];
      if (event.isError) {
        parts.push("⚠️ Claude reported an error for this turn.");
      }
      if (options.mode === "verbose") {
        const stats = [usd(costUsd)];
        if (event.durationMs !== undefined) {
          stats.push(humanDuration(event.durationMs));
        }
        if (event.numTurns !== undefined) {
          stats.push(`${event.numTurns} turns`);
        }
        parts.push(`<i>${stats.join(" · ")}</i>`);
      } else if (!options.hasText && !parts.length) {
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
        }</code>: ${escapeHtml(startFailure(outcome.error))}).`;
    case "cancelled":
      return "";
  }
}

/** Why Claude could not start; an unusual failure (a sandbox that could not be set up) in its cause's words. */
function startFailure(error: ClaudeStartError): string {
  return error.reason === "failed" && error.detail
    ? error.detail
    : error.reason.replace("_", " ");
}
