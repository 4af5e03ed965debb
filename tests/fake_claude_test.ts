// Tests for the fake `claude` executable (tests/fakes/): spawned through its
// wrapper script and read with stream_json.ts, which cross-checks both sides.

import assert from "node:assert/strict";
import { join } from "node:path";
import { TextLineStream } from "../line_stream.ts";
import {
  type ClaudeEvent,
  interruptRequestLine,
  parseClaudeLine,
  permissionResponseLine,
  userMessageLine,
} from "../stream_json.ts";
import { STREAM_JSON_ARGS } from "../subprocess.ts";
import { listClaudeSessions } from "../claude_history.ts";
import { createFakeClaudeBin } from "./fakes/claude_bin.ts";
import { withDeadline } from "./fakes/wait.ts";

// Generous: a cold Deno start of the fake takes well under a second.
const WAIT_MS = 15_000;

type Result = Extract<ClaudeEvent, { type: "result" }>;

/** A temp dir holding the fake `claude`, a project cwd, its state and log. */
class Workspace implements AsyncDisposable {
  readonly dir: string;
  readonly bin: string;
  readonly cwd: string;
  readonly logFile: string;

  private constructor(dir: string, bin: string) {
    this.dir = dir;
    this.bin = bin;
    this.cwd = join(dir, "proj");
    this.logFile = join(dir, "log.jsonl");
  }

  static async create(): Promise<Workspace> {
    const dir = await Deno.makeTempDir({ prefix: "fake_claude_test_" });
    const workspace = new Workspace(dir, await createFakeClaudeBin(dir));
    await Deno.mkdir(workspace.cwd);
    return workspace;
  }

  /** Starts the fake with stream-json args plus `args`. */
  start(
    args: string[] = [],
    options: { cwd?: string; env?: Record<string, string> } = {},
  ): FakeClaudeRun {
    return new FakeClaudeRun(
      new Deno.Command(this.bin, {
        args: [...STREAM_JSON_ARGS, ...args],
        cwd: options.cwd ?? this.cwd,
        env: {
          FAKE_CLAUDE_STATE_DIR: join(this.dir, "state"),
          FAKE_CLAUDE_LOG: this.logFile,
          ...options.env,
        },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
  }

  async readLog(): Promise<Record<string, unknown>[]> {
    const text = await Deno.readTextFile(this.logFile);
    return text.trim().split("\n").map((line) => JSON.parse(line));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** One running fake: line-level stdin/stdout access; SIGKILLed on dispose. */
class FakeClaudeRun implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  readonly #stderr: Promise<string>;
  #hasExited = false;
  #isStdinClosed = false;

  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#lines = child.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new TextLineStream())[Symbol.asyncIterator]();
    this.#stderr = new Response(child.stderr).text();
    child.status.then(() => {
      this.#hasExited = true;
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${line}\n`));
  }

  async closeStdin(): Promise<void> {
    this.#isStdinClosed = true;
    await this.#stdin.close();
  }

  /** The next stdout line, or undefined at the end of stdout. */
  async nextLine(): Promise<string | undefined> {
    const next = await withDeadline(this.#lines.next(), {
      what: "a line of output",
      ms: WAIT_MS,
    });
    return next.done ? undefined : next.value;
  }

  /** Parsed events up to and including the first one matching `isLast`. */
  async readUntil(
    isLast: (event: ClaudeEvent) => boolean,
  ): Promise<ClaudeEvent[]> {
    const events: ClaudeEvent[] = [];
    while (true) {
      const line = await this.nextLine();
      if (line === undefined) {
        throw new Error(`Output ended after ${JSON.stringify(events)}`);
      }
      for (const event of parseClaudeLine(line)) {
        events.push(event);
        if (isLast(event)) return events;
      }
    }
  }

  /** Events of one turn, up to its `result`. */
  async readTurn(): Promise<{ events: ClaudeEvent[]; result: Result }> {
    const events = await this.readUntil((event) => event.type === "result");
    return { events, result: events.at(-1) as Result };
  }

  /** Waits for the exit; returns the status, unread stdout lines and stderr. */
  async exit(): Promise<
    { status: Deno.CommandStatus; rest: string[]; stderr: string }
  > {
    const rest = [];
    let line;
    while ((line = await this.nextLine()) !== undefined) rest.push(line);
    const status = await withDeadline(this.#child.status, {
      what: "the fake to exit",
      ms: WAIT_MS,
    });
    return { status, rest, stderr: await this.#stderr };
  }

  kill(signal: Deno.Signal): void {
    Deno.kill(this.pid, signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#hasExited) this.kill("SIGKILL");
    await this.#lines.return?.();
    if (!this.#isStdinClosed) {
      // The child is gone, so closing its stdin may hit a broken pipe.
      await this.#stdin.abort().catch(() => {});
    }
    await this.#child.status;
    await this.#stderr;
  }
}

function textsOf(events: ClaudeEvent[]): string[] {
  return events.flatMap((event) => event.type === "text" ? [event.text] : []);
}

function initOf(events: ClaudeEvent[]): Extract<ClaudeEvent, { type: "init" }> {
  const init = events.find((event) => event.type === "init");
  assert.ok(init, "the turn has an init event");
  return init;
}

Deno.test("fake claude exits 0 without output when stdin closes at once", async () => {
  await using workspace = await Workspace.create();
  await using run = workspace.start();
  await run.closeStdin();
  const { status, rest, stderr } = await run.exit();
  assert.deepEqual([status.code, rest, stderr], [0, [], ""]);
});

Deno.test("fake claude answers two turns in one process with cumulative cost", async () => {
  await using workspace = await Workspace.create();
  await using run = workspace.start();
  await run.send(userMessageLine("first message"));
  const first = await run.readTurn();
  await run.send(userMessageLine("second message"));
  const second = await run.readTurn();

  const { sessionId } = initOf(first.events);
  assert.match(sessionId, /^[0-9a-f-]{36}$/);
  assert.equal(initOf(second.events).sessionId, sessionId);
  assert.equal(initOf(first.events).model, "claude-opus-4-8[1m]");
  assert.deepEqual(textsOf(first.events), ["echo: first message"]);
  assert.deepEqual(textsOf(second.events), ["echo: second message"]);
  assert.deepEqual(
    [first.result, second.result].map((result) => [
      result.subtype,
      result.isError,
      result.text,
      result.sessionId,
      result.totalCostUsd,
      result.contextWindow,
      result.numTurns,
    ]),
    [
      ["success", false, "echo: first message", sessionId, 0.01, 200_000, 1],
      ["success", false, "echo: second message", sessionId, 0.02, 200_000, 1],
    ],
  );
  assert.ok((second.result.usage?.inputTokens ?? 0) > 0);

  await run.closeStdin();
  const { status, rest } = await run.exit();
  assert.deepEqual([status.code, rest], [0, []]);
});

Deno.test("fake claude processes queued messages one turn at a time", async () => {
  await using workspace = await Workspace.create();
  await using run = workspace.start(["--include-partial-messages"]);
  await run.send(userMessageLine("!slow 20"));
  await run.send(userMessageLine("queued"));
  await run.closeStdin();
  const first = await run.readTurn();
  const second = await run.readTurn();
  assert.equal(
    first.events.filter((event) => event.type === "text_delta").length,
    "slow reply".length,
  );
  assert.deepEqual(textsOf(first.events), ["slow reply"]);
  assert.deepEqual(textsOf(second.events), ["echo: queued"]);
  assert.equal((await run.exit()).status.code, 0);
});

Deno.test("fake claude --resume restores history in a new process", async () => {
  await using workspace = await Workspace.create();
  let sessionId: string;
  {
    await using run = workspace.start();
    await run.send(userMessageLine("alpha"));
    sessionId = initOf((await run.readTurn()).events).sessionId;
    await run.send(userMessageLine("beta"));
    await run.readTurn();
    await run.closeStdin();
    assert.equal((await run.exit()).status.code, 0);
  }
  await using resumed = workspace.start([
    "--resume",
    sessionId,
    "--model",
    "sonnet",
  ]);
  await resumed.send(userMessageLine("!history"));
  const { events, result } = await resumed.readTurn();
  assert.equal(initOf(events).sessionId, sessionId);
  assert.equal(initOf(events).model, "sonnet");
  assert.deepEqual(JSON.parse(result.text ?? ""), ["alpha", "beta"]);
  // A fresh process starts its cumulative cost again.
  assert.equal(result.totalCostUsd, 0.01);
});

Deno.test("fake claude with CLAUDE_CONFIG_DIR keeps sessions where the CLI does, and takes --add-dir", async () => {
  await using workspace = await Workspace.create();
  const configDir = join(workspace.dir, "claude-config");
  const env = { CLAUDE_CONFIG_DIR: configDir };
  let sessionId: string;
  {
    await using run = workspace.start(
      ["--add-dir", join(workspace.dir, "uploads"), "--model", "sonnet"],
      { env },
    );
    await run.send(userMessageLine("from a terminal"));
    sessionId = initOf((await run.readTurn()).events).sessionId;
    await run.closeStdin();
    assert.equal((await run.exit()).status.code, 0);
  }

  const listed = await listClaudeSessions(configDir, workspace.cwd);
  assert.deepEqual(
    listed.map(({ id, firstPrompt }) => ({ id, firstPrompt })),
    [{ id: sessionId, firstPrompt: "from a terminal" }],
  );
  await using resumed = workspace.start(["--resume", sessionId], { env });
  await resumed.send(userMessageLine("!history"));
  const { result } = await resumed.readTurn();
  assert.deepEqual(JSON.parse(result.text ?? ""), ["from a terminal"]);
});

Deno.test("fake claude --resume fails like the CLI without history", async (t) => {
  await using workspace = await Workspace.create();
  const otherCwd = join(workspace.dir, "other");
  await Deno.mkdir(otherCwd);
  let knownId: string;
  {
    await using run = workspace.start();
    await run.send(userMessageLine("remember me"));
    knownId = initOf((await run.readTurn()).events).sessionId;
    await run.closeStdin();
    await run.exit();
  }
  const cases = [
    { name: "unknown id", id: crypto.randomUUID(), cwd: workspace.cwd },
    { name: "known id from another cwd", id: knownId, cwd: otherCwd },
    { name: "not a UUID", id: "not-a-uuid", cwd: workspace.cwd },
  ];
  for (const { name, id, cwd } of cases) {
    await t.step(name, async () => {
      await using run = workspace.start(["--resume", id], { cwd });
      await run.send(userMessageLine("hello"));
      const message = `No conversation found with session ID: ${id}`;
      const { events, result } = await run.readTurn();
      assert.deepEqual(events, [result]);
      assert.deepEqual(
        [result.subtype, result.isError, result.numTurns, result.errors],
        ["error_during_execution", true, 0, [message]],
      );
      const { status, stderr } = await run.exit();
      assert.deepEqual([status.code, stderr], [1, `${message}\n`]);
    });
  }
});

Deno.test("fake claude interrupt ends the turn and keeps the process alive", async (t) => {
  await using workspace = await Workspace.create();
  await using run = workspace.start([
    "--include-partial-messages",
    "--permission-prompt-tool",
    "stdio",
  ]);
  const turns = [
    {
      name: "while streaming",
      message: "!slow 600000",
      waitFor: "text_delta",
      reason: "aborted_streaming",
    },
    {
      name: "while hanging",
      message: "!hang",
      waitFor: "init",
      reason: "aborted_streaming",
    },
    {
      name: "while waiting for a permission answer",
      message: "!ask ls",
      waitFor: "permission_request",
      reason: "aborted_tools",
    },
  ];
  for (const [i, { name, message, waitFor, reason }] of turns.entries()) {
    await t.step(name, async () => {
      await run.send(userMessageLine(message));
      await run.readUntil((event) => event.type === waitFor);
      await run.send(interruptRequestLine(`int-${i}`));
      const events = await run.readUntil((event) => event.type === "result");
      assert.deepEqual(events.slice(0, 2), [
        { type: "control_response", requestId: `int-${i}`, isSuccess: true },
        { type: "ignored", rawType: "user" },
      ]);
      const result = events.at(-1) as Result;
      assert.deepEqual(
        [result.subtype, result.isError, result.terminalReason],
        ["error_during_execution", true, reason],
      );
    });
  }
  await t.step("the next message works", async () => {
    await run.send(userMessageLine("after interrupt"));
    const { events, result } = await run.readTurn();
    assert.deepEqual(
      textsOf(events),
      ["after interrupt"].map((text) => `echo: ${text}`),
    );
    assert.equal(result.isError, false);
  });
  await run.closeStdin();
  assert.equal((await run.exit()).status.code, 0);
});

Deno.test("fake claude exits on stdin EOF with the last result's status", async (t) => {
  await using workspace = await Workspace.create();
  await t.step(
    "EOF during a turn finishes the turn, then exits 0",
    async () => {
      await using run = workspace.start();
      await run.send(userMessageLine("!slow 30"));
      await run.closeStdin();
      const { result } = await run.readTurn();
      assert.equal(result.text, "slow reply");
      assert.equal((await run.exit()).status.code, 0);
    },
  );
  await t.step("EOF after an API error exits 1", async () => {
    await using run = workspace.start();
    await run.send(userMessageLine("!error"));
    const { events, result } = await run.readTurn();
    assert.match(textsOf(events)[0], /^API Error: 500 /);
    assert.deepEqual([result.subtype, result.isError], ["success", true]);
    await run.closeStdin();
    assert.equal((await run.exit()).status.code, 1);
  });
});

Deno.test("fake claude dies on an invalid stdin line like the CLI", async () => {
  await using workspace = await Workspace.create();
  await using run = workspace.start();
  await run.send("this is not json");
  const { status, rest, stderr } = await run.exit();
  assert.deepEqual([status.code, rest], [1, []]);
  assert.match(
    stderr,
    /^Error parsing streaming input line: this is not json: SyntaxError: /,
  );
});

Deno.test("fake claude rejects bad flags like the CLI", async (t) => {
  await using workspace = await Workspace.create();
  const cases = [
    {
      name: "stream-json without --verbose",
      args: [
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
      ],
      stderr:
        "Error: When using --print, --output-format=stream-json requires --verbose\n",
    },
    {
      name: "an invalid --permission-mode",
      args: [...STREAM_JSON_ARGS, "--permission-mode", "bogus"],
      stderr: "error: option '--permission-mode <mode>' argument 'bogus' is " +
        "invalid. Allowed choices are acceptEdits, auto, bypassPermissions, " +
        "default, dontAsk, plan.\n",
    },
  ];
  for (const { name, args, stderr } of cases) {
    await t.step(name, async () => {
      const output = await new Deno.Command(workspace.bin, {
        args,
        cwd: workspace.cwd,
        stdin: "null",
      }).output();
      assert.deepEqual(
        [
          output.code,
          output.stdout.length,
          new TextDecoder().decode(output.stderr),
        ],
        [1, 0, stderr],
      );
    });
  }
});

Deno.test("fake claude asks permission over stdio and waits for every answer", async () => {
  await using workspace = await Workspace.create();
  await using run = workspace.start(["--permission-prompt-tool", "stdio"]);
  await run.send(userMessageLine("!ask touch a && !ask rm b"));
  const asked = await run.readUntil((event) =>
    event.type === "permission_request" && event.input.command === "rm b"
  );
  const requests = asked.filter((event) => event.type === "permission_request");
  const toolUses = asked.filter((event) => event.type === "tool_use");
  assert.deepEqual(
    requests.map((request) => [request.toolName, request.toolUseId]),
    toolUses.map((toolUse) => ["Bash", toolUse.id]),
  );
  // Answer in reverse order: the turn must wait for both.
  await run.send(permissionResponseLine(requests[1].requestId, {
    behavior: "allow",
    updatedInput: { command: "rm -i b" },
  }));
  await run.send(permissionResponseLine(requests[0].requestId, {
    behavior: "deny",
    message: "not today",
  }));
  const { events, result } = await run.readTurn();
  assert.deepEqual(
    events.filter((event) => event.type === "tool_result")
      .map((event) => [event.content, event.isError]),
    [["not today", true], ["ran: rm -i b", false]],
  );
  assert.equal(result.text, "Denied: not today\nAllowed: rm -i b");
});

Deno.test("fake claude decides without asking when no prompt is needed", async (t) => {
  await using workspace = await Workspace.create();
  const cases = [
    {
      name: "--allowedTools Bash runs the command",
      args: ["--allowedTools", "Read", "Bash"],
      text: "Allowed: touch a",
    },
    {
      name: "no prompt tool denies it, as -p mode does",
      args: [],
      text: "Denied: Claude requested permissions to use Bash, but you " +
        "haven't granted it yet.",
    },
  ];
  for (const { name, args, text } of cases) {
    await t.step(name, async () => {
      await using run = workspace.start(args);
      await run.send(userMessageLine("!ask touch a"));
      const { events, result } = await run.readTurn();
      assert.equal(
        events.some((event) => event.type === "permission_request"),
        false,
      );
      assert.equal(result.text, text);
    });
  }
});

Deno.test("fake claude logs argv, environment names and stdin lines", async () => {
  await using workspace = await Workspace.create();
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? workspace.dir,
    CLAUDE_TELEGRAM_MARKER: "bot-1:session-a",
    FAKE_CLAUDE_LOG: workspace.logFile,
    FAKE_CLAUDE_STATE_DIR: join(workspace.dir, "state"),
  };
  const child = new Deno.Command(workspace.bin, {
    args: [...STREAM_JSON_ARGS, "--model", "opus"],
    cwd: workspace.cwd,
    clearEnv: true,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await using run = new FakeClaudeRun(child);
  const image = {
    type: "image" as const,
    source: { type: "base64" as const, media_type: "image/png", data: "iVBO" },
  };
  await run.send(userMessageLine([{ type: "text", text: "look" }, image]));
  const { result } = await run.readTurn();
  assert.equal(result.text, "echo: look [image]");
  await run.closeStdin();
  await run.exit();

  const [start, stdin] = await workspace.readLog();
  assert.deepEqual(start, {
    pid: run.pid,
    argv: [...STREAM_JSON_ARGS, "--model", "opus"],
    cwd: workspace.cwd,
    // The /bin/sh wrapper adds PWD, as a real shell wrapper would.
    envKeys: [...Object.keys(env), "PWD"].sort(),
    marker: "bot-1:session-a",
  });
  assert.deepEqual(stdin, {
    pid: run.pid,
    stdin: {
      type: "user",
      message: {
        role: "user",
        content: [{ type: "text", text: "look" }, image],
      },
    },
  });
});

Deno.test("fake claude directives script realistic turns", async (t) => {
  await using workspace = await Workspace.create();
  await using run = workspace.start(["--include-partial-messages"]);

  await t.step("!tools N: tool calls with results, then text", async () => {
    await run.send(userMessageLine("!tools 3"));
    const { events, result } = await run.readTurn();
    const toolUses = events.filter((event) => event.type === "tool_use");
    const toolResults = events.filter((event) => event.type === "tool_result");
    assert.deepEqual(
      toolUses.map((event) => event.input.command),
      ["ls -la src/1", "ls -la src/2", "ls -la src/3"],
    );
    assert.deepEqual(
      toolResults.map((event) => event.toolUseId),
      toolUses.map((event) => event.id),
    );
    assert.deepEqual([result.text, result.numTurns], [
      "Looked at 3 directories.",
      4,
    ]);
  });

  await t.step(
    "!long N: Markdown in 3 text blocks of one message",
    async () => {
      await run.send(userMessageLine("!long 5000"));
      const { events } = await run.readTurn();
      const texts = events.filter((event) => event.type === "text");
      assert.equal(texts.length, 3);
      assert.equal(new Set(texts.map((event) => event.messageId)).size, 1);
      const markdown = texts.map((event) => event.text).join("\n\n");
      assert.ok(
        markdown.length >= 5000 && markdown.length < 6000,
        `${markdown.length}`,
      );
      for (const part of ["## ", "\n- ", "| --- |", "```ts\n", "<", "&"]) {
        assert.ok(markdown.includes(part), part);
      }
      const deltas = events.flatMap((event) =>
        event.type === "text_delta" ? [event.text] : []
      );
      assert.equal(deltas.join(""), texts.map((event) => event.text).join(""));
    },
  );

  await t.step(
    "!garbage: malformed and unknown lines around an echo",
    async () => {
      await run.send(userMessageLine("!garbage"));
      const unparsable = [];
      const events: ClaudeEvent[] = [];
      while (events.at(-1)?.type !== "result") {
        const line = await run.nextLine();
        assert.ok(line !== undefined, "the turn ends with a result");
        try {
          events.push(...parseClaudeLine(line));
        } catch (error) {
          assert.ok(error instanceof SyntaxError);
          unparsable.push(line);
        }
      }
      assert.equal(unparsable.length, 3);
      assert.ok(
        events.some((event) =>
          event.type === "ignored" && event.rawType === "mystery_event"
        ),
      );
      assert.deepEqual(textsOf(events), ["echo: !garbage"]);
      assert.equal((events.at(-1) as Result).isError, false);
    },
  );

  await t.step("!tool-sleep S: a detached sleep left running", async () => {
    await run.send(userMessageLine("!tool-sleep 30"));
    const { events, result } = await run.readTurn();
    const toolResult = events.find((event) => event.type === "tool_result");
    const pid = Number(
      /^sleep pid: (\d+)$/.exec(toolResult?.content ?? "")?.[1],
    );
    assert.ok(pid > 0);
    try {
      assert.equal(result.text, `started sleep ${pid}`);
      const ps = await new Deno.Command("ps", {
        args: ["-o", "sid=,args=", "-p", String(pid)],
      }).output();
      // Its own session, like the Bash tool's `setsid`.
      assert.equal(
        new TextDecoder().decode(ps.stdout).trim(),
        `${pid} sleep 30`,
      );
    } finally {
      Deno.kill(pid, "SIGKILL");
    }
  });
});

Deno.test("fake claude !crash exits 3 mid-turn without a result", async () => {
  await using workspace = await Workspace.create();
  await using run = workspace.start(["--include-partial-messages"]);
  await run.send(userMessageLine("!crash"));
  const { status, rest, stderr } = await run.exit();
  const events = rest.flatMap(parseClaudeLine);
  assert.deepEqual(events.map((event) => event.type), ["init", "text_delta"]);
  assert.equal(status.code, 3);
  assert.match(stderr, /panic/);
});

Deno.test("fake claude handles signals like the CLI", async (t) => {
  await using workspace = await Workspace.create();

  await t.step("SIGTERM exits 143 and keeps the running prompt", async () => {
    let sessionId: string;
    {
      await using run = workspace.start();
      await run.send(userMessageLine("!hang"));
      sessionId = initOf(await run.readUntil((event) => event.type === "init"))
        .sessionId;
      run.kill("SIGTERM");
      const { status, rest } = await run.exit();
      assert.deepEqual([status.code, rest], [143, []]);
    }
    await using resumed = workspace.start(["--resume", sessionId]);
    await resumed.send(userMessageLine("!history"));
    const { result } = await resumed.readTurn();
    assert.deepEqual(JSON.parse(result.text ?? ""), ["!hang"]);
  });

  await t.step("SIGINT interrupts the turn, then exits 0", async () => {
    await using run = workspace.start();
    await run.send(userMessageLine("!hang"));
    await run.readUntil((event) => event.type === "init");
    run.kill("SIGINT");
    const { status, rest } = await run.exit();
    const result = rest.flatMap(parseClaudeLine).at(-1);
    assert.equal(
      result?.type === "result" && result.terminalReason,
      "aborted_streaming",
    );
    assert.equal(status.code, 0);
  });

  await t.step("FAKE_CLAUDE_IGNORE_SIGTERM=1 leaves only SIGKILL", async () => {
    await using run = workspace.start([], {
      env: { FAKE_CLAUDE_IGNORE_SIGTERM: "1" },
    });
    // A first turn proves the signal listeners are installed.
    await run.send(userMessageLine("before"));
    await run.readTurn();
    run.kill("SIGTERM");
    await run.send(userMessageLine("after SIGTERM"));
    const { result } = await run.readTurn();
    assert.equal(result.text, "echo: after SIGTERM");
    run.kill("SIGKILL");
    const { status } = await run.exit();
    assert.equal(status.signal, "SIGKILL");
  });
});
