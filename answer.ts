// The end of a turn as chat messages: the answer split into valid messages
// (or its first part plus the whole text as answer.md), and the footer.
import { humanDuration, usd } from "./format.ts";
import { escapeHtml, renderMarkdown } from "./render.ts";
import { splitHtml, TELEGRAM_MESSAGE_LIMIT } from "./split.ts";
import type { OutputMode, TurnOutcome } from "./turn.ts";

/** Answers that need more messages than this go out as a first part plus a `.md` file. */
export const MAX_ANSWER_MESSAGES = 3;
/** Room left in the first part for the note about the attachment. */
const ATTACHMENT_NOTE_RESERVE = 120;

/** The messages that end a turn. */
export interface Answer {
  /** Message HTML, in order. */
  messages: string[];
  /** The whole answer's Markdown, sent as answer.md when it is too long. */
  attachment?: string;
}

/**
 * Renders Markdown into messages with `footerHtml` under the last one (or
 * after it, when it does not fit). An answer that needs more than
 * MAX_ANSWER_MESSAGES becomes its first part, a note, and an attachment.
 */
export function answerMessages(markdown: string, footerHtml: string): Answer {
  const html = markdown ? renderMarkdown(markdown) : "";
  let messages = html ? splitHtml(html) : [];
  let attachment: string | undefined;
  if (messages.length > MAX_ANSWER_MESSAGES) {
    const [first] = splitHtml(html, {
      maxLength: TELEGRAM_MESSAGE_LIMIT - ATTACHMENT_NOTE_RESERVE,
    });
    messages = [
      `${first}\n\n<i>The full answer (${markdown.length} characters) is attached as answer.md.</i>`,
    ];
    attachment = markdown;
  }
  if (!footerHtml) return { messages, attachment };
  const last = messages.at(-1);
  if (last && last.length + footerHtml.length + 2 <= TELEGRAM_MESSAGE_LIMIT) {
    messages[messages.length - 1] = `${last}\n\n${footerHtml}`;
  } else messages.push(footerHtml);
  return { messages, attachment };
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
        }</code>: ${outcome.error.reason.replace("_", " ")}).`;
    case "cancelled":
      return "";
  }
}
