// Streams one turn into the chat: typing indicator, a live preview edited in
// place, tool status lines, then the final answer split into valid messages.
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
import { humanDuration, truncate, usd } from "./format.ts";

/** Telegram refused the message's HTML; the text is resent as plain text. */
export class FormattingRejectedError extends Error {
  override name = "FormattingRejectedError";
}

/** The few Bot API calls a reply makes, bound to one chat (and topic). */
export interface ChatApi {
  /** Sends a message; returns its id. @throws {FormattingRejectedError} */
  sendText(text: string, options: { html: boolean }): Promise<number>;
  /** Edits a message; "not modified" is success. @throws {FormattingRejectedError} */
  editText(
    messageId: number,
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
const PREVIEW_LIMIT = 3_500;
const TOOL_RESULT_EXCERPT_CHARS = 300;

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

/** One turn's messages in the chat; a TurnSink fed by the session manager. */
export class TelegramReply implements TurnSink {
  #options: ReplyOptions;
  #blocks: string[] = [];
  #partial = "";
  #status = "";
  #toolLog: string[] = [];
  #previewId?: Promise<number | undefined>;
  #toolLogId?: Promise<number | undefined>;
  #stopTyping?: () => void;
  #work: Promise<void> = Promise.resolve();
  #done = Promise.withResolvers<void>();

  constructor(options: ReplyOptions) {
    this.#options = options;
    this.#typing();
  }

  /** Settles when every message of this turn was delivered (or given up). */
  get delivered(): Promise<void> {
    return this.#done.promise;
  }

  update(update: TurnUpdate): void {
    switch (update.type) {
      case "resuming":
        this.#notice(
          `Resuming session (idle for ${humanDuration(update.idleMs)})…`,
        );
        break;
      case "history_lost":
        this.#notice(
          "⚠️ The earlier conversation history could not be restored. " +
            "Starting a fresh Claude session in the same folder; your message is answered there.",
        );
        break;
      case "event":
        this.#onEvent(update.event);
        break;
      case "done":
        this.#stopTyping?.();
        this.#then(() => this.#finish(update.outcome));
        this.#work.finally(() => this.#done.resolve());
        break;
    }
  }

  #onEvent(event: ClaudeEvent): void {
    const { mode } = this.#options;
    switch (event.type) {
      case "text_delta":
        this.#partial += event.text;
        this.#status = "";
        break;
      case "text":
        this.#blocks.push(event.text);
        this.#partial = "";
        break;
      case "tool_use":
        if (mode === "verbose") {
          this.#toolLog.push(
            `⚙️ <b>${escapeHtml(event.name)}</b> ${
              escapeHtml(toolSummary(event))
            }`,
          );
          this.#refreshToolLog();
        }
        this.#status = toolStatus(event);
        break;
      case "tool_result":
        if (mode === "verbose") {
          const excerpt = truncate(
            event.content.trim(),
            TOOL_RESULT_EXCERPT_CHARS,
          );
          if (excerpt) {
            this.#toolLog.push(
              `<blockquote expandable>${event.isError ? "❌ " : ""}${
                escapeHtml(excerpt)
              }</blockquote>`,
            );
          }
          this.#refreshToolLog();
        }
        break;
      default:
        return;
    }
    if (mode !== "quiet") this.#refreshPreview();
  }

  #previewHtml(): string {
    const text = [...this.#blocks, this.#partial].filter(Boolean).join("\n\n");
    const body = text
      ? splitHtml(renderMarkdown(text), { maxLength: PREVIEW_LIMIT })
      : [];
    const more = body.length > 1 ? "\n…" : "";
    const status = this.#status ? `\n\n<i>${escapeHtml(this.#status)}</i>` : "";
    return (body[0] ?? "") + more + status;
  }

  #refreshPreview(): void {
    if (!this.#previewHtml()) return;
    if (!this.#previewId) {
      this.#previewId = this.#enqueue(() => this.#send(this.#previewHtml()));
      return;
    }
    const id = this.#previewId;
    this.#enqueue(async () => {
      const messageId = await id;
      const html = this.#previewHtml();
      if (messageId !== undefined && html) await this.#edit(messageId, html);
    }, "preview");
  }

  #refreshToolLog(): void {
    const html = () =>
      truncate(this.#toolLog.join("\n"), TELEGRAM_MESSAGE_LIMIT);
    if (!this.#toolLogId) {
      this.#toolLogId = this.#enqueue(() => this.#send(html()));
      return;
    }
    // A very long tool log starts a fresh message so no line is lost.
    if (this.#toolLog.join("\n").length > PREVIEW_LIMIT) {
      this.#toolLog = this.#toolLog.slice(-1);
      this.#toolLogId = this.#enqueue(() => this.#send(html()));
      return;
    }
    const id = this.#toolLogId;
    this.#enqueue(async () => {
      const messageId = await id;
      if (messageId !== undefined) await this.#edit(messageId, html());
    }, "tools");
  }

  async #finish(outcome: TurnOutcome): Promise<void> {
    const previewId = await this.#previewId;
    const text = this.#blocks.join("\n\n") ||
      (outcome.kind === "completed" ? outcome.event.text ?? "" : "") ||
      this.#partial;
    const footer = this.#footer(outcome);
    const chunks = text ? splitHtml(renderMarkdown(text)) : [];
    let first = chunks[0];
    const rest = chunks.slice(1);
    const attach = chunks.length > MAX_ANSWER_MESSAGES;
    if (attach) {
      first =
        `${first}\n\n<i>The full answer (${text.length} characters) is attached as answer.md.</i>`;
      rest.length = 0;
    }
    const messages = first === undefined ? [] : [first, ...rest];
    if (footer) {
      if (
        messages.length &&
        messages.at(-1)!.length + footer.length + 2 <= TELEGRAM_MESSAGE_LIMIT
      ) {
        messages[messages.length - 1] += `\n\n${footer}`;
      } else messages.push(footer);
    }
    if (previewId !== undefined) {
      if (messages.length) {
        await this.#enqueue(() => this.#edit(previewId, messages.shift()!));
      } else {await this.#enqueue(() =>
          this.#options.api.deleteMessage(previewId)
        );}
    }
    for (const html of messages) await this.#enqueue(() => this.#send(html));
    if (attach) {
      await this.#enqueue(() =>
        this.#options.api.sendDocument("answer.md", text, "The full answer")
      );
    }
  }

  #footer(outcome: TurnOutcome): string {
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

  #notice(text: string): void {
    this.#then(() => this.#enqueue(() => this.#send(escapeHtml(text))));
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

  readonly #id = crypto.randomUUID();

  #then(step: () => Promise<unknown>): void {
    this.#work = this.#work.then(step).then(() => {}, (error) => {
      this.#options.log?.(
        `Reply to chat ${this.#options.chatKey} failed: ${error}`,
      );
    });
  }

  #typing(): void {
    let cancel: (() => void) | undefined;
    let isStopped = false;
    const tick = () => {
      if (isStopped) return;
      this.#options.api.sendTyping().catch(() => {
        // The indicator is cosmetic; a failed refresh must not break the turn.
      });
      cancel = this.#options.clock.after(TYPING_REFRESH_MS, tick);
    };
    tick();
    this.#stopTyping = () => {
      isStopped = true;
      cancel?.();
    };
  }
}

/** The key argument of a tool call: the command, the path, the pattern. */
function toolSummary(
  event: Extract<ClaudeEvent, { type: "tool_use" }>,
): string {
  const input = event.input;
  const key = [
    "command",
    "file_path",
    "path",
    "pattern",
    "url",
    "query",
    "description",
    "prompt",
  ]
    .find((name) => typeof input[name] === "string");
  return key ? truncate(String(input[key]).split("\n")[0], 120) : "";
}

function toolStatus(event: Extract<ClaudeEvent, { type: "tool_use" }>): string {
  const summary = toolSummary(event);
  switch (event.name) {
    case "Edit":
    case "MultiEdit":
    case "Write":
      return `Editing ${summary}…`;
    case "Read":
      return `Reading ${summary}…`;
    default:
      return `Running ${event.name}${summary ? `: ${summary}` : ""}…`;
  }
}
