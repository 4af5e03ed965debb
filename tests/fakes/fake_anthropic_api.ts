// A scriptable stand-in for the Anthropic Messages API, so the real Claude
// Code CLI can run offline against 127.0.0.1 in tests.

/** One scripted answer to a `POST /v1/messages` request. */
export type FakeReply =
  | {
    kind: "text";
    /** Defaults to the echo reply; see {@linkcode FakeAnthropicApi.enqueueReply}. */
    text?: string;
    /** Spreads the text deltas over this many ms, so an interrupt can land mid-stream. Default 0. */
    streamDurationMs?: number;
  }
  | {
    kind: "bash";
    /** The shell command the fake model asks the Bash tool to run. */
    command: string;
    description?: string;
  };

/** Options for {@linkcode FakeAnthropicApi.start}. */
export interface FakeAnthropicApiOptions {
  /** How many `text_delta` events a text reply is split into. Default 8. */
  deltaCount?: number;
}

/** One Server-Sent Event as the Messages API streams it. */
interface SseEvent {
  type: string;
  [key: string]: unknown;
}

type MessageEntry = { role?: unknown; content?: unknown };
type ContentEntry = { type?: unknown; text?: unknown; content?: unknown };

const SYSTEM_REMINDER_PREFIX = "<system-reminder>";
const DEFAULT_DELTA_COUNT = 8;

/**
 * Returns the text of the last `role:"user"` message in a Messages API
 * request body, skipping `role:"system"` entries and `<system-reminder>`
 * blocks that the CLI adds; "" when there is none.
 */
export function lastUserText(requestBody: unknown): string {
  const userMessage = lastUserMessage(requestBody);
  if (userMessage === undefined) return "";
  const texts = contentBlocks(userMessage.content)
    .filter((block) => block.type === "text" && typeof block.text === "string")
    .map((block) => block.text as string)
    .filter((text) => !text.startsWith(SYSTEM_REMINDER_PREFIX));
  return texts.at(-1) ?? "";
}

/**
 * Returns the text of the `tool_result` blocks in the last user message of a
 * request body; empty when that message carries no tool result.
 */
export function lastToolResultTexts(requestBody: unknown): string[] {
  const userMessage = lastUserMessage(requestBody);
  if (userMessage === undefined) return [];
  return contentBlocks(userMessage.content)
    .filter((block) => block.type === "tool_result")
    .map((block) =>
      contentBlocks(block.content)
        .map((inner) => typeof inner.text === "string" ? inner.text : "")
        .join("")
    );
}

// Echoes the last user text, or names the tool result when the request
// answers a tool call, so tests can see what the "model" was given.
function defaultReplyText(requestBody: unknown): string {
  const toolResults = lastToolResultTexts(requestBody);
  if (toolResults.length > 0) {
    return `Tool result seen: ${toolResults.join("\n")}`;
  }
  return `Hello from fake API: ${lastUserText(requestBody)}`;
}

function lastUserMessage(requestBody: unknown): MessageEntry | undefined {
  const messages = (requestBody as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) return undefined;
  // The CLI inserts role:"system" entries mid-conversation (agent lists).
  return (messages as MessageEntry[]).findLast((message) =>
    message?.role === "user"
  );
}

function contentBlocks(content: unknown): ContentEntry[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  return Array.isArray(content) ? content as ContentEntry[] : [];
}

function splitIntoChunks(text: string, count: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / count));
  const chunks: string[] = [];
  for (let start = 0; start < text.length; start += size) {
    chunks.push(text.slice(start, start + size));
  }
  return chunks;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * A fake Anthropic Messages API on 127.0.0.1 that answers `HEAD /` and
 * streams SSE replies to `POST /v1/messages`, recording every request body.
 *
 * ```ts
 * await using api = FakeAnthropicApi.start();
 * api.enqueueReply({ kind: "text", text: "hi", streamDurationMs: 2000 });
 * // run claude with ANTHROPIC_BASE_URL=api.url …
 * ```
 */
export class FakeAnthropicApi implements AsyncDisposable {
  /** Every `POST /v1/messages` body, parsed, in arrival order. */
  readonly requests: unknown[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #deltaCount: number;
  readonly #scriptedReplies: FakeReply[] = [];
  // Deno.serve's shutdown waits for open response bodies, and req.signal is
  // unreliable here, so each stream gets its own abort switch for close().
  readonly #openStreams = new Set<AbortController>();
  #messageCount = 0;

  private constructor(options: FakeAnthropicApiOptions) {
    this.#deltaCount = options.deltaCount ?? DEFAULT_DELTA_COUNT;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  /** Starts the fake on a free port of 127.0.0.1. */
  static start(options: FakeAnthropicApiOptions = {}): FakeAnthropicApi {
    return new FakeAnthropicApi(options);
  }

  /** Base URL for `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:40123`. */
  get url(): string {
    const { hostname, port } = this.#server.addr;
    return `http://${hostname}:${port}`;
  }

  /**
   * Queues a reply for the next request. Unscripted requests get text
   * replies: `Hello from fake API: <last user text>`, or
   * `Tool result seen: <tool result>` when the request answers a tool call.
   */
  enqueueReply(reply: FakeReply): void {
    this.#scriptedReplies.push(reply);
  }

  /** Ends open streams, then stops the server. */
  async close(): Promise<void> {
    for (const stream of this.#openStreams) stream.abort();
    await this.#server.shutdown();
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #handle(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    // The CLI sends a HEAD / connectivity preflight before its first call.
    if (request.method === "HEAD" && pathname === "/") {
      return new Response(null, { status: 200 });
    }
    if (request.method !== "POST" || pathname !== "/v1/messages") {
      await request.body?.cancel();
      return new Response("not found", { status: 404 });
    }
    const body: unknown = await request.json();
    this.requests.push(body);
    const reply = this.#scriptedReplies.shift() ?? { kind: "text" };
    const model = (body as { model?: unknown }).model;
    return this.#streamResponse(
      this.#replyEvents(reply, body, typeof model === "string" ? model : ""),
      reply.kind === "text" ? reply.streamDurationMs ?? 0 : 0,
    );
  }

  #replyEvents(reply: FakeReply, body: unknown, model: string): SseEvent[] {
    this.#messageCount += 1;
    const id = `msg_fake_${this.#messageCount}`;
    const start: SseEvent = {
      type: "message_start",
      message: {
        id,
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: 100,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          output_tokens: 1,
        },
      },
    };
    const finish = (stopReason: string, outputTokens: number): SseEvent[] => [
      { type: "content_block_stop", index: 0 },
      {
        type: "message_delta",
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: outputTokens },
      },
      { type: "message_stop" },
    ];
    if (reply.kind === "bash") {
      const input = {
        command: reply.command,
        description: reply.description ?? "Run a command",
      };
      return [
        start,
        {
          type: "content_block_start",
          index: 0,
          content_block: {
            type: "tool_use",
            id: `toolu_fake_${this.#messageCount}`,
            name: "Bash",
            input: {},
          },
        },
        {
          type: "content_block_delta",
          index: 0,
          delta: {
            type: "input_json_delta",
            partial_json: JSON.stringify(input),
          },
        },
        ...finish("tool_use", 20),
      ];
    }
    const text = reply.text ?? defaultReplyText(body);
    const deltas = splitIntoChunks(text, this.#deltaCount);
    return [
      start,
      {
        type: "content_block_start",
        index: 0,
        content_block: { type: "text", text: "" },
      },
      ...deltas.map((chunk): SseEvent => ({
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text: chunk },
      })),
      ...finish("end_turn", deltas.length),
    ];
  }

  #streamResponse(events: SseEvent[], streamDurationMs: number): Response {
    const encoder = new TextEncoder();
    const abort = new AbortController();
    const openStreams = this.#openStreams;
    const deltaCount =
      events.filter((event) => event.type === "content_block_delta").length;
    const pauseMs = deltaCount > 0 ? streamDurationMs / deltaCount : 0;
    openStreams.add(abort);
    const pump = async (
      controller: ReadableStreamDefaultController<Uint8Array>,
    ) => {
      try {
        for (const event of events) {
          if (abort.signal.aborted) break;
          if (event.type === "content_block_delta") {
            await pause(pauseMs, abort.signal);
            if (abort.signal.aborted) break;
          }
          controller.enqueue(
            encoder.encode(
              `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`,
            ),
          );
        }
        controller.close();
      } catch {
        // The client hung up (e.g. an interrupt) and the stream is gone;
        // there is nobody left to tell.
      } finally {
        openStreams.delete(abort);
      }
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        void pump(controller);
      },
      cancel() {
        abort.abort();
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "request-id": `req_fake_${this.#messageCount}`,
      },
    });
  }
}
