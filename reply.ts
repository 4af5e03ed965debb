// Streams one turn into the chat in the session's output mode: the typing
// indicator, a live preview with normal mode's status line, verbose mode's
// tool log, then the final answer. It turns the turn's updates into what the
// view shows and pushes that down; the view never calls back.
import { footerHtml } from "./answer.ts";
import type { ChatApi } from "./chat_port.ts";
import type { Clock } from "./clock.ts";
import { humanDuration } from "./format.ts";
import { LiveView } from "./live_view.ts";
import type { Outbox } from "./outbox.ts";
import { escapeHtml } from "./render.ts";
import type { ClaudeEvent } from "./stream_json.ts";
import { toolLineHtml, toolResultHtml, toolStatus } from "./tool_lines.ts";
import type { OutputMode, TurnOutcome, TurnUpdate } from "./turn.ts";

/** Telegram's typing indicator lapses after ~5 s. */
const TYPING_REFRESH_MS = 4_000;
/** Room kept after a tool line so its result excerpt lands in the same message. */
const RESULT_EXCERPT_RESERVE = 600;

/** What a reply needs: where to send, how, and at what pace. */
export interface ReplyOptions {
  api: ChatApi;
  outbox: Outbox;
  /** The chat's outbox key: "chatId", or "chatId:threadId" in a topic. */
  chatKey: string;
  clock: Clock;
  mode: OutputMode;
  log?: (message: string) => void;
}

/**
 * One turn's messages in the chat, fed the turn's updates by the intake.
 *
 * - verbose: a log of Claude's text and tool calls (each with an excerpt of
 *   its result), the answer streaming below it, then the answer as its own
 *   message with a footer (cost, duration, API round trips).
 * - normal: one preview of the text so far with a status line while tools
 *   run; it becomes the answer.
 * - quiet: nothing but typing until the answer.
 *
 * In the first two, an answer longer than a message streams to its end: its
 * full parts go out as messages while Claude writes (see LiveView).
 */
export class TelegramReply {
  #options: ReplyOptions;
  #view: LiveView;
  /** Completed text blocks of the turn, in order. */
  #texts: string[] = [];
  /** Index in #texts of the first block after the last tool call. */
  #segmentStart = 0;
  #partial = "";
  #status = "";
  #toolCount = 0;
  #stopTyping?: () => void;
  #done = Promise.withResolvers<void>();

  constructor(options: ReplyOptions) {
    this.#options = options;
    this.#view = new LiveView(options);
    this.#typing();
  }

  /** Settles when every message of this turn was delivered (or given up). */
  get delivered(): Promise<void> {
    return this.#done.promise;
  }

  /** Takes the turn's next update; sending happens in the background. */
  update(update: TurnUpdate): void {
    switch (update.type) {
      case "resuming":
        this.#note(
          `Resuming session (idle for ${humanDuration(update.idleMs)})…`,
        );
        break;
      case "history_lost":
        this.#view.post(
          "⚠️ The earlier conversation history could not be restored. " +
            "Starting a fresh Claude session in the same folder; your message is answered there.",
        );
        break;
      case "stalled":
        this.#note(
          `⏳ No output from Claude for ${
            humanDuration(update.silentMs)
          }; it may still be working. /stop interrupts it.`,
          { isUrgent: true },
        );
        break;
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

  /** A word from the bot: a log line (verbose), the status (normal), nothing or a message (quiet). */
  #note(text: string, { isUrgent = false } = {}): void {
    switch (this.#options.mode) {
      case "verbose":
        this.#view.addLine(escapeHtml(text));
        break;
      case "normal":
        this.#status = text;
        this.#showPreview();
        break;
      case "quiet":
        if (isUrgent) this.#view.post(escapeHtml(text));
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
        this.#segmentStart = this.#texts.length;
        if (isVerbose) {
          // Text before a tool call is narration: verbose mode logs what of
          // it was not sent as an answer part already.
          this.#view.logText();
          this.#view.addLine(toolLineHtml(event), RESULT_EXCERPT_RESERVE);
        }
        this.#status = `⚙️ ${toolStatus(event)}${
          this.#toolCount > 1 ? ` (tool ${this.#toolCount})` : ""
        }`;
        break;
      }
      case "tool_result": {
        const excerpt = toolResultHtml(event);
        if (isVerbose && excerpt) this.#view.addLine(excerpt);
        return;
      }
      default:
        return;
    }
    this.#showPreview();
  }

  /** The text this mode shows: verbose mode logged what came before the last tool call, quiet mode skips it. */
  #answerText(): string {
    const texts = this.#options.mode === "normal"
      ? this.#texts
      : this.#texts.slice(this.#segmentStart);
    return [...texts, this.#partial].filter(Boolean).join("\n\n");
  }

  /** Pushes the answer so far and the status down to the view; quiet mode shows neither. */
  #showPreview(): void {
    if (this.#options.mode === "quiet") return;
    this.#view.show({
      markdown: this.#answerText(),
      status: this.#options.mode === "normal" ? this.#status : "",
    });
  }

  async #finish(outcome: TurnOutcome): Promise<void> {
    const text = this.#answerText() ||
      (outcome.kind === "completed" ? outcome.event.text ?? "" : "");
    const footer = footerHtml(outcome, {
      mode: this.#options.mode,
      hasText: text !== "",
    });
    await this.#view.finish(text, footer);
  }

  /** Refreshes the typing indicator, and a draft that would expire, until the turn ends. */
  #typing(): void {
    let cancel: (() => void) | undefined;
    let isStopped = false;
    const tick = () => {
      if (isStopped) return;
      // While the chat visibly changes, "typing…" adds nothing but an API
      // call (20 streaming chats would otherwise add 5 calls a second).
      const sinceVisibleMs = this.#options.clock.now() -
        this.#view.lastVisibleCallMs;
      if (sinceVisibleMs >= TYPING_REFRESH_MS) {
        // Not paced behind the chat's messages, but within the bot's global
        // budget (20 chats starting at once stay under 30/s).
        this.#options.outbox.enqueue(
          this.#options.chatKey,
          // Once the turn ended, a late "typing…" would follow the answer.
          () => isStopped ? Promise.resolve() : this.#options.api.sendTyping(),
          { kind: "typing", replaceKey: "typing" },
        ).catch(() => {
          // The indicator is cosmetic; a failed refresh must not break the turn.
        });
      }
      this.#view.keepDraftAlive();
      cancel = this.#options.clock.after(TYPING_REFRESH_MS, tick);
    };
    tick();
    this.#stopTyping = () => {
      isStopped = true;
      cancel?.();
    };
  }
}
