// Integration tests for subprocess.ts with the real Claude Code CLI (the
// pinned npm package in tools/claude-code), run offline against the fake
// Anthropic API: turns, history, interrupt, resume and tool approvals; and
// the whole bot continuing a terminal's conversation with /resume.

import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { systemClock } from "../clock.ts";
import { systemSpawn } from "../spawner.ts";
import { sandboxWrapper } from "../sandbox.ts";
import {
  type ClaudeExit,
  ClaudeProcess,
  type ClaudeSettings,
  type CommandWrapper,
} from "../subprocess.ts";
import type { ClaudeEvent } from "../stream_json.ts";
import { listClaudeSessions } from "../claude_history.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import { GitSandbox } from "./fakes/git_repo.ts";
import { sandboxEngines, TEST_DOMAINS } from "./fakes/sandbox_engines.ts";
import { processes } from "./fakes/spare_process.ts";
import { pollUntil } from "./fakes/wait.ts";
import {
  FakeAnthropicApi,
  type FakeAnthropicApiOptions,
  lastToolResultTexts,
  lastUserText,
} from "./fakes/fake_anthropic_api.ts";

const CLAUDE_BIN = resolve(
  import.meta.dirname ?? ".",
  "../tools/claude-code/node_modules/.bin/claude",
);
const INSTALL_COMMAND = "(cd tools/claude-code && npm ci)";
// A warm turn takes well under a second; the slack covers a loaded CI box.
const WAIT_TIMEOUT_MS = 30_000;
// The CLI writes its session file ~50 ms after `result`; stopping sooner
// loses the turn (claude-cli.md §6).
const SESSION_FLUSH_WAIT_MS = 300;
const STOP_GRACE_MS = 5_000;

const isClaudeInstalled = (() => {
  try {
    return Deno.statSync(CLAUDE_BIN).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
})();

if (!isClaudeInstalled) {
  console.warn(
    `\n!!! SKIPPING the Claude CLI integration tests: ${CLAUDE_BIN} is missing.\n` +
      `!!! Install it with: ${INSTALL_COMMAND}\n`,
  );
}

type EventOf<T extends ClaudeEvent["type"]> = Extract<ClaudeEvent, { type: T }>;

/** What one turn produced, as seen on the CLI's stdout. */
interface TurnOutcome {
  /** The `text_delta` events joined: what a live Telegram message would show. */
  deltaText: string;
  /** The complete `text` blocks joined. */
  blockText: string;
  result: EventOf<"result">;
}

/** A throw-away HOME, cwd, process marker and fake API for one test. */
class Sandbox implements AsyncDisposable {
  readonly api: FakeAnthropicApi;
  readonly marker = `claude-cli-integration-${crypto.randomUUID()}`;
  readonly #root: string;
  readonly home: string;
  readonly cwd: string;

  private constructor(root: string, apiOptions: FakeAnthropicApiOptions) {
    this.api = FakeAnthropicApi.start(apiOptions);
    this.#root = root;
    this.home = join(root, "home");
    this.cwd = join(root, "project");
    Deno.mkdirSync(this.home);
    Deno.mkdirSync(this.cwd);
  }

  static create(apiOptions: FakeAnthropicApiOptions = {}): Sandbox {
    return new Sandbox(
      Deno.makeTempDirSync({ prefix: "claude-cli-it-" }),
      apiOptions,
    );
  }

  /** Only what the CLI needs to run offline: no secret of ours leaks in. */
  get env(): Record<string, string> {
    return {
      HOME: this.home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      ANTHROPIC_BASE_URL: this.api.url,
      ANTHROPIC_API_KEY: "sk-dummy",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.api.close();
    await Deno.remove(this.#root, { recursive: true });
  }
}

/** A real claude process plus the events it emitted, with bounded waits. */
class ClaudeUnderTest implements AsyncDisposable {
  readonly events: ClaudeEvent[] = [];
  readonly process: ClaudeProcess;
  // Waiters re-check on every event and on exit, so none can miss either.
  readonly #onChange = new Set<() => void>();
  #exit: ClaudeExit | undefined;

  constructor(
    sandbox: Sandbox,
    settings: ClaudeSettings,
    options: { wrap?: CommandWrapper; env?: Record<string, string> } = {},
  ) {
    this.process = ClaudeProcess.start({
      bin: CLAUDE_BIN,
      cwd: sandbox.cwd,
      env: options.env ?? sandbox.env,
      settings,
      marker: sandbox.marker,
      spawn: systemSpawn,
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
   * Resolves with the first event of `type` at or after `fromIndex`; rejects
   * after WAIT_TIMEOUT_MS or when claude exits without emitting one.
   */
  waitForEvent<T extends ClaudeEvent["type"]>(
    type: T,
    fromIndex: number,
  ): Promise<EventOf<T>> {
    const isWanted = (event: ClaudeEvent): event is EventOf<T> =>
      event.type === type;
    return new Promise((resolve, reject) => {
      const timeout = AbortSignal.timeout(WAIT_TIMEOUT_MS);
      const settle = (outcome: () => void) => {
        this.#onChange.delete(check);
        timeout.removeEventListener("abort", onTimeout);
        outcome();
      };
      const check = () => {
        const found = this.events.slice(fromIndex).find(isWanted);
        if (found) return settle(() => resolve(found));
        const exit = this.#exit;
        if (exit === undefined) return;
        settle(() =>
          reject(
            new Error(
              `Claude exited before a "${type}" event: code ${exit.code}, ` +
                `signal ${exit.signal}: ${exit.stderrTail}`,
            ),
          )
        );
      };
      const onTimeout = () =>
        settle(() =>
          reject(
            new Error(
              `Timed out after ${WAIT_TIMEOUT_MS} ms waiting for a "${type}" event`,
            ),
          )
        );
      timeout.addEventListener("abort", onTimeout);
      this.#onChange.add(check);
      check();
    });
  }

  /** Sends `content` and waits for the turn's `result`. */
  async turn(content: string): Promise<TurnOutcome> {
    const fromIndex = this.events.length;
    await this.process.sendUserMessage(content);
    return await this.finishTurn(fromIndex);
  }

  /** Waits for the `result` of the turn whose events start at `fromIndex`. */
  async finishTurn(fromIndex: number): Promise<TurnOutcome> {
    const result = await this.waitForEvent("result", fromIndex);
    const turnEvents = this.events.slice(fromIndex);
    const joinText = (type: "text" | "text_delta") =>
      turnEvents.flatMap((event) => event.type === type ? [event.text] : [])
        .join("");
    return {
      deltaText: joinText("text_delta"),
      blockText: joinText("text"),
      result,
    };
  }

  /** Waits for the exit, bounded, without stopping the process. */
  async waitForExit(): Promise<ClaudeExit> {
    const timeout = AbortSignal.timeout(WAIT_TIMEOUT_MS);
    let onTimeout = () => {};
    const timedOut = new Promise<never>((_, reject) => {
      onTimeout = () =>
        reject(new Error(`Claude did not exit within ${WAIT_TIMEOUT_MS} ms`));
      timeout.addEventListener("abort", onTimeout);
    });
    try {
      return await Promise.race([this.process.exited, timedOut]);
    } finally {
      timeout.removeEventListener("abort", onTimeout);
    }
  }

  /**
   * SIGKILLs the process by pid if it still runs, then reaps it. Tests that
   * need a clean exit (the session file flushed) call `stop()` first.
   */
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

/** The `text` of every message of `role` in a recorded API request. */
function messageTexts(requestBody: unknown, role: string): string[] {
  const messages = (requestBody as { messages: unknown[] }).messages;
  return messages.flatMap((message) => {
    const { role: messageRole, content } = message as {
      role: string;
      content: unknown;
    };
    if (messageRole !== role) return [];
    if (typeof content === "string") return [content];
    return (content as { type: string; text?: string }[]).flatMap((block) =>
      block.type === "text" && block.text !== undefined ? [block.text] : []
    );
  });
}

/** The user's own prompts in a recorded API request, without CLI reminders. */
function userPrompts(requestBody: unknown): string[] {
  return messageTexts(requestBody, "user").filter((text) =>
    !text.startsWith("<system-reminder>")
  );
}

// Without the binary the tests are registered as ignored, so the run reports
// them as skipped (never as passed) next to the warning above.
function integrationTest(
  name: string,
  fn: () => Promise<void>,
): void {
  Deno.test({ name, ignore: !isClaudeInstalled, fn });
}

integrationTest(
  "ClaudeProcess with the real CLI answers a message with text and a result",
  async () => {
    await using sandbox = Sandbox.create();
    await using claude = new ClaudeUnderTest(sandbox, {});

    const { deltaText, blockText, result } = await claude.turn("hello there");

    assert.equal(deltaText, "Hello from fake API: hello there");
    assert.equal(blockText, "Hello from fake API: hello there");
    assert.equal(result.subtype, "success");
    assert.equal(result.isError, false);
    assert.equal(result.text, "Hello from fake API: hello there");
    const init = await claude.waitForEvent("init", 0);
    assert.equal(result.sessionId, init.sessionId);
    assert.equal(sandbox.api.requests.length, 1);
    assert.equal(lastUserText(sandbox.api.requests[0]), "hello there");

    const exit = await claude.process.stop({ graceMs: STOP_GRACE_MS });
    assert.equal(exit.code, 0);
  },
);

integrationTest(
  "ClaudeProcess keeps the conversation across two turns in one process",
  async () => {
    await using sandbox = Sandbox.create();
    await using claude = new ClaudeUnderTest(sandbox, {});

    const first = await claude.turn("first message");
    const second = await claude.turn("second message");

    assert.equal(first.deltaText, "Hello from fake API: first message");
    assert.equal(second.deltaText, "Hello from fake API: second message");
    assert.equal(second.result.sessionId, first.result.sessionId);
    assert.equal(sandbox.api.requests.length, 2);
    const secondRequest = sandbox.api.requests[1];
    assert.deepEqual(userPrompts(secondRequest), [
      "first message",
      "second message",
    ]);
    assert.deepEqual(messageTexts(secondRequest, "assistant"), [
      "Hello from fake API: first message",
    ]);
    assert.equal(claude.process.isAlive, true);
  },
);

integrationTest(
  "ClaudeProcess.interrupt() ends a slow reply and the process answers the next message",
  async () => {
    // Many small deltas: the first arrives soon, the last only after 10 s.
    await using sandbox = Sandbox.create({ deltaCount: 50 });
    await using claude = new ClaudeUnderTest(sandbox, {});
    const slowText = "This reply streams slowly so that /stop lands mid-way.";
    sandbox.api.enqueueReply({
      kind: "text",
      text: slowText,
      streamDurationMs: 10_000,
    });

    const fromIndex = claude.events.length;
    await claude.process.sendUserMessage("tell me a long story");
    await claude.waitForEvent("text_delta", fromIndex);
    await claude.process.interrupt();
    const interrupted = await claude.finishTurn(fromIndex);

    assert.equal(interrupted.result.subtype, "error_during_execution");
    assert.equal(interrupted.result.isError, true);
    assert.notEqual(interrupted.deltaText, slowText);
    assert.ok(slowText.startsWith(interrupted.deltaText));
    assert.equal(claude.process.isAlive, true);

    const next = await claude.turn("are you still there?");
    assert.equal(next.result.subtype, "success");
    assert.equal(next.deltaText, "Hello from fake API: are you still there?");
  },
);

integrationTest(
  "ClaudeProcess with resumeSessionId sends the earlier turns to the API",
  async () => {
    await using sandbox = Sandbox.create();
    let sessionId: string;
    {
      await using firstProcess = new ClaudeUnderTest(sandbox, {});
      const first = await firstProcess.turn("remember the word apricot");
      assert.equal(first.result.subtype, "success");
      sessionId = first.result.sessionId ?? assert.fail("result has no id");
      await delay(SESSION_FLUSH_WAIT_MS);
      const exit = await firstProcess.process.stop({ graceMs: STOP_GRACE_MS });
      assert.equal(exit.code, 0);
    }

    await using resumed = new ClaudeUnderTest(sandbox, {
      resumeSessionId: sessionId,
    });
    const next = await resumed.turn("which word did I ask you to remember?");

    assert.equal(next.result.subtype, "success");
    assert.equal(next.result.sessionId, sessionId);
    const resumedRequest = sandbox.api.requests.at(-1);
    assert.deepEqual(userPrompts(resumedRequest), [
      "remember the word apricot",
      "which word did I ask you to remember?",
    ]);
    assert.deepEqual(messageTexts(resumedRequest, "assistant"), [
      "Hello from fake API: remember the word apricot",
    ]);
  },
);

for (const { engine, skip } of await sandboxEngines()) {
  Deno.test({
    name:
      `the real CLI answers inside the sandbox (${engine}), and a new sandboxed process resumes the conversation`,
    ignore: !isClaudeInstalled || skip !== undefined,
    fn: async () => {
      await using sandbox = Sandbox.create();
      const dataDir = join(sandbox.cwd, "..", "data");
      await Deno.mkdir(join(dataDir, "state"), { recursive: true });
      const isRuntime = engine === "sandbox-runtime";
      const wrap = sandboxWrapper({
        workDir: sandbox.cwd,
        uploadDir: join(sandbox.cwd, "inbox"),
        claudeConfig: {
          dir: join(sandbox.home, ".claude"),
          file: join(sandbox.home, ".claude.json"),
        },
        dataDir,
        botDir: join(sandbox.cwd, ".."),
        writable: [],
        hide: [],
        // The fake API by a name srt's proxy admits (not a bare IP).
        ...(isRuntime ? { network: TEST_DOMAINS } : {}),
      });
      // Through srt's proxy, the only way out of its empty network.
      const env = isRuntime
        ? {
          ...sandbox.env,
          ANTHROPIC_BASE_URL: sandbox.api.url.replace("127.0.0.1", "localhost"),
        }
        : sandbox.env;
      let sessionId: string;
      {
        await using first = new ClaudeUnderTest(sandbox, {}, { wrap, env });
        const turn = await first.turn("remember the word quince");
        assert.equal(turn.result.subtype, "success");
        assert.equal(
          turn.deltaText,
          "Hello from fake API: remember the word quince",
        );
        sessionId = turn.result.sessionId ?? assert.fail("result has no id");
        await delay(SESSION_FLUSH_WAIT_MS);
        const exit = await first.process.stop({ graceMs: STOP_GRACE_MS });
        assert.equal(exit.code, 0, "stdin EOF ends the sandboxed CLI cleanly");
      }
      await using resumed = new ClaudeUnderTest(sandbox, {
        resumeSessionId: sessionId,
      }, { wrap, env });
      const next = await resumed.turn("which word?");
      assert.equal(next.result.sessionId, sessionId);
      assert.deepEqual(userPrompts(sandbox.api.requests.at(-1)), [
        "remember the word quince",
        "which word?",
      ]);
      await resumed.process.stop({ graceMs: STOP_GRACE_MS });
      assert.deepEqual(await processes.findMarked(sandbox.marker), []);
    },
  });
}

integrationTest(
  "ClaudeProcess with a stale resumeSessionId fails the turn and exits 1",
  async () => {
    await using sandbox = Sandbox.create();
    const staleSessionId = crypto.randomUUID();
    await using claude = new ClaudeUnderTest(sandbox, {
      resumeSessionId: staleSessionId,
    });

    const { result } = await claude.turn("hello?");
    const exit = await claude.waitForExit();

    assert.equal(result.subtype, "error_during_execution");
    assert.equal(result.isError, true);
    assert.ok(
      result.errors.some((error) => error.includes(staleSessionId)),
      `errors should name the stale id: ${JSON.stringify(result.errors)}`,
    );
    assert.equal(exit.code, 1);
    assert.equal(sandbox.api.requests.length, 0);
  },
);

/** Settings under which a command needing approval asks us on stdout. */
const APPROVAL_SETTINGS: ClaudeSettings = {
  permissionMode: "default",
  permissionPromptTool: "stdio",
};

integrationTest(
  "ClaudeProcess.answerPermission() allow lets the Bash tool run",
  async () => {
    await using sandbox = Sandbox.create();
    await using claude = new ClaudeUnderTest(sandbox, APPROVAL_SETTINGS);
    const approvedFile = join(sandbox.cwd, "approved.txt");
    sandbox.api.enqueueReply({
      kind: "bash",
      command: `touch ${approvedFile}`,
    });

    const fromIndex = claude.events.length;
    await claude.process.sendUserMessage("please create approved.txt");
    const request = await claude.waitForEvent("permission_request", fromIndex);
    assert.equal(request.toolName, "Bash");
    assert.equal(request.input.command, `touch ${approvedFile}`);
    await claude.process.answerPermission(request.requestId, {
      behavior: "allow",
      updatedInput: request.input,
    });
    const { result } = await claude.finishTurn(fromIndex);

    assert.equal(result.subtype, "success");
    assert.equal(Deno.statSync(approvedFile).isFile, true);
    const toolResult = await claude.waitForEvent("tool_result", fromIndex);
    assert.equal(toolResult.isError, false);
  },
);

integrationTest(
  "ClaudeProcess.answerPermission() deny blocks the tool and the model sees why",
  async () => {
    await using sandbox = Sandbox.create();
    await using claude = new ClaudeUnderTest(sandbox, APPROVAL_SETTINGS);
    const deniedFile = join(sandbox.cwd, "denied.txt");
    const denyMessage = "Denied from Telegram by the integration test";
    sandbox.api.enqueueReply({ kind: "bash", command: `touch ${deniedFile}` });

    const fromIndex = claude.events.length;
    await claude.process.sendUserMessage("please create denied.txt");
    const request = await claude.waitForEvent("permission_request", fromIndex);
    await claude.process.answerPermission(request.requestId, {
      behavior: "deny",
      message: denyMessage,
    });
    const { deltaText, result } = await claude.finishTurn(fromIndex);

    assert.equal(result.subtype, "success");
    await assert.rejects(Deno.stat(deniedFile), Deno.errors.NotFound);
    assert.deepEqual(lastToolResultTexts(sandbox.api.requests.at(-1)), [
      denyMessage,
    ]);
    assert.equal(deltaText, `Tool result seen: ${denyMessage}`);
  },
);

integrationTest(
  "/resume in the bot continues a conversation begun by `claude -p` in a project dir, and the API sees the earlier turns",
  async () => {
    await using git = await GitSandbox.create();
    const repo = await git.repo("code/api");
    await using api = FakeAnthropicApi.start();
    const configDir = join(git.root, "claude-config");
    const home = await git.dir("claude-home");
    const cliEnv = {
      HOME: home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      CLAUDE_CONFIG_DIR: configDir,
      ANTHROPIC_BASE_URL: api.url,
      ANTHROPIC_API_KEY: "sk-dummy",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    };

    // In a terminal, outside the bot.
    const terminal = await new Deno.Command(CLAUDE_BIN, {
      args: ["-p", "remember the word apricot", "--output-format", "json"],
      cwd: repo.path,
      clearEnv: true,
      env: cliEnv,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(WAIT_TIMEOUT_MS),
    }).output();
    assert.equal(terminal.code, 0, new TextDecoder().decode(terminal.stderr));
    const id: string =
      JSON.parse(new TextDecoder().decode(terminal.stdout)).session_id;
    // The session file may land just after the exit (claude-cli.md §6).
    await pollUntil(
      async () =>
        (await listClaudeSessions(configDir, repo.path)).some((s) =>
          s.id === id
        ),
      { description: "the terminal's session file", timeoutMs: 5_000 },
    );

    await using bot = await BotHarness.start({
      env: {
        CLAUDE_BIN,
        PROJECTS_DIRS: join(git.root, "code"),
        CLAUDE_CONFIG_DIR: configDir,
      },
      claudeEnv: cliEnv,
    });
    await bot.ask("/open api", /Opened api/);
    const list = await bot.ask("/resume", /remember the word apricot/);
    const markup = list.reply_markup as {
      inline_keyboard: { callback_data: string }[][];
    };
    assert.deepEqual(
      markup.inline_keyboard.flat().map((b) => b.callback_data),
      [`resume:${id}`],
    );
    const before = bot.api.messages().length;
    bot.api.pressButton(list.message_id, `resume:${id}`);
    await bot.waitForMessage(/continues conversation/, { after: before });

    await bot.ask(
      "which word did I ask you to remember?",
      /Hello from fake API: which word did I ask you to remember\?/,
      undefined,
      WAIT_TIMEOUT_MS,
    );
    const resumedRequest = api.requests.at(-1);
    assert.deepEqual(userPrompts(resumedRequest), [
      "remember the word apricot",
      "which word did I ask you to remember?",
    ]);
    assert.deepEqual(messageTexts(resumedRequest, "assistant"), [
      "Hello from fake API: remember the word apricot",
    ]);
    assert.equal(
      bot.app.sessions.active(String(OWNER_ID))?.claudeSessionId,
      id,
    );
  },
);
