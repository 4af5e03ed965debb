// Tests for main.ts as a real OS process, started the way the start task
// starts it (the flags mainRunArgs computes, or `deno task start` itself),
// talking to the fake Bot API over 127.0.0.1 and spawning the fake claude.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../config.ts";
import { claudeEnvNames, mainRunArgs } from "../launch.ts";
import { TextLineStream } from "../line_stream.ts";
import {
  findMarkedProcesses,
  processStartTime,
  terminateProcesses,
} from "../process_tree.ts";
import { type ClaudeStart, OWNER_ID, TEST_TOKEN } from "./fakes/bot_harness.ts";
import { createFakeClaudeBin } from "./fakes/claude_bin.ts";
import { FakeBotApi, type FakeMessage } from "./fakes/fake_bot_api.ts";

const REPO_DIR = fileURLToPath(new URL("..", import.meta.url));
/** SHUTDOWN_GRACE_SECONDS of every bot here. */
const GRACE_MS = 1_000;
/** main.ts's own bound after the grace (EXIT_MARGIN_MS). */
const EXIT_MARGIN_MS = 2_000;
/** Room for a loaded test machine on top of the bound main.ts promises. */
const SLACK_MS = 1_500;
/** main.ts's REPEATED_SIGNAL_MS plus a margin for the log line's trip. */
const REPEATED_SIGNAL_MS = 1_200;
/** Bounds waits for things that take milliseconds to a second or two. */
const WAIT_MS = 15_000;

/**
 * Polls `probe` every 20 ms until it returns a truthy value; fails after
 * `timeoutMs` with `describe()`, which runs then, so it can show late state.
 */
async function waitUntil<T>(
  probe: () =>
    | T
    | undefined
    | null
    | false
    | Promise<T | undefined | null | false>,
  describe: () => string,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    const value = await probe();
    if (value) return value;
    if (performance.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${describe()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves with `promise` or undefined once `ms` passed; leaves no timer behind. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function isAlive(pid: number): Promise<boolean> {
  return await processStartTime(pid) !== undefined;
}

/** The pid of the one child of `pid` (the bot under `deno task`). */
async function childPid(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-o", "pid=", "--ppid", String(pid)],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const pids = new TextDecoder().decode(stdout).trim().split(/\s+/);
  assert.equal(pids.length, 1, `children of ${pid}: ${pids.join(", ")}`);
  return Number(pids[0]);
}

/** Deno's cache, so the bot and the fake claude find their modules although HOME moved. */
async function denoDir(): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return JSON.parse(new TextDecoder().decode(stdout)).denoDir;
}

/** A temp dir with a fake Bot API, the fake claude and the bot's environment. */
class Sandbox implements AsyncDisposable {
  readonly dir: string;
  readonly api: FakeBotApi;
  /** The bot's whole environment; the non-bot variables are Claude's. */
  readonly env: Record<string, string>;

  private constructor(
    dir: string,
    api: FakeBotApi,
    env: Record<string, string>,
  ) {
    this.dir = dir;
    this.api = api;
    this.env = env;
  }

  /** @param extraEnv added to (or replacing) the bot's environment */
  static async create(extraEnv: Record<string, string> = {}): Promise<Sandbox> {
    const dir = await Deno.makeTempDir({ prefix: "ct-main-" });
    let api: FakeBotApi | undefined;
    try {
      await Deno.mkdir(join(dir, "home"));
      api = await FakeBotApi.start({ token: TEST_TOKEN });
      const env = {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: join(dir, "home"),
        DENO_DIR: await denoDir(),
        NO_COLOR: "1",
        TELEGRAM_BOT_TOKEN: TEST_TOKEN,
        TELEGRAM_API_ROOT: api.apiRoot,
        ALLOWED_USER_IDS: String(OWNER_ID),
        SHUTDOWN_GRACE_SECONDS: String(GRACE_MS / 1000),
        CLAUDE_BIN: await createFakeClaudeBin(dir),
        DATA_DIR: join(dir, "data"),
        FAKE_CLAUDE_LOG: join(dir, "claude.log"),
        FAKE_CLAUDE_STATE_DIR: join(dir, "claude-state"),
        ...extraEnv,
      };
      return new Sandbox(dir, api, env);
    } catch (error) {
      await api?.close();
      await Deno.remove(dir, { recursive: true });
      throw error;
    }
  }

  get dataDir(): string {
    return this.env.DATA_DIR;
  }

  /**
   * Starts main.ts as the start task would, with the flags of mainRunArgs.
   * @param overrides replace variables of the sandbox's environment
   */
  startBot(overrides: Record<string, string> = {}): BotProcess {
    const env = { ...this.env, ...overrides };
    const args = mainRunArgs(parseConfig(env, REPO_DIR), {
      claudeEnvNames: claudeEnvNames(env),
    });
    return BotProcess.spawn(["run", ...args], env);
  }

  /** Sends a message as the owner and waits for a bot message after it that matches. */
  async ask(text: string, expected: RegExp): Promise<FakeMessage> {
    const before = this.api.messages().length;
    this.api.sendText(text);
    return await this.api.waitFor(
      () =>
        this.api.messages().slice(before).find((m) =>
          !m.deleted && expected.test(m.text)
        ),
      { timeoutMs: WAIT_MS, description: `a message matching ${expected}` },
    );
  }

  async #claudeLog(): Promise<Record<string, unknown>[]> {
    try {
      const text = await Deno.readTextFile(this.env.FAKE_CLAUDE_LOG);
      return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
  }

  /** Every fake claude start so far, oldest first. */
  async claudeStarts(): Promise<ClaudeStart[]> {
    return (await this.#claudeLog()).filter((entry) =>
      "argv" in entry
    ) as unknown as ClaudeStart[];
  }

  /** Waits until some fake claude received a stdin line containing `text`. */
  async claudeReceived(text: string): Promise<void> {
    await waitUntil(
      async () =>
        (await this.#claudeLog()).some((entry) =>
          "stdin" in entry && JSON.stringify(entry.stdin).includes(text)
        ),
      () => `Claude to receive "${text}"`,
    );
  }

  /** Every session record in DATA_DIR/sessions. */
  async sessionRecords(): Promise<Record<string, unknown>[]> {
    const records = [];
    const dir = join(this.dataDir, "sessions");
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.endsWith(".json")) continue;
      records.push(JSON.parse(await Deno.readTextFile(join(dir, entry.name))));
    }
    return records;
  }

  /** Stops every process the bots marked, then the fake API; removes the dir. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      const instanceId = await Deno.readTextFile(
        join(this.dataDir, "instance-id"),
      ).then((text) => text.trim(), () => undefined);
      if (instanceId) {
        const leftovers = await findMarkedProcesses(`${instanceId}:`, {
          prefix: true,
        });
        await terminateProcesses(leftovers.map((p) => p.pid), { graceMs: 0 });
      }
    } finally {
      await this.api.close();
      await Deno.remove(this.dir, { recursive: true });
    }
  }
}

/** A bot (or `deno task`) process in its own process group, its output collected line by line. */
class BotProcess implements AsyncDisposable {
  readonly pid: number;
  readonly status: Promise<Deno.CommandStatus>;
  /** stdout and stderr lines, in arrival order per stream. */
  readonly output: string[] = [];
  #child: Deno.ChildProcess;
  #reading: Promise<unknown>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.pid = child.pid;
    this.status = child.status;
    this.#reading = Promise.all(
      [child.stdout, child.stderr].map(async (stream) => {
        const lines = stream.pipeThrough(new TextDecoderStream())
          .pipeThrough(new TextLineStream());
        for await (const line of lines) this.output.push(line);
      }),
    );
  }

  /** Runs `deno <args>` from the repository with exactly `env`. */
  static spawn(args: string[], env: Record<string, string>): BotProcess {
    return new BotProcess(
      new Deno.Command(Deno.execPath(), {
        args,
        cwd: REPO_DIR,
        clearEnv: true,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        // Its own group: cleanup reaches `deno task`'s children too.
        detached: true,
      }).spawn(),
    );
  }

  /** The first output line matching `pattern`, waiting for it. */
  waitForOutput(pattern: RegExp, timeoutMs = WAIT_MS): Promise<string> {
    return waitUntil(
      () => this.output.find((line) => pattern.test(line)),
      () => `output matching ${pattern}; output:\n${this.output.join("\n")}`,
      timeoutMs,
    );
  }

  /** Waits until polling started (after the reaper ran). */
  async ready(): Promise<void> {
    await this.waitForOutput(/Bot @\S+ is polling/);
  }

  signal(signal: Deno.Signal): void {
    Deno.kill(this.pid, signal);
  }

  /** The exit status, or a failure naming the output when it takes longer than `ms`. */
  async exitWithin(ms: number): Promise<Deno.CommandStatus> {
    const status = await within(this.status, ms);
    if (status === undefined) {
      throw new Error(
        `The bot did not exit within ${ms} ms; output:\n${
          this.output.join("\n")
        }`,
      );
    }
    await this.#reading;
    return status;
  }

  /** SIGKILLs the whole group unless it has exited; waits for the exit and the output. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (await within(this.status, 0) === undefined) {
      try {
        Deno.kill(-this.pid, "SIGKILL");
      } catch (error) {
        // It exited between the check and the kill: its status is collected below.
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    await this.#child.status;
    await this.#reading;
  }
}

Deno.test("main.ts answers a message under the start task's scoped permissions", async () => {
  await using sandbox = await Sandbox.create();
  await using bot = sandbox.startBot();
  await bot.ready();

  const reply = await sandbox.ask("hello from a real process", /echo: hello/);

  assert.equal(reply.chat_id, OWNER_ID);
  const [start] = await sandbox.claudeStarts();
  assert.ok(start.marker?.endsWith(`:${OWNER_ID}/default`));
  assert.ok(!start.envKeys.some((name) => name.startsWith("TELEGRAM_")));
  assert.ok(!start.envKeys.includes("DATA_DIR"));
  assert.ok(start.envKeys.includes("FAKE_CLAUDE_LOG"));
  assert.ok(start.cwd.startsWith(sandbox.dataDir));
  assert.ok(
    !bot.output.some((line) => /NotCapable|PermissionDenied/.test(line)),
    bot.output.join("\n"),
  );
});

Deno.test("main.ts on SIGTERM kills a stuck Claude after the grace, saves the session and exits 0", async () => {
  await using sandbox = await Sandbox.create({
    // Claude ignores SIGTERM and stdin EOF: it is stuck before the turn
    // starts, so the interrupt does not end it either. Only SIGKILL does.
    FAKE_CLAUDE_IGNORE_SIGTERM: "1",
    FAKE_CLAUDE_START_DELAY_MS: "60000",
  });
  await using bot = sandbox.startBot();
  await bot.ready();
  sandbox.api.sendText("!hang");
  await sandbox.claudeReceived("!hang");
  const [{ pid: claudePid }] = await sandbox.claudeStarts();
  const [running] = await waitUntil(
    async () => {
      const records = await sandbox.sessionRecords();
      return records[0]?.state === "live" && records;
    },
    () => "the session to be saved as live",
  );
  assert.equal(running.pid, claudePid);

  bot.signal("SIGTERM");
  await bot.waitForOutput(/Shutting down/);
  // A copy of the same request (deno task forwards what systemd or Ctrl-C
  // already sent the group) must not cut the shutdown short.
  bot.signal("SIGTERM");
  const status = await bot.exitWithin(GRACE_MS + EXIT_MARGIN_MS + SLACK_MS);

  assert.equal(status.code, 0, bot.output.join("\n"));
  assert.ok(
    bot.output.some((line) => line.includes("ignored SIGTERM")),
    bot.output.join("\n"),
  );
  assert.equal(await isAlive(claudePid), false);
  const [saved] = await sandbox.sessionRecords();
  assert.equal(saved.state, "suspended");
  assert.equal(saved.pid, undefined);
});

Deno.test("main.ts exits at once on a second signal during shutdown", async () => {
  await using sandbox = await Sandbox.create({
    FAKE_CLAUDE_IGNORE_SIGTERM: "1",
    FAKE_CLAUDE_START_DELAY_MS: "60000",
    // A long grace: only the second signal can end the bot this soon.
    SHUTDOWN_GRACE_SECONDS: "30",
  });
  await using bot = sandbox.startBot();
  await bot.ready();
  sandbox.api.sendText("!hang");
  await sandbox.claudeReceived("!hang");

  bot.signal("SIGTERM");
  await bot.waitForOutput(/Shutting down/);
  // Later than main.ts's window for a repeated copy of the first signal.
  await new Promise((resolve) => setTimeout(resolve, REPEATED_SIGNAL_MS));
  bot.signal("SIGINT");
  const status = await bot.exitWithin(EXIT_MARGIN_MS + SLACK_MS);

  assert.equal(status.code, 130);
  assert.ok(bot.output.some((line) => line.includes("Second signal")));
});

Deno.test("main.ts after kill -9 reaps the orphans at the next start and resumes the session", async () => {
  await using sandbox = await Sandbox.create();
  const unrelated = new Deno.Command("sleep", {
    args: ["60"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let sleepPid: number | undefined;
  try {
    await using first = sandbox.startBot();
    await first.ready();
    const started = await sandbox.ask("!tool-sleep 60", /started sleep \d+/);
    sleepPid = Number(/started sleep (\d+)/.exec(started.text)![1]);
    const [{ pid: claudePid }] = await sandbox.claudeStarts();
    const claudeSessionId = await waitUntil(
      async () => (await sandbox.sessionRecords())[0]?.claudeSessionId,
      () => "the Claude session id to be saved",
    );
    // A turn in flight keeps the orphaned Claude alive after its stdin closes.
    sandbox.api.sendText("!hang");
    await sandbox.claudeReceived("!hang");

    first.signal("SIGKILL");
    assert.equal((await first.exitWithin(WAIT_MS)).signal, "SIGKILL");
    assert.equal(await isAlive(claudePid), true, "Claude outlives the bot");
    assert.equal(await isAlive(sleepPid), true, "the tool outlives the bot");

    await using second = sandbox.startBot();
    await second.ready();
    const reaped = await second.waitForOutput(/Reaped \d+ orphaned/);
    const [, claude, tools] = /Reaped (\d+) orphaned Claude and (\d+) tool/
      .exec(reaped)!;
    // The fake's wrapper execs Deno, so only the recorded pid marks Claude.
    assert.deepEqual([claude, tools], ["1", "1"], reaped);
    assert.equal(await isAlive(claudePid), false);
    assert.equal(await isAlive(sleepPid), false);
    assert.equal(await isAlive(unrelated.pid), true);

    const history = await sandbox.ask("!history", /tool-sleep/);
    assert.match(history.text, /"!tool-sleep 60"/);
    const starts = await sandbox.claudeStarts();
    assert.equal(starts.length, 2);
    const resumeAt = starts[1].argv.indexOf("--resume");
    assert.equal(starts[1].argv[resumeAt + 1], claudeSessionId);
  } finally {
    unrelated.kill("SIGKILL");
    await unrelated.status;
    if (sleepPid !== undefined && await isAlive(sleepPid)) {
      await terminateProcesses([sleepPid], { graceMs: 0 });
    }
  }
});

Deno.test("main.ts exits 1 naming DATA_DIR when it is not a writable directory", async (t) => {
  await using sandbox = await Sandbox.create();
  const file = join(sandbox.dir, "a-file");
  await Deno.writeTextFile(file, "not a directory\n");
  const readOnly = join(sandbox.dir, "read-only");
  await Deno.mkdir(readOnly, { mode: 0o500 });
  // root writes through 0500, so that case only means something for others.
  const isReadOnlyEffective = await Deno.writeTextFile(
    join(readOnly, "probe"),
    "",
  ).then(() => false, () => true);
  const cases = [
    ["a file", file],
    ["a path below a file", join(file, "data")],
    ...(isReadOnlyEffective
      ? [["below a read-only dir", join(readOnly, "data")]]
      : []),
  ];
  for (const [label, dataDir] of cases) {
    await t.step(label, async () => {
      await using bot = sandbox.startBot({ DATA_DIR: dataDir });
      const status = await bot.exitWithin(WAIT_MS);
      assert.equal(status.code, 1, bot.output.join("\n"));
      const message = await bot.waitForOutput(/Cannot use DATA_DIR/);
      assert.ok(message.includes(`"${dataDir}"`), message);
      assert.match(message, /must be a writable directory/);
      assert.ok(!bot.output.some((line) => line.includes(TEST_TOKEN)));
    });
  }
});

Deno.test("main.ts exits 1 when Telegram refuses the token, without logging it", async () => {
  const otherToken = "654321:OTHER-token-abcdefghijklmnopqrstuvwxyz";
  await using sandbox = await Sandbox.create();
  await using bot = sandbox.startBot({ TELEGRAM_BOT_TOKEN: otherToken });

  const status = await bot.exitWithin(WAIT_MS);

  assert.equal(status.code, 1, bot.output.join("\n"));
  assert.ok(
    bot.output.some((line) => line.includes("refused TELEGRAM_BOT_TOKEN")),
    bot.output.join("\n"),
  );
  assert.ok(!bot.output.some((line) => line.includes(otherToken)));
});

Deno.test("deno task start exits 1 naming a missing TELEGRAM_BOT_TOKEN", async () => {
  await using sandbox = await Sandbox.create();
  const { TELEGRAM_BOT_TOKEN: _, ...env } = sandbox.env;
  await using task = BotProcess.spawn(["task", "start"], env);

  const status = await task.exitWithin(WAIT_MS);

  assert.equal(status.code, 1);
  assert.ok(
    task.output.some((line) => line.includes("TELEGRAM_BOT_TOKEN is required")),
    task.output.join("\n"),
  );
  assert.ok(!task.output.some((line) => /is polling/.test(line)));
});

Deno.test("deno task start runs the bot end to end and forwards SIGTERM to it", async () => {
  await using sandbox = await Sandbox.create();
  await using task = BotProcess.spawn(["task", "start"], sandbox.env);
  await task.ready();
  await sandbox.ask("hello through the task", /echo: hello through the task/);
  const mainPid = await childPid(task.pid);

  task.signal("SIGTERM");
  const status = await task.exitWithin(GRACE_MS + EXIT_MARGIN_MS + SLACK_MS);

  assert.equal(status.code, 0, task.output.join("\n"));
  assert.ok(
    task.output.some((line) => line.includes("Stopped cleanly")),
    task.output.join("\n"),
  );
  assert.equal(await isAlive(mainPid), false);
});

Deno.test("deno task start shuts down once when SIGTERM reaches the whole process group", async () => {
  await using sandbox = await Sandbox.create();
  await using task = BotProcess.spawn(["task", "start"], sandbox.env);
  await task.ready();
  await sandbox.ask("hello", /echo: hello/);
  const [{ pid: claudePid }] = await sandbox.claudeStarts();

  // systemd (KillMode=control-group) and a terminal's Ctrl-C signal every
  // process of the group: the bot gets it directly and again from deno task.
  Deno.kill(-task.pid, "SIGTERM");
  const status = await task.exitWithin(GRACE_MS + EXIT_MARGIN_MS + SLACK_MS);

  assert.equal(status.code, 0, task.output.join("\n"));
  assert.ok(
    task.output.some((line) => line.includes("Stopped cleanly")),
    task.output.join("\n"),
  );
  assert.equal(await isAlive(claudePid), false);
});
