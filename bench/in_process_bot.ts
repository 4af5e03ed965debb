// Runs the real bot inside the benchmark process (createApp: config → grammY
// → sessions → subprocess → reply) against the fake Bot API and the fake
// `claude`, on the system clock. Unlike main.ts it lets a benchmark set the
// outbox pacing and read session state.
import { join } from "node:path";
import { type App, createApp } from "../app.ts";
import { parseConfig } from "../config.ts";
import { systemClock } from "../clock.ts";
import { processes } from "../tests/fakes/spare_process.ts";
import { createFakeClaudeBin } from "../tests/fakes/claude_bin.ts";
import { FakeBotApi } from "../tests/fakes/fake_bot_api.ts";
import { type ClaudeLog, readClaudeLog } from "./claude_log.ts";
import { epochMs } from "./epoch.ts";
import { pollUntil } from "../tests/fakes/wait.ts";

/** The token of every benchmark bot. */
export const BENCH_TOKEN = "123456:BENCH-token-abcdefghijklmnopqrstuvwxyz";
/** The fake Bot API's default sender, allowed by default. */
export const OWNER_ID = 1001;
/** Pacing that never waits: isolates the bot's own work from Telegram's limits. */
export const NO_PACING = { perChatIntervalMs: 0, globalPerSecond: 1e9 };

/** What differs between benchmark bots; the rest has defaults. */
export interface InProcessBotOptions {
  /** Extra or overriding bot environment variables (see config.ts). */
  env?: Record<string, string>;
  /** Extra environment for the fake claude (start delay, stream rate). */
  claudeEnv?: Record<string, string>;
  /** Outbox pacing; default the app's own (Telegram's limits). */
  pacing?: { perChatIntervalMs: number; globalPerSecond: number };
}

/** A polling bot with its fakes in a scratch directory; `await using` cleans up. */
export class InProcessBot implements AsyncDisposable {
  readonly api: FakeBotApi;
  readonly app: App;
  readonly dir: string;
  readonly #logs: string[];

  private constructor(
    api: FakeBotApi,
    app: App,
    dir: string,
    logs: string[],
  ) {
    this.api = api;
    this.app = app;
    this.dir = dir;
    this.#logs = logs;
  }

  /** Starts the fake API and the bot; resolves once it polls. */
  static async start(options: InProcessBotOptions = {}): Promise<InProcessBot> {
    const dir = await Deno.makeTempDir({ prefix: "ct-bench-" });
    await Deno.mkdir(join(dir, "home"));
    const api = await FakeBotApi.start({
      token: BENCH_TOKEN,
      now: epochMs,
    });
    const config = parseConfig({
      TELEGRAM_BOT_TOKEN: BENCH_TOKEN,
      TELEGRAM_API_ROOT: api.apiRoot,
      ALLOWED_USER_IDS: String(OWNER_ID),
      CLAUDE_BIN: await createFakeClaudeBin(dir),
      DATA_DIR: join(dir, "data"),
      // As the tests: the fake claude writes outside its working dir.
      CLAUDE_SANDBOX: "off",
      SHUTDOWN_GRACE_SECONDS: "2",
      ...options.env,
    }, dir);
    const logs: string[] = [];
    const app = await createApp({
      config,
      claudeEnv: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: join(dir, "home"),
        FAKE_CLAUDE_LOG: join(dir, "claude.log"),
        FAKE_CLAUDE_LOG_TIMES: "1",
        FAKE_CLAUDE_STATE_DIR: join(dir, "claude-state"),
        ...options.claudeEnv,
      },
      clock: systemClock,
      pacing: options.pacing,
      log: (message) => logs.push(message),
    });
    await app.start();
    return new InProcessBot(api, app, dir, logs);
  }

  /** The fake claude's timed log so far. */
  claudeLog(): Promise<ClaudeLog> {
    return readClaudeLog(join(this.dir, "claude.log"));
  }

  /**
   * Polls like {@linkcode until}; a timeout error ends with the bot's last log
   * lines.
   */
  async until<T>(
    probe: () => T | undefined | null | false,
    description: string,
    options: { timeoutMs?: number; everyMs?: number } = {},
  ): Promise<T> {
    try {
      return await pollUntil(probe, {
        description,
        timeoutMs: options.timeoutMs ?? 30_000,
        everyMs: options.everyMs ?? 1,
      });
    } catch (error) {
      const tail = this.#logs.slice(-20).join("\n");
      throw new Error(`${(error as Error).message}; bot log:\n${tail}`);
    }
  }

  /** True when no turn runs or waits in the chat and every reply went out. */
  isIdle(chatKey = String(OWNER_ID)): boolean {
    return this.app.sessions.list(chatKey).every((view) =>
      view.state !== "busy" && view.queued === 0
    ) && this.app.activeReplies === 0 && this.app.outbox.pending === 0;
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
