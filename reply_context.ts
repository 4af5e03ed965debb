// Replies as context: the text a user's message replies to or quotes, read
// from Telegram's message at the edge and set before the message for Claude.
import { truncate } from "./format.ts";

/** The fields of a Telegram message this module reads; grammY's Message fits. */
export interface ReplyingMessage {
  /** The part of the replied message the user selected (Telegram's TextQuote). */
  quote?: { text: string };
  reply_to_message?: {
    text?: string;
    caption?: string;
    forum_topic_created?: unknown;
  };
}

/**
 * Quoted text is kept up to this many characters: enough for a long answer's
 * paragraph, while a journal entry stays small and Claude's input focused.
 */
export const MAX_QUOTE_CHARS = 4_000;

/**
 * The text `message` quotes: the selected part when the user quoted one,
 * otherwise the text or caption of the message it replies to, cut to
 * {@linkcode MAX_QUOTE_CHARS}. Undefined when there is none, or when the
 * replied message is a forum topic's creation: Telegram sets every topic
 * message's reply_to_message to it, so it is no quote.
 */
export function quotedText(message: ReplyingMessage): string | undefined {
  const replied = message.reply_to_message;
  const text = message.quote?.text ??
    (replied?.forum_topic_created === undefined
      ? replied?.text ?? replied?.caption
      : undefined);
  if (text === undefined || text.trim() === "") return undefined;
  return truncate(text, MAX_QUOTE_CHARS);
}

/**
 * Claude's text for a message that quotes `quote`: the quote first, marked
 * and prefixed with "> ", then the message. `text` alone without a quote.
 */
export function withQuote(quote: string | undefined, text: string): string {
  if (quote === undefined) return text;
  const quoted = quote.split("\n").map((line) => `> ${line}`).join("\n");
  return `[The user is replying to this earlier message:]\n${quoted}\n\n${text}`;
}
