// Entry point, wiring only: config → app (state) → orphan reaper → polling →
// signal handlers. Started by launch.ts with scoped permissions.
import { GrammyError } from "grammy";
import { createApp } from "./app.ts";
import {
  BOT_ENV_VARS,
  claudeBaseEnvironment,
  ConfigError,
  parseConfig,
} from "./config.ts";
import { describeError } from "./chat_api.ts";
import { CLAUDE_ENV_OPTION } from "./launch.ts";
import { InstanceLockedError } from "./instance_lock.ts";
import { checkEnvironment } from "./preflight.ts";
import { reapOrphans } from "./reaper.ts";
import { sleep, systemClock } from "./clock.ts";
import { SandboxUnavailableError } from "./sandbox_spec.ts";
import { systemSpawn } from "./spawner.ts";

/** After the grace, shutdown gets this long for persisting and the bot's last calls. */
const EXIT_MARGIN_MS = 2_000;
const STARTUP_RETRY_MAX_MS = 60_000;
/**
 * A signal this soon after the first is the same request delivered twice:
 * Ctrl-C and systemd (KillMode=control-group) signal the whole process
 * group, and `deno task` forwards its copy to the bot as well.
 */
const REPEATED_SIGNAL_MS = 1_000;

function log(message: string): void {
  console.error(`${new Date(systemClock.now()).toISOString()} ${message}`);
}

/** Reads exactly the variables the launcher allowed: ours plus those Claude inherits. */
function readEnvironment(): Record<string, string | undefined> {
  const claudeNames = Deno.args.find((a) => a.startsWith(CLAUDE_ENV_OPTION))
    ?.slice(CLAUDE_ENV_OPTION.length).split(",").filter(Boolean) ?? [];
  const env: Record<string, string | undefined> = {};
  for (const name of new Set([...BOT_ENV_VARS, ...claudeNames])) {
    env[name] = Deno.env.get(name);
  }
  return env;
}

async function main(): Promise<void> {
  const env = readEnvironment();
  let config;
  try {
    config = parseConfig(env, Deno.cwd());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) log(`Configuration: ${problem}`);
    Deno.exit(1);
  }
  const problems = await checkEnvironment({ env, spawn: systemSpawn });
  for (const problem of problems) log(`Cannot start: ${problem}`);
  if (problems.length > 0) Deno.exit(1);
  // Set below, once the app exists; polling can only stop after that.
  let stopAndExit = (_exitCode: number) => {};
  let app;
  try {
    app = await createApp({
      config,
      claudeEnv: claudeBaseEnvironment(env),
      log,
      // 401 or 409 after start: exit non-zero so a supervisor restarts us.
      onPollingStopped: () => stopAndExit(1),
    });
  } catch (error) {
    if (
      error instanceof InstanceLockedError ||
      error instanceof SandboxUnavailableError
    ) {
      log(error.message);
    } else {
      log(
        `Cannot use DATA_DIR "${config.dataDir}" (it must be a writable directory): ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    Deno.exit(1);
  }

  const reaped = await reapOrphans({
    processes: app.processes,
    instanceId: app.instanceId,
    claudeBin: config.claudeBin,
    recorded: app.recorded,
    markers: app.markers,
    graceMs: config.shutdownGraceMs,
  });
  log(
    `Reaped ${reaped.claude} orphaned Claude and ${reaped.tools} tool process(es) of an earlier run` +
      (reaped.spared ? `; spared ${reaped.spared} with a reused pid` : ""),
  );

  let stoppingSinceMs: number | undefined;
  stopAndExit = (exitCode: number) => {
    if (stoppingSinceMs !== undefined) return;
    stoppingSinceMs = systemClock.now();
    log(
      "Shutting down: stopping polling and every Claude process " +
        "(signal again to exit at once)",
    );
    const cancelDeadline = systemClock.after(
      config.shutdownGraceMs + EXIT_MARGIN_MS,
      () => {
        log("Shutdown took too long: exiting");
        Deno.exit(1);
      },
    );
    app.stop().then(() => app.outbox.idle()).then(
      () => {
        cancelDeadline();
        log("Stopped cleanly");
        Deno.exit(exitCode);
      },
      (error) => {
        log(`Shutdown failed: ${describeError(error)}`);
        Deno.exit(1);
      },
    );
  };
  const onSignal = () => {
    if (stoppingSinceMs !== undefined) {
      if (systemClock.now() - stoppingSinceMs < REPEATED_SIGNAL_MS) return;
      log("Second signal: exiting at once");
      Deno.exit(130);
    }
    stopAndExit(0);
  };
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);

  // Telegram may be unreachable at boot: keep trying, never exit for it.
  for (
    let delayMs = 1_000;;
    delayMs = Math.min(delayMs * 2, STARTUP_RETRY_MAX_MS)
  ) {
    try {
      await app.start();
      break;
    } catch (error) {
      if (error instanceof GrammyError && error.error_code === 401) {
        log(
          "Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized): check the token",
        );
        Deno.exit(1);
      }
      if (stoppingSinceMs !== undefined) return;
      log(
        `Cannot reach Telegram (${describeError(error)}); retrying in ${
          delayMs / 1000
        } s`,
      );
      await sleep(systemClock, delayMs);
    }
  }
  log(`Bot @${app.bot.botInfo.username} is polling`);
}

if (import.meta.main) await main();
