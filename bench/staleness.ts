// How far the chat's screen lags Claude's text while an answer streams: the
// fake claude logs when each text delta left it, the fake Bot API when each
// draft, message and edit arrived; this replays the screen (messages, and the
// draft Telegram clears whenever the bot sends a message) against that.
import type { FakeCall } from "../tests/fakes/fake_bot_api.ts";
import { parseTelegramHtml } from "../tests/fakes/telegram_html.ts";
import type { LoggedDelta } from "./claude_log.ts";

/** One change of the screen. */
interface ScreenUpdate {
  at: number;
  kind: "message" | "edit" | "draft" | "delete";
  messageId?: number;
  /** Visible text. */
  text: string;
}

/**
 * The longest time, in ms, the screen showed less than Claude had written:
 * just before each change, now − when the first character not shown yet was
 * written. Where the screen is is read from its text: the last line that
 * matches exactly one line of the answer, so it may sit a line behind the
 * truth (the figure errs high by the time one line takes).
 * @param markdown the answer, its text blocks joined by a blank line
 * @param deltas the answer's deltas (one process, one message), in order
 * @param calls the chat's Bot API calls, in order
 * @param sentIds message ids of the chat's sendMessage/sendDocument calls, in call order
 */
export function longestLagMs(
  markdown: string,
  deltas: readonly LoggedDelta[],
  calls: readonly FakeCall[],
  sentIds: readonly number[],
): number {
  const written: { t: number; end: number }[] = [];
  let chars = 0;
  for (const delta of deltas) {
    chars += delta.chars;
    written.push({ t: delta.t, end: chars + 2 * delta.block });
  }
  const positions = new LinePositions(markdown);
  const messages = new Map<number, number>();
  let draft: number | undefined;
  let worst = 0;
  for (const update of screenUpdates(calls, sentIds)) {
    const shown = Math.max(draft ?? 0, ...messages.values());
    const firstUnseen = written.find((entry) => entry.end > shown);
    if (firstUnseen && firstUnseen.t < update.at) {
      worst = Math.max(worst, update.at - firstUnseen.t);
    }
    const position = positions.of(update.text);
    switch (update.kind) {
      case "draft":
        draft = position;
        break;
      case "message":
        // Telegram clears the draft when the bot sends a message.
        draft = undefined;
        messages.set(update.messageId!, position);
        break;
      case "edit":
        messages.set(update.messageId!, position);
        break;
      case "delete":
        messages.delete(update.messageId!);
        break;
    }
  }
  return worst;
}

function screenUpdates(
  calls: readonly FakeCall[],
  sentIds: readonly number[],
): ScreenUpdate[] {
  const ids = [...sentIds];
  const visible = (params: Record<string, unknown>) =>
    params.parse_mode === "HTML"
      ? parseTelegramHtml(String(params.text ?? ""))
      : String(params.text ?? "");
  return calls.flatMap((call): ScreenUpdate[] => {
    const { params, at } = call;
    switch (call.method) {
      case "sendMessage":
        return [{
          at,
          kind: "message",
          messageId: ids.shift(),
          text: visible(params),
        }];
      case "sendDocument":
        // answer.md holds the whole answer: as good as showing all of it.
        ids.shift();
        return [];
      case "editMessageText":
        return [{
          at,
          kind: "edit",
          messageId: Number(params.message_id),
          text: visible(params),
        }];
      case "deleteMessage":
        return [{
          at,
          kind: "delete",
          messageId: Number(params.message_id),
          text: "",
        }];
      case "sendMessageDraft":
        return [{ at, kind: "draft", text: visible(params) }];
      default:
        return [];
    }
  });
}

/** Where a visible line sits in the answer's Markdown. */
class LinePositions {
  readonly #lines: { words: string; start: number; end: number }[] = [];

  constructor(markdown: string) {
    let start = 0;
    for (const line of markdown.split("\n")) {
      this.#lines.push({
        words: wordsOf(line),
        start,
        end: start + line.length,
      });
      start += line.length + 1;
    }
  }

  /** The end of the last line of `text` found in the answer; 0 for none. */
  of(text: string): number {
    for (const line of text.split("\n").reverse()) {
      const words = wordsOf(line);
      if (words === "") continue;
      const exact = this.#lines.filter((entry) => entry.words === words);
      if (exact.length === 1) return exact[0].end;
      // The last line of a preview may be cut short.
      const started = this.#lines.filter((entry) =>
        entry.words.startsWith(words)
      );
      if (exact.length === 0 && started.length === 1 && words.length >= 12) {
        return Math.min(started[0].end, started[0].start + line.length);
      }
    }
    return 0;
  }
}

/** A line's words, Markdown links' targets left out: what both sides show. */
function wordsOf(line: string): string {
  return (line.replaceAll(/\]\([^)]*\)/g, "]").match(/[A-Za-z0-9]+/g) ?? [])
    .join(" ");
}
