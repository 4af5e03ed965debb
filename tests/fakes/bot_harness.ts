// Runs the real bot (config → grammY → sessions → subprocess → reply) against
// the fake Bot API and the fake `claude`, in a throw-away directory.
import { join } from "node:path";
import { type App, createApp } from "../../app.ts";
import { parseConfig } from "../../config.ts";
import type { Clock } from "../../clock.ts";
import { processes } from "./spare_process.ts";
import { createFakeClaudeBin } from "./claude_bin.ts";
import {
  FakeBotApi,
  type FakeMessage,
  type RateLimit,
  type UserRef,
} from "./fake_bot_api.ts";
import { ManualClock } from "./manual_clock.ts";
import { pollUntil } from "./wait.ts";

/** The token the harness's bots use. */
export const TEST_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz";
/** The user id allowed by default (the fake Bot API's default sender). */
export const OWNER_ID = 1001;

/** A line of FAKE_CLAUDE_LOG written when a fake claude starts. */
export interface ClaudeStart {
  pid: number;
  argv: string[];
  cwd: string;
  envKeys: string[];
  marker: string | null;
}

/** Options of a harness; everything has a test-friendly default. */
export interface HarnessOptions {
  /** Extra or overriding bot environment variables. */
  env?: Record<string, string>;
  /** Extra environment for the fake claude (e.g. FAKE_CLAUDE_IGNORE_SIGTERM). */
  claudeEnv?: Record<string, string>;
  clock?: Clock;
  rateLimit?: RateLimit;
  /** Runs before the bot starts, to lay out DATA_DIR as an earlier run left it. */
  seed?: (dataDir: string) => Promise<void>;
  /**
   * Run Claude in the sandbox (CLAUDE_SANDBOX=on), with the fake's state
   * and log writable; by default the sandbox is off, because the fake keeps
   * both outside its working dir.
   */
  isSandboxed?: boolean;
  /** Outbox pacing; default none, so tests do not wait. */
  pacing?: { perChatIntervalMs: number; globalPerSecond: number };
}

/** A running bot with its fakes; `await using` cleans everything up. */
export class BotHarness implements AsyncDisposable {
  readonly api: FakeBotApi;
  readonly dir: string;
  readonly clock: Clock;
  readonly claudeBin: string;
  app: App;
  /** Every line the bot logged, across restarts. */
  readonly logs: string[];
  #options: HarnessOptions;

  private constructor(
    api: FakeBotApi,
    dir: string,
    claudeBin: string,
    clock: Clock,
    app: App,
    options: HarnessOptions,
    logs: string[],
  ) {
    this.logs = logs;
    this.api = api;
    this.dir = dir;
    this.claudeBin = claudeBin;
    this.clock = clock;
    this.app = app;
    this.#options = options;
  }

  /** Starts the fake API and the bot, polling. */
  static async start(options: HarnessOptions = {}): Promise<BotHarness> {
    const dir = await Deno.makeTempDir({ prefix: "ct-harness-" });
    await Deno.mkdir(join(dir, "home"));
    const api = await FakeBotApi.start({
      token: TEST_TOKEN,
      rateLimit: options.rateLimit,
    });
    const claudeBin = await createFakeClaudeBin(dir);
    // The sandbox binds these, so they must exist before Claude starts.
    await Deno.mkdir(join(dir, "claude-state"));
    await Deno.writeTextFile(join(dir, "claude.log"), "");
    await options.seed?.(join(dir, "data"));
    const clock = options.clock ?? new ManualClock(Date.now());
    const logs: string[] = [];
    const app = await BotHarness.#createApp(
      dir,
      api,
      claudeBin,
      clock,
      options,
      logs,
    );
    const harness = new BotHarness(
      api,
      dir,
      claudeBin,
      clock,
      app,
      options,
      logs,
    );
    await app.start();
    return harness;
  }

  static async #createApp(
    dir: string,
    api: FakeBotApi,
    claudeBin: string,
    clock: Clock,
    options: HarnessOptions,
    logs: string[],
  ): Promise<App> {
    const config = parseConfig({
      TELEGRAM_BOT_TOKEN: TEST_TOKEN,
      TELEGRAM_API_ROOT: api.apiRoot,
      ALLOWED_USER_IDS: String(OWNER_ID),
      CLAUDE_BIN: claudeBin,
      DATA_DIR: join(dir, "data"),
      SHUTDOWN_GRACE_SECONDS: "2",
      ...(options.isSandboxed
        ? {
          CLAUDE_SANDBOX: "on",
          CLAUDE_SANDBOX_WRITABLE: [
            join(dir, "claude-state"),
            join(dir, "claude.log"),
          ].join(","),
        }
        : { CLAUDE_SANDBOX: "off" }),
      ...options.env,
    }, dir);
    return await createApp({
      config,
      claudeEnv: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: join(dir, "home"),
        FAKE_CLAUDE_LOG: join(dir, "claude.log"),
        FAKE_CLAUDE_STATE_DIR: join(dir, "claude-state"),
        ...options.claudeEnv,
      },
      clock,
      pacing: options.pacing ?? { perChatIntervalMs: 0, globalPerSecond: 1000 },
      log: (message) => logs.push(message),
      botDir: dir,
    });
  }

  /** The data directory. */
  get dataDir(): string {
    return join(this.dir, "data");
  }

  /** Every fake claude start so far, oldest first. */
  async claudeStarts(): Promise<ClaudeStart[]> {
    return (await this.#claudeLog()).filter((l) =>
      "argv" in l
    ) as unknown as ClaudeStart[];
  }

  /** Every stdin line the fake claudes received, oldest first. */
  async claudeInputs(): Promise<
    { pid: number; stdin: Record<string, unknown> }[]
  > {
    return (await this.#claudeLog()).filter((l) => "stdin" in l) as {
      pid: number;
      stdin: Record<string, unknown>;
    }[];
  }

  /** The text of every user turn the fake claudes received, oldest first. */
  async claudeUserTexts(): Promise<string[]> {
    return (await this.claudeInputs())
      .filter((i) => i.stdin.type === "user")
      .map((i) => {
        const { content } = (i.stdin as { message: { content: unknown } })
          .message;
        // A text-only turn is a plain string; with images, a list of blocks.
        return typeof content === "string" ? content : (content as {
          type: string;
          text?: string;
        }[]).filter((b) => b.type === "text").map((b) => b.text).join("");
      });
  }

  async #claudeLog(): Promise<Record<string, unknown>[]> {
    try {
      const text = await Deno.readTextFile(join(this.dir, "claude.log"));
      return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
  }

  /** Sends a message as the owner and waits for a bot message (after it) that matches. */
  async ask(
    text: string,
    expected: RegExp,
    from?: UserRef,
    timeoutMs = 10_000,
  ): Promise<FakeMessage> {
    const before = this.api.messages(from?.chatId).length;
    this.api.sendText(text, from);
    return await this.waitForMessage(expected, {
      from,
      after: before,
      timeoutMs,
    });
  }

  /** Waits for a bot message in the chat whose visible text matches. */
  waitForMessage(
    expected: RegExp,
    options: { from?: UserRef; after?: number; timeoutMs?: number } = {},
  ): Promise<FakeMessage> {
    return this.api.waitFor(
      () =>
        this.api.messages(options.from?.chatId).slice(options.after ?? 0)
          .find((m) => !m.deleted && expected.test(m.text)),
      {
        timeoutMs: options.timeoutMs ?? 10_000,
        description: `a message matching ${expected}`,
      },
    );
  }

  /** Polls `probe` every 10 ms until it returns a truthy value; bounded by timeoutMs. */
  until<T>(
    probe: Parameters<typeof pollUntil<T>>[0],
    description: string,
    timeoutMs = 10_000,
  ): Promise<T> {
    return pollUntil(probe, { description, timeoutMs });
  }

  /** Waits until no turn runs or waits in the chat and every reply is delivered. */
  idle(chatKey = String(OWNER_ID), timeoutMs = 20_000): Promise<boolean> {
    return this.until(
      () =>
        this.app.sessions.list(chatKey).every((v) =>
          v.state !== "busy" && v.queued === 0
        ) &&
        this.app.activeReplies === 0 && this.app.outbox.pending === 0,
      `chat ${chatKey} to be idle`,
      timeoutMs,
    );
  }

  /** Stops the bot (processes included) and starts a new one on the same data. */
  async restart(): Promise<void> {
    await this.app.stop();
    this.app = await BotHarness.#createApp(
      this.dir,
      this.api,
      this.claudeBin,
      this.clock,
      this.#options,
      this.logs,
    );
    await this.app.start();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.app.stop();
      await this.app.outbox.idle();
    } finally {
      const leftovers = await processes.findMarked(`${this.app.instanceId}:`, {
        prefix: true,
      });
      await processes.terminate(leftovers, { graceMs: 500 });
      await this.api.close();
      await Deno.remove(this.dir, { recursive: true });
    }
  }
}
