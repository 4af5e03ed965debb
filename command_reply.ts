// A command's answer on its way to the chat: HTML split into messages that
// fit, buttons under the last one, then a document, all queued in order on
// the chat's outbox.
import type { InlineButton, TurnCalls } from "./chat_port.ts";
import { htmlToPlainText } from "./render.ts";
import { splitHtml } from "./split.ts";

/** A command's answer: HTML, and buttons under it or a document after it. */
export interface CommandReply {
  html: string;
  buttons?: InlineButton[][];
  document?: { fileName: string; bytes: Uint8Array };
}

/** A document caption holds at most this many characters (Telegram). */
const MAX_CAPTION_CHARS = 1024;

/**
 * Queues `reply` on the chat's outbox without waiting for Telegram; a failed
 * call is logged by `calls`. A short answer to a document becomes its
 * caption (as plain text); a longer one goes before it as messages.
 */
export function sendCommandReply(calls: TurnCalls, reply: CommandReply): void {
  const { document, buttons } = reply;
  const caption = htmlToPlainText(reply.html);
  if (document !== undefined && caption.length <= MAX_CAPTION_CHARS) {
    calls.enqueue(() =>
      calls.api.sendDocument(document.fileName, document.bytes, caption)
    );
    return;
  }
  const parts = splitHtml(reply.html);
  for (const [index, part] of parts.entries()) {
    const isLast = index === parts.length - 1;
    calls.enqueue(() =>
      isLast && buttons?.length
        ? calls.api.sendText(part, { html: true, buttons })
        : calls.send(part)
    );
  }
  if (document !== undefined) {
    calls.enqueue(() =>
      calls.api.sendDocument(document.fileName, document.bytes, "")
    );
  }
}
