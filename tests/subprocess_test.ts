// Tests for subprocess.ts: CLI flags, and ClaudeProcess driving the fake
// `claude` (tests/fakes/fake_claude.ts) as a real child process.

import assert from "node:assert/strict";
import { join } from "node:path";
import { MARKER_ENV } from "../process_tree.ts";
import type { ClaudeEvent } from "../stream_json.ts";
import { systemClock } from "../clock.ts";
import { type SpawnFn, systemSpawn } from "../spawner.ts";
import {
  claudeArgs,
  type ClaudeExit,
  ClaudeExitedError,
  ClaudeProcess,
  type ClaudeSettings,
  ClaudeStartError,
  type CommandWrapper,
} from "../subprocess.ts";
import { createFakeClaudeBin } from "./fakes/claude_bin.ts";
import { processes } from "./fakes/spare_process.ts";
import { withDeadline } from "./fakes/wait.ts";

// Generous: a cold Deno start of the fake takes well under a second.
const WAIT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

type EventOf<T extends ClaudeEvent["type"]> = Extract<ClaudeEvent, { type: T }>;

/** A temp dir with the fake `claude`, a project cwd, its state and log. */
class Workspace implements AsyncDisposable {
  readonly dir: string;
  readonly bin: string;
  readonly cwd: string;
  readonly logFile: string;
  readonly marker = `subprocess-test-${crypto.randomUUID()}`;

  private constructor(dir: string, bin: string) {
    this.dir = dir;
    this.bin = bin;
    this.cwd = join(dir, "project");
    this.logFile = join(dir, "log.jsonl");
  }

  static async create(): Promise<Workspace> {
    const dir = await Deno.makeTempDir({ prefix: "subprocess_test_" });
    const workspace = new Workspace(dir, await createFakeClaudeBin(dir));
    await Deno.mkdir(workspace.cwd);
    return workspace;
  }

  /** Claude's whole environment: only what the fake needs. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      HOME: join(this.dir, "home"),
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      // The fake's wrapper is a /bin/sh script, and sh always exports PWD;
      // passing it keeps the environment the fake sees exactly ours.
      PWD: this.cwd,
      FAKE_CLAUDE_STATE_DIR: join(this.dir, "state"),
      FAKE_CLAUDE_LOG: this.logFile,
      ...extra,
    };
  }

  /** The fake's log: argv and env names of each start, every stdin line. */
  async readLog(): Promise<Record<string, unknown>[]> {
    const text = await Deno.readTextFile(this.logFile);
    return text.trim().split("\n").map((line) => JSON.parse(line));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** A ClaudeProcess on the fake, with its events and log; SIGKILLed on dispose. */
class FakeClaudeProcess implements AsyncDisposable {
  readonly events: ClaudeEvent[] = [];
  readonly logLines: string[] = [];
  readonly process: ClaudeProcess;
  // Waiters re-check on every event and on exit, so none can miss either.
  readonly #onChange = new Set<() => void>();
  #exit: ClaudeExit | undefined;

  constructor(
    workspace: Workspace,
    options: {
      settings?: ClaudeSettings;
      env?: Record<string, string>;
      spawn?: SpawnFn;
      wrap?: CommandWrapper;
    } = {},
  ) {
    this.process = ClaudeProcess.start({
      bin: workspace.bin,
      cwd: workspace.cwd,
      env: workspace.env(options.env),
      settings: options.settings ?? {},
      marker: workspace.marker,
      log: (message) => this.logLines.push(message),
      spawn: options.spawn ?? systemSpawn,
      clock: systemClock,
      processes,
      wrap: options.wrap,
    });
    this.#read();
    this.process.exited.then((exit) => {
      this.#exit = exit;
      this.#notifyChange();
    });
  }

  #notifyChange(): void {
    for (const onChange of this.#onChange) onChange();
  }

  /** Reads the event stream to its end, as a session does. */
  async #read(): Promise<void> {
    for await (const event of this.process.events) {
      this.events.push(event);
      this.#notifyChange();
    }
  }

  /**
   * The first event of `type` at or after `fromIndex`; rejects after WAIT_MS
   * or when the process exits without one.
   */
  waitForEvent<T extends ClaudeEvent["type"]>(
    type: T,
    fromIndex = 0,
  ): Promise<EventOf<T>> {
    const isWanted = (event: ClaudeEvent): event is EventOf<T> =>
      event.type === type;
    let check = () => {};
    const found = new Promise<EventOf<T>>((resolve, reject) => {
      check = () => {
        const event = this.events.slice(fromIndex).find(isWanted);
        if (event) return resolve(event);
        const exit = this.#exit;
        if (exit === undefined) return;
        reject(
          new Error(
            `Claude exited before a "${type}" event: code ${exit.code}, ` +
              `signal ${exit.signal}: ${exit.stderrTail}`,
          ),
        );
      };
      this.#onChange.add(check);
      check();
    });
    return withDeadline(found, { what: `a "${type}" event`, ms: WAIT_MS })
      .finally(() => this.#onChange.delete(check));
  }

  /** Sends `content` and resolves with the turn's events up to its result. */
  async turn(content: string): Promise<ClaudeEvent[]> {
    const fromIndex = this.events.length;
    await this.process.sendUserMessage(content);
    await this.waitForEvent("result", fromIndex);
    return this.events.slice(fromIndex);
  }

  /** The exit, bounded, without stopping the process. */
  waitForExit(): Promise<ClaudeExit> {
    return withDeadline(this.process.exited, { what: "the exit", ms: WAIT_MS });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.process.isAlive) {
      try {
        Deno.kill(this.process.pid, "SIGKILL");
      } catch (error) {
        // Exited between the check and the kill: nothing left to stop.
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    await this.process.exited;
  }
}

/** SIGKILLs a process we did not spawn (a tool grandchild) if it still runs. */
function killIfAlive(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch (error) {
    // Already gone, which is what the test wants.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function textsOf(events: ClaudeEvent[]): string[] {
  return events.flatMap((event) => event.type === "text" ? [event.text] : []);
}

Deno.test("claudeArgs() builds the long-lived stream-json flags", async (t) => {
  const base = [
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
    "--include-partial-messages",
  ];

  await t.step("no settings add no flag", () => {
    assert.deepEqual(claudeArgs({}), base);
    assert.deepEqual(
      claudeArgs({
        resumeSessionId: "",
        model: "",
        appendSystemPrompt: "",
        permissionMode: "",
        allowedTools: [],
      }),
      base,
    );
  });

  await t.step("every setting becomes its flag", () => {
    const id = crypto.randomUUID();
    assert.deepEqual(
      claudeArgs({
        resumeSessionId: id,
        model: "sonnet",
        appendSystemPrompt: "You are terse.\nSecond line.",
        permissionMode: "acceptEdits",
        permissionPromptTool: "stdio",
        allowedTools: ["Read", "Bash(git log:*)"],
        maxBudgetUsd: 2.5,
        addDirs: ["/data/uploads/1001/api"],
      }),
      [
        ...base,
        "--resume",
        id,
        "--model",
        "sonnet",
        "--append-system-prompt",
        "You are terse.\nSecond line.",
        "--permission-mode",
        "acceptEdits",
        "--permission-prompt-tool",
        "stdio",
        "--allowedTools",
        "Read",
        "Bash(git log:*)",
        "--max-budget-usd",
        "2.5",
        "--add-dir",
        "/data/uploads/1001/api",
      ],
    );
  });
});

Deno.test("ClaudeProcess runs a turn and reports its events", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace, {
    settings: { model: "sonnet" },
  });
  const events = await claude.turn("hello there");
  const init = events[0];
  assert.equal(init.type, "init");
  assert.equal(init.model, "sonnet");
  assert.deepEqual(textsOf(events), ["echo: hello there"]);
  assert.equal(
    events.flatMap((e) => e.type === "text_delta" ? [e.text] : []).join(""),
    "echo: hello there",
  );
  const result = events.at(-1)!;
  assert.equal(result.type, "result");
  assert.equal(result.subtype, "success");
  assert.equal(result.isError, false);
  assert.equal(result.sessionId, init.sessionId);

  // The process stays up for the next turn, in the same conversation.
  const second = await claude.turn("!history");
  assert.deepEqual(textsOf(second), [JSON.stringify(["hello there"])]);
  assert.ok(claude.process.isAlive);
  const exit = await claude.process.stop({ graceMs: STOP_GRACE_MS });
  assert.deepEqual(exit, { code: 0, signal: null, stderrTail: "" });
});

Deno.test("ClaudeProcess gives Claude only the given environment and the marker", async () => {
  await using workspace = await Workspace.create();
  const secret = "SUBPROCESS_TEST_SECRET";
  Deno.env.set(secret, "must-not-leak");
  try {
    const settings = { model: "haiku", allowedTools: ["Read"] };
    await using claude = new FakeClaudeProcess(workspace, {
      settings,
      env: { EXTRA_SETTING: "on" },
    });
    await claude.turn("hi");
    await claude.process.stop({ graceMs: STOP_GRACE_MS });

    const [start] = await workspace.readLog();
    assert.ok(!(start.envKeys as string[]).includes(secret));
    assert.deepEqual(
      start.envKeys,
      [
        ...Object.keys(workspace.env({ EXTRA_SETTING: "on" })),
        MARKER_ENV,
      ].sort(),
    );
    assert.equal(start.marker, workspace.marker);
    assert.equal(start.pid, claude.process.pid);
    assert.equal(start.cwd, workspace.cwd);
    assert.deepEqual(start.argv, claudeArgs(settings));
  } finally {
    Deno.env.delete(secret);
  }
});

Deno.test("ClaudeProcess skips malformed stdout lines and finishes the turn", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace);
  const events = await claude.turn("!garbage");
  assert.deepEqual(textsOf(events), ["echo: !garbage"]);
  const result = events.at(-1)!;
  assert.equal(result.type, "result");
  assert.equal(result.subtype, "success");
  // Not JSON, a JSON array, and a truncated object.
  const skipped = claude.logLines.filter((line) =>
    line.startsWith(`Skipping malformed stream-json line from Claude`)
  );
  assert.equal(skipped.length, 3, claude.logLines.join("\n"));
  assert.ok(skipped[0].endsWith(": this line is not JSON {"), skipped[0]);
  // The next turn works as usual.
  assert.deepEqual(textsOf(await claude.turn("again")), ["echo: again"]);
  await claude.process.stop({ graceMs: STOP_GRACE_MS });
});

Deno.test("ClaudeProcess runs the command line its wrapper returns", async () => {
  await using workspace = await Workspace.create();
  const wrapped: { bin: string; args: string[] }[] = [];
  await using claude = new FakeClaudeProcess(workspace, {
    settings: { model: "haiku" },
    wrap: (command) => {
      wrapped.push(command);
      // `env NAME=value command…`: a wrapper that leaves a visible trace.
      return {
        bin: "env",
        args: ["FAKE_CLAUDE_WRAPPED=yes", command.bin, ...command.args],
      };
    },
  });
  assert.deepEqual(wrapped, [{
    bin: workspace.bin,
    args: claudeArgs({ model: "haiku" }),
  }]);
  assert.deepEqual(textsOf(await claude.turn("hi")), ["echo: hi"]);
  const [start] = await workspace.readLog();
  assert.ok((start.envKeys as string[]).includes("FAKE_CLAUDE_WRAPPED"));
  await claude.process.stop({ graceMs: STOP_GRACE_MS });
});

Deno.test("ClaudeProcess.interrupt() ends a running turn and keeps the process", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace);
  await claude.process.sendUserMessage("!hang");
  await claude.waitForEvent("init");
  const fromIndex = claude.events.length;
  await claude.process.interrupt();
  const result = await claude.waitForEvent("result", fromIndex);
  assert.equal(result.subtype, "error_during_execution");
  assert.equal(result.isError, true);
  const response = await claude.waitForEvent("control_response", fromIndex);
  assert.equal(response.isSuccess, true);

  assert.ok(claude.process.isAlive);
  assert.deepEqual(textsOf(await claude.turn("still there?")), [
    "echo: still there?",
  ]);
  await claude.process.stop({ graceMs: STOP_GRACE_MS });
});

Deno.test("ClaudeProcess.stop() ends an idle process through stdin EOF", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace);
  await claude.turn("hi");
  // SIGTERM would give 143; code 0 means the process left on EOF.
  const exit = await withDeadline(
    claude.process.stop({ graceMs: STOP_GRACE_MS }),
    { what: "stop()", ms: WAIT_MS },
  );
  assert.deepEqual(exit, { code: 0, signal: null, stderrTail: "" });
  assert.equal(claude.process.isAlive, false);
  // A second stop() is the same stop.
  assert.deepEqual(await claude.process.stop({ graceMs: 0 }), exit);
});

Deno.test("ClaudeProcess.stop() ends a process that never got a message", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace);
  const exit = await claude.process.stop({ graceMs: STOP_GRACE_MS });
  assert.deepEqual(exit, { code: 0, signal: null, stderrTail: "" });
  assert.deepEqual(claude.events, []);
});

Deno.test("ClaudeProcess.stop() SIGTERMs a busy process", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace);
  await claude.process.sendUserMessage("!hang");
  await claude.waitForEvent("init");
  // EOF does not end a running turn; SIGTERM does (143, like the real CLI).
  const exit = await claude.process.stop({ graceMs: STOP_GRACE_MS });
  assert.equal(exit.code, 143);
  assert.equal(exit.signal, null);
});

Deno.test("ClaudeProcess.stop() SIGKILLs a process that ignores SIGTERM", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace, {
    env: { FAKE_CLAUDE_IGNORE_SIGTERM: "1" },
  });
  await claude.process.sendUserMessage("!hang");
  await claude.waitForEvent("init");
  const exit = await withDeadline(
    claude.process.stop({ graceMs: 500 }),
    { what: "stop()", ms: WAIT_MS },
  );
  assert.deepEqual(exit, { code: null, signal: "SIGKILL", stderrTail: "" });
  assert.equal(claude.process.isAlive, false);
  assert.ok(
    claude.logLines.some((line) =>
      line.startsWith(`Claude process ${claude.process.pid} ignored SIGTERM`)
    ),
    claude.logLines.join("\n"),
  );
});

Deno.test("ClaudeProcess.stop() also stops tool processes carrying the marker", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace);
  const events = await claude.turn("!tool-sleep 60");
  const toolResult = events.find((e) => e.type === "tool_result");
  assert.ok(toolResult?.type === "tool_result");
  const sleepPid = Number(/^sleep pid: (\d+)$/.exec(toolResult.content)?.[1]);
  assert.ok(sleepPid > 0, toolResult.content);
  try {
    assert.notEqual(await processes.startTime(sleepPid), undefined);
    await claude.process.stop({ graceMs: STOP_GRACE_MS });
    // Gone, or a zombie waiting for its new parent to reap it.
    assert.equal(await processes.startTime(sleepPid), undefined);
  } finally {
    killIfAlive(sleepPid);
  }
});

Deno.test("ClaudeProcess.exited reports a crash with its code and stderr", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace);
  await claude.process.sendUserMessage("!crash");
  const exit = await claude.waitForExit();
  assert.equal(exit.code, 3);
  assert.equal(exit.signal, null);
  assert.match(exit.stderrTail, /fake crash/);
  assert.match(exit.stderrTail, /at <anonymous> \(fake_claude\.ts:1:1\)$/);
  assert.equal(claude.process.isAlive, false);
  assert.deepEqual(
    claude.events.map((e) => e.type),
    ["init", "text_delta"],
  );
  // Stopping a process that is gone reports how it ended.
  assert.deepEqual(await claude.process.stop({ graceMs: 0 }), exit);
});

Deno.test("ClaudeProcess.sendUserMessage() rejects once the process exited", async () => {
  await using workspace = await Workspace.create();
  await using claude = new FakeClaudeProcess(workspace);
  await claude.process.sendUserMessage("!crash");
  await claude.waitForExit();
  await assert.rejects(
    claude.process.sendUserMessage("anyone?"),
    ClaudeExitedError,
  );
  await assert.rejects(claude.process.interrupt(), ClaudeExitedError);
});

Deno.test("ClaudeProcess.start() throws ClaudeStartError", async (t) => {
  await using workspace = await Workspace.create();
  /** The error start() throws; a process it started anyway is killed. */
  const startError = async (
    bin: string,
    wrap?: CommandWrapper,
  ): Promise<unknown> => {
    let process: ClaudeProcess;
    try {
      process = ClaudeProcess.start({
        bin,
        cwd: workspace.cwd,
        env: workspace.env(),
        settings: {},
        marker: workspace.marker,
        spawn: systemSpawn,
        clock: systemClock,
        processes,
        wrap,
      });
    } catch (error) {
      return error;
    }
    Deno.kill(process.pid, "SIGKILL");
    await process.exited;
    assert.fail(`ClaudeProcess.start() started "${bin}"`);
  };

  await t.step("not_found for a missing binary", async () => {
    const bin = join(workspace.dir, "no-such-claude");
    assertStartError(await startError(bin), bin, "not_found");
  });

  await t.step(
    "permission_denied for a file that is not executable",
    async () => {
      const bin = join(workspace.dir, "not-executable");
      await Deno.writeTextFile(bin, "#!/bin/sh\nexit 0\n");
      await Deno.chmod(bin, 0o644);
      assertStartError(await startError(bin), bin, "permission_denied");
    },
  );

  await t.step(
    "failed, naming the sandbox's program, when that is missing",
    async () => {
      const sandboxBin = join(workspace.dir, "no-such-sandbox");
      const error = await startError(
        workspace.bin,
        (command) => ({ bin: sandboxBin, args: [command.bin] }),
      );
      assertStartError(error, workspace.bin, "failed");
      assert.match(
        (error as ClaudeStartError).detail ?? "",
        /the sandbox's program .*no-such-sandbox cannot run/,
      );
    },
  );
});

function assertStartError(
  error: unknown,
  bin: string,
  reason: ClaudeStartError["reason"],
): void {
  assert.ok(error instanceof ClaudeStartError);
  assert.equal(error.name, "ClaudeStartError");
  assert.equal(error.reason, reason);
  assert.equal(error.bin, bin);
}

Deno.test("ClaudeProcess.stop() right after a result keeps the turn", async () => {
  await using workspace = await Workspace.create();
  // The signals sent to the child, and when: the CLI writes its session
  // file ~50 ms after a result, so no signal may come sooner than ~100 ms.
  const signals: { signal: string; atMs: number }[] = [];
  const spawn: SpawnFn = (bin, options) => {
    const child = new Deno.Command(bin, options).spawn();
    const kill = child.kill.bind(child);
    child.kill = (signal = "SIGTERM") => {
      signals.push({ signal: String(signal), atMs: performance.now() });
      kill(signal);
    };
    return child;
  };
  let sessionId: string;
  {
    await using first = new FakeClaudeProcess(workspace, { spawn });
    const events = await first.turn("remember this");
    const resultAtMs = performance.now();
    sessionId = (events[0] as EventOf<"init">).sessionId;
    // No grace at all: only the wait after a result protects the turn.
    await first.process.stop({ graceMs: 0 });
    // A lower bound the code enforces with a timer, not a speed measurement.
    for (const { signal, atMs } of signals) {
      assert.ok(
        atMs - resultAtMs >= 100,
        `${signal} after ${atMs - resultAtMs} ms`,
      );
    }
  }
  await using second = new FakeClaudeProcess(workspace, {
    settings: { resumeSessionId: sessionId },
  });
  const events = await second.turn("!history");
  assert.deepEqual(textsOf(events), [JSON.stringify(["remember this"])]);
  assert.equal((events[0] as EventOf<"init">).sessionId, sessionId);
  await second.process.stop({ graceMs: STOP_GRACE_MS });
});
