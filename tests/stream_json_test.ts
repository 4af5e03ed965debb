// Tests for stream_json.ts: replays recorded Claude CLI output (fixtures from
// shared/claude-cli/) and checks the stdin lines against recorded input.

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ClaudeEvent,
  interruptRequestLine,
  parseClaudeLine,
  permissionResponseLine,
  userMessageLine,
} from "../stream_json.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

async function fixtureLines(name: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL(name, FIXTURES));
  return text.split("\n").filter((line) => line !== "");
}

async function replay(name: string): Promise<ClaudeEvent[]> {
  return (await fixtureLines(name)).flatMap(parseClaudeLine);
}

async function replayWithoutIgnored(name: string): Promise<ClaudeEvent[]> {
  return (await replay(name)).filter((event) => event.type !== "ignored");
}

const ZERO_USAGE = {
  inputTokens: 0,
  outputTokens: 0,
  cacheReadInputTokens: 0,
  cacheCreationInputTokens: 0,
};

function init(sessionId: string): ClaudeEvent {
  return {
    type: "init",
    sessionId,
    model: "claude-opus-4-8[1m]",
    permissionMode: "default",
  };
}

Deno.test("parseClaudeLine() replays a turn with partial messages (b7)", async () => {
  const sessionId = "dd1db94c-277b-4c78-9cca-712b430a85e1";
  assert.deepEqual(await replay("b7-include-partial-messages.jsonl"), [
    init(sessionId),
    { type: "ignored", rawType: "system", rawSubtype: "status" },
    { type: "ignored", rawType: "stream_event", rawSubtype: "message_start" },
    {
      type: "ignored",
      rawType: "stream_event",
      rawSubtype: "content_block_start",
    },
    { type: "text_delta", text: "ECHO: " },
    { type: "text_delta", text: "hello" },
    { type: "text", text: "ECHO: hello", messageId: "msg_fake_0012" },
    {
      type: "ignored",
      rawType: "stream_event",
      rawSubtype: "content_block_stop",
    },
    { type: "ignored", rawType: "stream_event", rawSubtype: "message_delta" },
    { type: "ignored", rawType: "stream_event", rawSubtype: "message_stop" },
    {
      type: "result",
      subtype: "success",
      isError: false,
      sessionId,
      text: "ECHO: hello",
      totalCostUsd: 0.008425,
      durationMs: 126,
      numTurns: 1,
      usage: {
        inputTokens: 1650,
        outputTokens: 7,
        cacheReadInputTokens: 0,
        cacheCreationInputTokens: 0,
      },
      contextWindow: 1_000_000,
      errors: [],
      terminalReason: "completed",
    },
  ]);
});

Deno.test("parseClaudeLine() replays two turns of one process (c)", async () => {
  const events = await replayWithoutIgnored("c-long-lived-two-turns.jsonl");
  assert.deepEqual(events.map((event) => event.type), [
    "init",
    "text",
    "result",
    "init",
    "text",
    "result",
  ]);
  assert.deepEqual(events[4], {
    type: "text",
    text: "ECHO: second message",
    messageId: "msg_fake_0015",
  });
  const [first, second] = events.filter((event) => event.type === "result");
  // Cost is cumulative for the process, usage per turn.
  assert.equal(first.totalCostUsd, 0.008435);
  assert.equal(second.totalCostUsd, 0.017055);
  assert.equal(second.usage?.inputTokens, 1689);
  assert.equal(second.text, "ECHO: second message");
});

Deno.test("parseClaudeLine() replays an interrupted turn (c4)", async () => {
  const sessionId = "81f471b8-a719-47e8-ae48-b82b1968f5ca";
  const events = await replay("c4-interrupt-control-request.jsonl");
  assert.deepEqual(events.slice(0, 4), [
    init(sessionId),
    { type: "control_response", requestId: "req_int_1", isSuccess: true },
    { type: "ignored", rawType: "user" },
    {
      type: "result",
      subtype: "error_during_execution",
      isError: true,
      sessionId,
      text: undefined,
      totalCostUsd: 0,
      durationMs: 63,
      numTurns: 2,
      usage: ZERO_USAGE,
      contextWindow: undefined,
      errors: [
        "[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=null",
      ],
      terminalReason: "aborted_streaming",
    },
  ]);
  assert.deepEqual(events.slice(4).map((event) => event.type), [
    "init",
    "text",
    "result",
  ]);
});

Deno.test("parseClaudeLine() replays an interrupt during a tool (f7)", async () => {
  const events = await replayWithoutIgnored(
    "f7-interrupt-while-bash-tool-runs.jsonl",
  );
  assert.deepEqual(events.map((event) => event.type), [
    "init",
    "text",
    "tool_use",
    "control_response",
    "tool_result",
    "result",
  ]);
  const result = events.at(-1);
  assert.equal(result?.type, "result");
  assert.equal(result.terminalReason, "aborted_tools");
  assert.equal(events[4].type === "tool_result" && events[4].isError, true);
});

Deno.test("parseClaudeLine() replays permission prompts over stdio (c5)", async () => {
  const events = await replayWithoutIgnored(
    "c5-permission-prompt-tool-stdio.jsonl",
  );
  const input = {
    command: "touch /home/user/session/proj/perm-test.txt",
    description: "Print hi",
  };
  assert.deepEqual(events.slice(1, 6), [
    {
      type: "text",
      text: "I will run a command.",
      messageId: "msg_fake_0021",
    },
    { type: "tool_use", id: "toolu_fake_0021", name: "Bash", input },
    {
      type: "permission_request",
      requestId: "37086c9e-c35d-4ed4-9a00-09ddb758e85e",
      toolName: "Bash",
      input,
      description: "Print hi",
      toolUseId: "toolu_fake_0021",
    },
    {
      type: "tool_result",
      toolUseId: "toolu_fake_0021",
      content: "(Bash completed with no output)",
      isError: false,
    },
    {
      type: "text",
      text: "TOOL_RESULT_SEEN: (Bash completed with no output)",
      messageId: "msg_fake_0022",
    },
  ]);
  assert.deepEqual(
    events.find((event, i) => i > 7 && event.type === "tool_result"),
    {
      type: "tool_result",
      toolUseId: "toolu_fake_0023",
      content: "User said no via Telegram",
      isError: true,
    },
  );
});

Deno.test("parseClaudeLine() replays a tool call without prompts (b3)", async () => {
  const events = await replayWithoutIgnored(
    "b3-tool-use-echo-default-perms.jsonl",
  );
  assert.deepEqual(events.slice(1, 4), [
    {
      type: "text",
      text: "I will run a command.",
      messageId: "msg_fake_0004",
    },
    {
      type: "tool_use",
      id: "toolu_fake_0004",
      name: "Bash",
      input: { command: "echo hi", description: "Print hi" },
    },
    {
      type: "tool_result",
      toolUseId: "toolu_fake_0004",
      content: "hi",
      isError: false,
    },
  ]);
  const result = events.at(-1);
  assert.equal(result?.type, "result");
  assert.equal(result.numTurns, 2);
});

Deno.test("parseClaudeLine() replays failed resumes (d3, d4)", async (t) => {
  for (
    const [name, sessionId] of [
      ["d3-resume-other-cwd.jsonl", "013d6ec2-fe89-4fff-b006-c1dfb6654201"],
      [
        "d4-resume-nonexistent-uuid.stdout.jsonl",
        "00000000-0000-4000-8000-000000000000",
      ],
    ]
  ) {
    await t.step(name, async () => {
      assert.deepEqual(await replay(name), [{
        type: "result",
        subtype: "error_during_execution",
        isError: true,
        sessionId,
        text: undefined,
        totalCostUsd: 0,
        durationMs: 0,
        numTurns: 0,
        usage: ZERO_USAGE,
        contextWindow: undefined,
        errors: [`No conversation found with session ID: ${sessionId}`],
        terminalReason: undefined,
      }]);
    });
  }
});

Deno.test("parseClaudeLine() replays API errors as text and an error result", async (t) => {
  await t.step("HTTP 400 (b8)", async () => {
    const events = await replayWithoutIgnored("b8-api-error-400.jsonl");
    assert.deepEqual(events.slice(1).map((event) => event.type), [
      "text",
      "result",
    ]);
    const [, text, result] = events;
    assert.equal(
      text.type === "text" && text.text,
      "API Error: 400 fake server: API_ERROR requested",
    );
    assert.equal(result.type === "result" && result.subtype, "success");
    assert.equal(result.type === "result" && result.isError, true);
  });
  await t.step("unreachable with retries (b9)", async () => {
    const events = await replayWithoutIgnored("b9-api-unreachable.jsonl");
    assert.deepEqual(events.slice(1, 3), [
      {
        type: "api_retry",
        attempt: 1,
        maxRetries: 2,
        retryDelayMs: 589.2028707242575,
      },
      {
        type: "api_retry",
        attempt: 2,
        maxRetries: 2,
        retryDelayMs: 1158.6912044489275,
      },
    ]);
    const result = events.at(-1);
    assert.equal(result?.type === "result" && result.isError, true);
  });
});

Deno.test("parseClaudeLine() ignores subagent events", () => {
  const parent = { parent_tool_use_id: "toolu_parent", session_id: "s" };
  const lines = [
    {
      type: "assistant",
      message: { id: "m", content: [{ type: "text", text: "inner" }] },
      ...parent,
    },
    {
      type: "user",
      message: {
        content: [{ type: "tool_result", tool_use_id: "t", content: "x" }],
      },
      ...parent,
    },
    {
      type: "stream_event",
      event: {
        type: "content_block_delta",
        delta: { type: "text_delta", text: "inner" },
      },
      ...parent,
    },
  ];
  assert.deepEqual(lines.map((line) => parseClaudeLine(JSON.stringify(line))), [
    [{ type: "ignored", rawType: "assistant" }],
    [{ type: "ignored", rawType: "user" }],
    [{
      type: "ignored",
      rawType: "stream_event",
      rawSubtype: "content_block_delta",
    }],
  ]);
});

Deno.test("parseClaudeLine() tolerates unknown and missing fields", async (t) => {
  await t.step("a minimal result gets defaults", () => {
    assert.deepEqual(parseClaudeLine(`{"type":"result","subtype":"success"}`), [
      {
        type: "result",
        subtype: "success",
        isError: false,
        sessionId: undefined,
        text: undefined,
        totalCostUsd: undefined,
        durationMs: undefined,
        numTurns: undefined,
        usage: undefined,
        contextWindow: undefined,
        errors: [],
        terminalReason: undefined,
      },
    ]);
  });
  await t.step("a result without is_error is an error unless success", () => {
    const [event] = parseClaudeLine(`{"type":"result","subtype":"error_x"}`);
    assert.equal(event.type === "result" && event.isError, true);
  });
  await t.step("malformed optional fields become undefined", () => {
    const line = JSON.stringify({
      type: "system",
      subtype: "init",
      session_id: "s",
      model: 42,
      permissionMode: null,
      brand_new: { x: 1 },
    });
    assert.deepEqual(parseClaudeLine(line), [{
      type: "init",
      sessionId: "s",
      model: undefined,
      permissionMode: undefined,
    }]);
  });
  await t.step("unknown event types and subtypes are ignored", () => {
    assert.deepEqual(parseClaudeLine(`{"type":"mystery_event"}`), [
      { type: "ignored", rawType: "mystery_event" },
    ]);
    assert.deepEqual(
      parseClaudeLine(`{"type":"system","subtype":"task_started"}`),
      [{ type: "ignored", rawType: "system", rawSubtype: "task_started" }],
    );
    assert.deepEqual(
      parseClaudeLine(
        `{"type":"control_request","request_id":"r","request":{"subtype":"set_model"}}`,
      ),
      [{
        type: "ignored",
        rawType: "control_request",
        rawSubtype: "set_model",
      }],
    );
  });
  await t.step("thinking blocks are skipped, tool results flattened", () => {
    const assistant = {
      type: "assistant",
      parent_tool_use_id: null,
      message: {
        id: "m",
        content: [
          { type: "thinking", thinking: "hmm" },
          { type: "text", text: "hi" },
        ],
      },
    };
    assert.deepEqual(parseClaudeLine(JSON.stringify(assistant)), [
      { type: "text", text: "hi", messageId: "m" },
    ]);
    const user = {
      type: "user",
      message: {
        content: [{
          type: "tool_result",
          tool_use_id: "t",
          content: [{ type: "text", text: "a" }, { type: "image" }],
        }],
      },
    };
    assert.deepEqual(parseClaudeLine(JSON.stringify(user)), [
      {
        type: "tool_result",
        toolUseId: "t",
        content: "a\n[image]",
        isError: false,
      },
    ]);
  });
  await t.step("a failed control response is not a success", () => {
    const line =
      `{"type":"control_response","response":{"subtype":"error","request_id":"r","error":"no"}}`;
    assert.deepEqual(parseClaudeLine(line), [
      { type: "control_response", requestId: "r", isSuccess: false },
    ]);
  });
});

Deno.test("parseClaudeLine() throws SyntaxError on lines it cannot use", async (t) => {
  const lines = [
    "",
    "this is not json",
    `{"type":"assistant","message":`,
    "null",
    "42",
    `"text"`,
    "[]",
    "{}",
    `{"type":1}`,
    `{"type":"system","subtype":"init"}`,
    `{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash"}]}}`,
    `{"type":"control_request","request":{"subtype":"can_use_tool"}}`,
  ];
  for (const line of lines) {
    await t.step(JSON.stringify(line), () => {
      assert.throws(() => parseClaudeLine(line), SyntaxError);
    });
  }
});

const KNOWN_EVENT_TYPES = new Set([
  "init",
  "text_delta",
  "text",
  "tool_use",
  "tool_result",
  "result",
  "permission_request",
  "control_response",
  "api_retry",
  "ignored",
]);

function parsesOrThrowsSyntaxError(line: string): boolean {
  try {
    return parseClaudeLine(line).every((event) =>
      KNOWN_EVENT_TYPES.has(event.type)
    );
  } catch (error) {
    return error instanceof SyntaxError;
  }
}

Deno.test("parseClaudeLine() returns events or throws SyntaxError for any input", async (t) => {
  await t.step("arbitrary strings", () => {
    fc.assert(fc.property(fc.string(), parsesOrThrowsSyntaxError));
  });
  await t.step("arbitrary JSON values", () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        (value) => parsesOrThrowsSyntaxError(JSON.stringify(value)),
      ),
    );
  });
  await t.step("events of known types with arbitrary fields", () => {
    const anyFields = <T extends string>(...keys: T[]) =>
      fc.record(
        Object.fromEntries(keys.map((key) => [key, fc.jsonValue()])) as Record<
          T,
          fc.Arbitrary<fc.JsonValue>
        >,
        { requiredKeys: [] },
      );
    const block = fc.tuple(
      fc.constantFrom("text", "tool_use", "tool_result", "image", "thinking"),
      anyFields("text", "id", "name", "input", "tool_use_id", "content"),
    ).map(([type, fields]) => ({ ...fields, type }));
    const event = fc.record({
      type: fc.constantFrom(
        "system",
        "stream_event",
        "assistant",
        "user",
        "result",
        "control_request",
        "control_response",
      ),
      subtype: fc.oneof(
        fc.constantFrom("init", "api_retry", "success", "status"),
        fc.jsonValue(),
      ),
      fields: anyFields(
        "session_id",
        "parent_tool_use_id",
        "request_id",
        "event",
        "response",
        "usage",
        "modelUsage",
        "errors",
        "is_error",
      ),
      content: fc.oneof(fc.string(), fc.array(block)),
      request: fc.tuple(
        fc.constantFrom("can_use_tool", "interrupt"),
        anyFields("tool_name", "input", "description"),
      ).map(([subtype, fields]) => ({ ...fields, subtype })),
    }).map(({ type, subtype, fields, content, request }) => ({
      ...fields,
      type,
      subtype,
      message: { id: "m", content },
      request,
    }));
    fc.assert(
      fc.property(
        event,
        (value) => parsesOrThrowsSyntaxError(JSON.stringify(value)),
      ),
    );
  });
  await t.step(
    "recorded events with one field removed or replaced",
    async () => {
      const recorded = [
        ...await fixtureLines("b7-include-partial-messages.jsonl"),
        ...await fixtureLines("c5-permission-prompt-tool-stdio.jsonl"),
        ...await fixtureLines("c4-interrupt-control-request.jsonl"),
      ].map((line) => JSON.parse(line) as Record<string, unknown>);
      fc.assert(
        fc.property(
          fc.constantFrom(...recorded),
          fc.nat(),
          fc.option(fc.jsonValue()),
          (event, keyIndex, replacement) => {
            const keys = Object.keys(event);
            const key = keys[keyIndex % keys.length];
            const mutated = { ...event };
            if (replacement === null) delete mutated[key];
            else mutated[key] = replacement;
            return parsesOrThrowsSyntaxError(JSON.stringify(mutated));
          },
        ),
      );
    },
  );
});

Deno.test("userMessageLine() matches the recorded stdin lines", async () => {
  const [first] = await fixtureLines("c-long-lived-two-turns.stdin.jsonl");
  assert.equal(userMessageLine("first message"), first);
  const [image] = await fixtureLines("h-image-input.stdin.jsonl");
  const { message } = JSON.parse(image);
  assert.equal(userMessageLine(message.content), image);
});

Deno.test("userMessageLine() keeps multi-line text on one line", () => {
  const line = userMessageLine("a\nb\r\nc");
  assert.equal(line.includes("\n"), false);
  assert.equal(JSON.parse(line).message.content, "a\nb\r\nc");
});

Deno.test("interruptRequestLine() builds the SDK interrupt request", () => {
  assert.equal(
    interruptRequestLine("req_int_1"),
    `{"type":"control_request","request_id":"req_int_1","request":{"subtype":"interrupt"}}`,
  );
});

Deno.test("permissionResponseLine() answers can_use_tool", async (t) => {
  await t.step("allow", () => {
    const input = { command: "touch x" };
    assert.deepEqual(
      JSON.parse(
        permissionResponseLine("r1", {
          behavior: "allow",
          updatedInput: input,
        }),
      ),
      {
        type: "control_response",
        response: {
          subtype: "success",
          request_id: "r1",
          response: { behavior: "allow", updatedInput: input },
        },
      },
    );
  });
  await t.step("deny", () => {
    const line = permissionResponseLine("r2", {
      behavior: "deny",
      message: "User said no via Telegram",
    });
    assert.equal(
      line,
      `{"type":"control_response","response":{"subtype":"success","request_id":"r2","response":{"behavior":"deny","message":"User said no via Telegram"}}}`,
    );
  });
});
