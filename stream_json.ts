// The Claude CLI stream-json protocol: parses stdout lines into typed events
// and builds the stdin lines the bot writes (see shared/claude-cli.md §3–5).

import { z } from "zod";

/** One block of a user message: text, or a base64 image. */
export type ContentBlock =
  | { type: "text"; text: string }
  | {
    type: "image";
    source: { type: "base64"; media_type: string; data: string };
  };

/** Token counts of one turn, from `result.usage`. */
export interface TurnUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
}

/** What one stdout line of the CLI means to the bot. */
export type ClaudeEvent =
  /** `system/init`, printed at the start of every turn. */
  | {
    type: "init";
    sessionId: string;
    model?: string;
    permissionMode?: string;
  }
  /** A live text delta of the top-level reply (`--include-partial-messages`). */
  | { type: "text_delta"; text: string }
  /** A complete text block of a top-level assistant message. */
  | { type: "text"; text: string; messageId?: string }
  /** A top-level tool call. */
  | {
    type: "tool_use";
    id: string;
    name: string;
    input: Record<string, unknown>;
  }
  /** The outcome of a top-level tool call, flattened to text. */
  | {
    type: "tool_result";
    toolUseId: string;
    content: string;
    isError: boolean;
  }
  /** The last event of every turn. `usage` is per turn, the cost cumulative. */
  | {
    type: "result";
    subtype: string;
    isError: boolean;
    sessionId?: string;
    text?: string;
    totalCostUsd?: number;
    durationMs?: number;
    numTurns?: number;
    usage?: TurnUsage;
    contextWindow?: number;
    errors: string[];
    terminalReason?: string;
  }
  /** `control_request` `can_use_tool` (`--permission-prompt-tool stdio`). */
  | {
    type: "permission_request";
    requestId: string;
    toolName: string;
    input: Record<string, unknown>;
    description?: string;
    toolUseId?: string;
  }
  /** The CLI's answer to a control request of ours, such as an interrupt. */
  | { type: "control_response"; requestId: string; isSuccess: boolean }
  /** `system/api_retry`: the CLI is backing off before retrying the API. */
  | {
    type: "api_retry";
    attempt: number;
    maxRetries?: number;
    retryDelayMs?: number;
  }
  /** Any other or unknown event: tolerated, not an error. */
  | { type: "ignored"; rawType: string; rawSubtype?: string };

// Optional fields fall back to undefined when missing *or* malformed, so a
// CLI upgrade that reshapes a cosmetic field cannot break a turn.
function lenient<T extends z.ZodType>(schema: T) {
  return schema.optional().catch(undefined);
}

const jsonObject = z.record(z.string(), z.unknown());

const rawEventSchema = z.looseObject({
  type: z.string(),
  subtype: lenient(z.string()),
});

const initSchema = z.looseObject({
  session_id: z.string(),
  model: lenient(z.string()),
  permissionMode: lenient(z.string()),
});

const apiRetrySchema = z.looseObject({
  attempt: z.number(),
  max_retries: lenient(z.number()),
  retry_delay_ms: lenient(z.number()),
});

const streamEventSchema = z.looseObject({
  parent_tool_use_id: lenient(z.string().nullable()),
  event: z.looseObject({
    type: z.string(),
    delta: lenient(
      z.looseObject({ type: z.string(), text: lenient(z.string()) }),
    ),
  }),
});

const contentBlockSchema = z.looseObject({ type: z.string() });

const textBlockSchema = z.looseObject({ text: z.string() });

const toolUseBlockSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  input: jsonObject.catch({}),
});

const toolResultBlockSchema = z.looseObject({
  tool_use_id: z.string(),
  content: lenient(z.union([z.string(), z.array(contentBlockSchema)])),
  is_error: lenient(z.boolean()),
});

const messageEventSchema = z.looseObject({
  parent_tool_use_id: lenient(z.string().nullable()),
  message: z.looseObject({
    id: lenient(z.string()),
    content: z.union([z.string(), z.array(contentBlockSchema)]),
  }),
});

const usageSchema = z.looseObject({
  input_tokens: z.number().catch(0),
  output_tokens: z.number().catch(0),
  cache_read_input_tokens: z.number().catch(0),
  cache_creation_input_tokens: z.number().catch(0),
});

const resultSchema = z.looseObject({
  subtype: z.string(),
  is_error: lenient(z.boolean()),
  session_id: lenient(z.string()),
  result: lenient(z.string()),
  total_cost_usd: lenient(z.number()),
  duration_ms: lenient(z.number()),
  num_turns: lenient(z.number()),
  usage: lenient(usageSchema),
  modelUsage: lenient(
    z.record(
      z.string(),
      z.looseObject({ contextWindow: lenient(z.number()) }).catch({}),
    ),
  ),
  errors: z.array(z.string()).catch([]),
  terminal_reason: lenient(z.string()),
});

const controlRequestSchema = z.looseObject({
  request_id: z.string(),
  request: z.looseObject({ subtype: z.string() }),
});

const canUseToolSchema = z.looseObject({
  tool_name: z.string(),
  input: jsonObject.catch({}),
  description: lenient(z.string()),
  tool_use_id: lenient(z.string()),
});

const controlResponseSchema = z.looseObject({
  response: z.looseObject({ subtype: z.string(), request_id: z.string() }),
});

type RawEvent = z.infer<typeof rawEventSchema>;

/**
 * Parses one stdout line of `claude --output-format stream-json` into zero or
 * more events. Tolerates unknown fields and event types and missing optional
 * fields; only `type`, `subtype` and what a turn truly needs are relied on.
 * Events of subagents (non-null `parent_tool_use_id`) are `ignored`.
 *
 * @throws {SyntaxError} when the line is not JSON, not an object with a string
 * `type`, or a known event lacks a field the bot needs (an init without
 * `session_id`, a tool_use without `id`, …).
 */
export function parseClaudeLine(line: string): ClaudeEvent[] {
  const json = parseJson(line);
  const raw = rawEventSchema.safeParse(json);
  if (!raw.success) {
    throw new SyntaxError(
      `Cannot parse claude output line ${excerpt(line)}: ` +
        "not an object with a string type",
    );
  }
  return toEvents(raw.data, json);
}

function toEvents(raw: RawEvent, json: unknown): ClaudeEvent[] {
  switch (raw.type) {
    case "system":
      if (raw.subtype === "init") return [toInit(json)];
      if (raw.subtype === "api_retry") return [toApiRetry(json)];
      break;
    case "stream_event":
      return [toStreamEvent(json)];
    case "assistant":
      return orIgnored(assistantEvents(json), raw);
    case "user":
      return orIgnored(userEvents(json), raw);
    case "result":
      return [toResult(json)];
    case "control_request":
      return [toControlRequest(json)];
    case "control_response":
      return [toControlResponse(json)];
  }
  return [ignored(raw.type, raw.subtype)];
}

function toInit(json: unknown): ClaudeEvent {
  const init = parseEvent(initSchema, json, "system/init");
  return {
    type: "init",
    sessionId: init.session_id,
    model: init.model,
    permissionMode: init.permissionMode,
  };
}

function toApiRetry(json: unknown): ClaudeEvent {
  const retry = parseEvent(apiRetrySchema, json, "system/api_retry");
  return {
    type: "api_retry",
    attempt: retry.attempt,
    maxRetries: retry.max_retries,
    retryDelayMs: retry.retry_delay_ms,
  };
}

function toStreamEvent(json: unknown): ClaudeEvent {
  const { parent_tool_use_id, event } = parseEvent(
    streamEventSchema,
    json,
    "stream_event",
  );
  const text = event.delta?.type === "text_delta"
    ? event.delta.text
    : undefined;
  if (
    !parent_tool_use_id && event.type === "content_block_delta" &&
    text !== undefined
  ) {
    return { type: "text_delta", text };
  }
  return ignored("stream_event", event.type);
}

function assistantEvents(json: unknown): ClaudeEvent[] {
  const { parent_tool_use_id, message } = parseEvent(
    messageEventSchema,
    json,
    "assistant",
  );
  if (parent_tool_use_id) return [];
  if (typeof message.content === "string") {
    return [{ type: "text", text: message.content, messageId: message.id }];
  }
  return message.content.flatMap((block): ClaudeEvent[] => {
    if (block.type === "text") {
      const { text } = parseEvent(textBlockSchema, block, "assistant text");
      return [{ type: "text", text, messageId: message.id }];
    }
    if (block.type === "tool_use") {
      const tool = parseEvent(toolUseBlockSchema, block, "assistant tool_use");
      return [{
        type: "tool_use",
        id: tool.id,
        name: tool.name,
        input: tool.input,
      }];
    }
    // Thinking and server-tool blocks carry nothing the bot shows.
    return [];
  });
}

function userEvents(json: unknown): ClaudeEvent[] {
  const { parent_tool_use_id, message } = parseEvent(
    messageEventSchema,
    json,
    "user",
  );
  // Plain-text user events are replays and interrupt markers; the turn's
  // `result` already tells the bot how it ended.
  if (parent_tool_use_id || typeof message.content === "string") return [];
  return message.content.flatMap((block): ClaudeEvent[] => {
    if (block.type !== "tool_result") return [];
    const result = parseEvent(toolResultBlockSchema, block, "tool_result");
    return [{
      type: "tool_result",
      toolUseId: result.tool_use_id,
      content: flattenToolResult(result.content),
      isError: result.is_error ?? false,
    }];
  });
}

// Tool results may be a string or content blocks; non-text blocks (images)
// become a placeholder so a chat summary can still mention them.
function flattenToolResult(
  content: string | z.infer<typeof contentBlockSchema>[] | undefined,
): string {
  if (content === undefined || typeof content === "string") {
    return content ?? "";
  }
  return content
    .map((block) =>
      block.type === "text" && typeof block.text === "string"
        ? block.text
        : `[${block.type}]`
    )
    .join("\n");
}

function toResult(json: unknown): ClaudeEvent {
  const result = parseEvent(resultSchema, json, "result");
  const firstModelUsage = Object.values(result.modelUsage ?? {})[0];
  const usage = result.usage && {
    inputTokens: result.usage.input_tokens,
    outputTokens: result.usage.output_tokens,
    cacheReadInputTokens: result.usage.cache_read_input_tokens,
    cacheCreationInputTokens: result.usage.cache_creation_input_tokens,
  };
  return {
    type: "result",
    subtype: result.subtype,
    // The CLI always sends is_error; should it vanish, only "success" is safe
    // to read as a success.
    isError: result.is_error ?? result.subtype !== "success",
    sessionId: result.session_id,
    text: result.result,
    totalCostUsd: result.total_cost_usd,
    durationMs: result.duration_ms,
    numTurns: result.num_turns,
    usage,
    contextWindow: firstModelUsage?.contextWindow,
    errors: result.errors,
    terminalReason: result.terminal_reason,
  };
}

function toControlRequest(json: unknown): ClaudeEvent {
  const { request_id, request } = parseEvent(
    controlRequestSchema,
    json,
    "control_request",
  );
  if (request.subtype !== "can_use_tool") {
    return ignored("control_request", request.subtype);
  }
  const ask = parseEvent(canUseToolSchema, request, "can_use_tool");
  return {
    type: "permission_request",
    requestId: request_id,
    toolName: ask.tool_name,
    input: ask.input,
    description: ask.description,
    toolUseId: ask.tool_use_id,
  };
}

function toControlResponse(json: unknown): ClaudeEvent {
  const { response } = parseEvent(
    controlResponseSchema,
    json,
    "control_response",
  );
  return {
    type: "control_response",
    requestId: response.request_id,
    isSuccess: response.subtype === "success",
  };
}

function orIgnored(events: ClaudeEvent[], raw: RawEvent): ClaudeEvent[] {
  return events.length > 0 ? events : [ignored(raw.type, raw.subtype)];
}

function ignored(rawType: string, rawSubtype: string | undefined): ClaudeEvent {
  return rawSubtype === undefined
    ? { type: "ignored", rawType }
    : { type: "ignored", rawType, rawSubtype };
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new SyntaxError(
      `Cannot parse claude output line ${excerpt(line)}: ` +
        (error instanceof Error ? error.message : String(error)),
      { cause: error },
    );
  }
}

function parseEvent<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  throw new SyntaxError(
    `Cannot parse claude "${what}" event: ${
      issue.path.join(".") || "(root)"
    }: ${issue.message}`,
    { cause: parsed.error },
  );
}

// Lines can be megabytes (images, tool output); logs get the start only.
function excerpt(line: string): string {
  const maxChars = 80;
  return JSON.stringify(
    line.length > maxChars ? `${line.slice(0, maxChars)}…` : line,
  );
}

/** The stdin line (no trailing newline) carrying one user message. */
export function userMessageLine(content: string | ContentBlock[]): string {
  return JSON.stringify({ type: "user", message: { role: "user", content } });
}

/** The stdin line asking the CLI to interrupt the running turn. */
export function interruptRequestLine(requestId: string): string {
  return JSON.stringify({
    type: "control_request",
    request_id: requestId,
    request: { subtype: "interrupt" },
  });
}

/** The stdin line answering a `can_use_tool` permission request. */
export function permissionResponseLine(
  requestId: string,
  decision:
    | { behavior: "allow"; updatedInput: Record<string, unknown> }
    | { behavior: "deny"; message: string },
): string {
  return JSON.stringify({
    type: "control_response",
    response: { subtype: "success", request_id: requestId, response: decision },
  });
}
