// Runs the real main.ts as a separate process, started with the launcher's
// scoped flags (launch.ts mainRunArgs), in a temp dir with the fake Bot API
// and the fake claude: the helpers of the process-level tests.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../../config.ts";
import type { JournalEntry } from "../../journal.ts";
import { claudeEnvNames, mainRunArgs } from "../../launch.ts";
import { TextLineStream } from "../../line_stream.ts";
import { claudeConfigPaths } from "../../sandbox_spec.ts";
import { readJournal } from "./journal_files.ts";
import { processes } from "./spare_process.ts";
import { type ClaudeStart, OWNER_ID, TEST_TOKEN } from "./bot_harness.ts";
import { createFakeClaudeBin } from "./claude_bin.ts";
import { FakeBotApi, type FakeMessage } from "./fake_bot_api.ts";
import { pollUntil } from "./wait.ts";

const REPO_DIR = fileURLToPath(new URL("../..", import.meta.url));
/** SHUTDOWN_GRACE_SECONDS of every sandbox bot unless overridden, in ms. */
export const GRACE_MS = 1_000;
/** Bounds waits for things that take milliseconds to a second or two. */
export const WAIT_MS = 15_000;

/**
 * Polls `probe` every 20 ms until it returns a truthy value; fails after
 * `timeoutMs` with `describe()`, which runs then, so it can show late state.
 */
export function waitUntil<T>(
  probe: Parameters<typeof pollUntil<T>>[0],
  describe: () => string,
  timeoutMs = WAIT_MS,
): Promise<T> {
  return pollUntil(probe, { description: describe, timeoutMs, everyMs: 20 });
}

/** Resolves with `promise` or undefined once `ms` passed; leaves no timer behind. */
export async function within<T>(
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

/** Deno's cache, so the bot and the fake claude find their modules although HOME moved. */
export async function denoDir(): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return JSON.parse(new TextDecoder().decode(stdout)).denoDir;
}

/** A temp dir with a fake Bot API, the fake claude and the bot's environment. */
export class Sandbox implements AsyncDisposable {
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
        // The fake keeps its state and log outside its working dir, which
        // the sandbox would not let it write; sandbox_test.ts covers that.
        CLAUDE_SANDBOX: "off",
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
      botDir: REPO_DIR,
      claudeConfig: claudeConfigPaths(env),
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
    const dir = join(this.dataDir, "state", "sessions");
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.endsWith(".json")) continue;
      records.push(JSON.parse(await Deno.readTextFile(join(dir, entry.name))));
    }
    return records;
  }

  /** Every entry of the inbound journal (DATA_DIR/journal), oldest first. */
  journalEntries(): Promise<JournalEntry[]> {
    return readJournal(this.dataDir);
  }

  /** Stops every process the bots marked, then the fake API; removes the dir. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      const instanceId = await Deno.readTextFile(
        join(this.dataDir, "state", "instance-id"),
      ).then((text) => text.trim(), () => undefined);
      if (instanceId) {
        const leftovers = await processes.findMarked(`${instanceId}:`, {
          prefix: true,
        });
        await processes.terminate(leftovers, { graceMs: 0 });
      }
    } finally {
      await this.api.close();
      await Deno.remove(this.dir, { recursive: true });
    }
  }
}

/** A bot (or `deno task`) process in its own process group, its output collected line by line. */
export class BotProcess implements AsyncDisposable {
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

  /**
   * Runs `deno <args>` from the repository with exactly `env`, or another
   * program of the repository (`options.program`, e.g. start.sh).
   */
  static spawn(
    args: string[],
    env: Record<string, string>,
    options: { program?: string } = {},
  ): BotProcess {
    const program = options.program === undefined
      ? Deno.execPath()
      : join(REPO_DIR, options.program);
    return new BotProcess(
      new Deno.Command(program, {
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
