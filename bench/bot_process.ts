// Runs the production entry point, main.ts, as its own process with the
// launcher's scoped flags (launch.ts mainRunArgs), against the fake Bot API
// and the fake `claude`: what a deployment runs, so its RSS and start-up time
// are the bot's alone.
import { join } from "node:path";
import { parseConfig } from "../config.ts";
import { claudeEnvNames, mainRunArgs } from "../launch.ts";
import { processes } from "../tests/fakes/spare_process.ts";
import type { FakeBotApi } from "../tests/fakes/fake_bot_api.ts";
import { BENCH_TOKEN } from "./in_process_bot.ts";
import { epochMs } from "./epoch.ts";

/** Where and how to run the bot. */
export interface BotProcessOptions {
  api: FakeBotApi;
  dataDir: string;
  claudeBin: string;
  allowedUserIds: readonly number[];
  /** Extra bot variables (see config.ts). */
  env?: Record<string, string>;
  /** Variables Claude inherits besides PATH and HOME (main.ts passes on exactly these). */
  claudeEnv: Record<string, string>;
}

const STDERR_TAIL_CHARS = 20_000;
const STOP_TIMEOUT_MS = 15_000;

/** A running main.ts; `await using` stops it and any Claude it left. */
export class BotProcess implements AsyncDisposable {
  readonly pid: number;
  /** Epoch ms just before the spawn. */
  readonly spawnedAt: number;
  readonly #child: Deno.ChildProcess;
  readonly #dataDir: string;
  readonly #drained: Promise<void>;
  #stderr = "";

  private constructor(
    child: Deno.ChildProcess,
    spawnedAt: number,
    dataDir: string,
  ) {
    this.#child = child;
    this.pid = child.pid;
    this.spawnedAt = spawnedAt;
    this.#dataDir = dataDir;
    this.#drained = this.#drain();
  }

  /** Spawns main.ts; it polls once the fake sees its first getUpdates. */
  static start(options: BotProcessOptions): BotProcess {
    const botEnv = {
      TELEGRAM_BOT_TOKEN: BENCH_TOKEN,
      TELEGRAM_API_ROOT: options.api.apiRoot,
      ALLOWED_USER_IDS: options.allowedUserIds.join(","),
      CLAUDE_BIN: options.claudeBin,
      DATA_DIR: options.dataDir,
      // As the tests: the fake claude writes outside its working dir.
      CLAUDE_SANDBOX: "off",
      SHUTDOWN_GRACE_SECONDS: "2",
      ...options.env,
    };
    // The real HOME (and DENO_DIR) so Deno finds its npm cache offline.
    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      ...options.claudeEnv,
      ...botEnv,
    };
    const denoDir = Deno.env.get("DENO_DIR");
    if (denoDir) env.DENO_DIR = denoDir;
    const args = mainRunArgs(parseConfig(env, Deno.cwd()), {
      claudeEnvNames: claudeEnvNames(env),
      botDir: Deno.cwd(),
    });
    const spawnedAt = epochMs();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...args],
      cwd: join(import.meta.dirname ?? ".", ".."),
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    return new BotProcess(child, spawnedAt, options.dataDir);
  }

  /** The bot's log so far (its stderr, last 20,000 characters). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Resident set size of the bot process alone (not its children), in MB. */
  async rssMb(): Promise<number> {
    const { stdout } = await new Deno.Command("ps", {
      args: ["-o", "rss=", "-p", String(this.pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const kb = Number(new TextDecoder().decode(stdout).trim());
    if (!(kb > 0)) throw new Error(`Cannot read the RSS of pid ${this.pid}`);
    return kb / 1024;
  }

  /** SIGTERM, as systemd would stop it; SIGKILL if it hangs; then stragglers. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // It has already exited: there is nothing to signal.
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Exited after all, between the timeout and the kill.
      }
    }, STOP_TIMEOUT_MS);
    try {
      await this.#child.status;
      await this.#drained;
    } finally {
      clearTimeout(timer);
    }
    const instanceId = (await Deno.readTextFile(
      join(this.#dataDir, "state", "instance-id"),
    ).catch(() => "")).trim();
    if (instanceId) {
      const leftovers = await processes.findMarked(`${instanceId}:`, {
        prefix: true,
      });
      await processes.terminate(leftovers, { graceMs: 500 });
    }
  }

  async #drain(): Promise<void> {
    for await (
      const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL_CHARS);
    }
  }
}
