// Assembles the running bot from a Config: store, sessions, outbox, grammY.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Bot, HttpError } from "grammy";
import { retryPolicy } from "./api_retry.ts";
import { COMMANDS } from "./chat_commands.ts";
import { registerCommands } from "./commands.ts";
import type { Config } from "./config.ts";
import { describeError } from "./chat_api.ts";
import { type Clock, sleep, systemClock } from "./clock.ts";
import { Git } from "./git.ts";
import { InboundJournal } from "./journal.ts";
import { Outbox } from "./outbox.ts";
import { ProjectCommands } from "./project_commands.ts";
import { InstanceLock } from "./instance_lock.ts";
import { loadPersonasOrBuiltIns } from "./personas.ts";
import { describeDiscoveryWarning, discoverProjects } from "./projects.ts";
import { detectSandbox } from "./sandbox.ts";
import { claudeConfigPaths, type SandboxStatus } from "./sandbox_spec.ts";
import { claudeLauncher, type LaunchFn } from "./launcher.ts";
import { type ProcessIdentity, ProcessTable } from "./process_tree.ts";
import { SessionRegistry } from "./sessions.ts";
import { type SpawnFn, systemSpawn } from "./spawner.ts";
import { SessionStore } from "./store.ts";

/** What the app needs beyond the Config; tests inject the rest. */
export interface AppOptions {
  config: Config;
  /** Claude's base environment (see claudeBaseEnvironment). */
  claudeEnv: Record<string, string>;
  clock?: Clock;
  spawn?: SpawnFn;
  /** Starts Claude processes; default the real CLI through `spawn`. */
  launch?: LaunchFn;
  /** Outbox pacing; defaults suit Telegram (1 call/s per chat, 25/s in all). */
  pacing?: { perChatIntervalMs: number; globalPerSecond: number };
  log?: (message: string) => void;
  /** Called when polling ends on its own after start (401, 409). */
  onPollingStopped?: (error: unknown) => void;
  /** Where the bot runs; its `.env` is hidden from a sandboxed Claude. */
  botDir?: string;
}

/** A loaded, not yet polling bot. */
export interface App {
  bot: Bot;
  sessions: SessionRegistry;
  outbox: Outbox;
  /** Finds and stops processes (the reaper uses it). */
  processes: ProcessTable;
  instanceId: string;
  /** Whether Claude runs in the sandbox, and if not why. */
  sandbox: SandboxStatus;
  /** Claude pids recorded by the previous run, for the reaper. */
  recorded: ProcessIdentity[];
  /** Markers of the previous run's processes, for the reaper. */
  markers: string[];
  /** Replies still being delivered (0 when the bot is quiet). */
  readonly activeReplies: number;
  /** Starts long polling; resolves once the first getUpdates is under way. */
  start(): Promise<void>;
  /** Stops polling, then every Claude process; persists state. */
  stop(): Promise<void>;
}

/**
 * Loads state and builds the bot; it holds DATA_DIR's instance lock until
 * stop() (or the process's end).
 * @throws {InstanceLockedError} when another bot runs on DATA_DIR
 * @throws {SandboxUnavailableError} when the configuration requires a sandbox that cannot run
 * @throws {StoreWriteError} or a Deno error when DATA_DIR is not usable
 */
export async function createApp(options: AppOptions): Promise<App> {
  const lock = await InstanceLock.acquire(options.config.dataDir);
  try {
    return await buildApp(options, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function buildApp(
  options: AppOptions,
  lock: InstanceLock,
): Promise<App> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const write = options.log ?? ((message: string) => console.error(message));
  // grammY errors and fetch failures can carry URLs with the token in them.
  const log = (message: string) =>
    write(message.replaceAll(config.botToken, "<bot token>"));
  const store = new SessionStore({ dataDir: config.dataDir, clock });
  await store.init();
  const instanceId = await store.instanceId();
  const { personas, problem } = await loadPersonasOrBuiltIns(config.dataDir);
  if (problem) log(`${problem.message}; using the built-in personas`);
  const spawn = options.spawn ?? systemSpawn;
  const sandbox = await detectSandbox(config.sandboxMode, {
    spawn,
    network: { domains: config.sandboxNetwork, dataDir: config.dataDir },
  });
  if (!sandbox.isActive && sandbox.problem) {
    log(`Warning: Claude runs without a sandbox: ${sandbox.problem}`);
  }
  // OS processes live in real time: their stop grace and exit polling run on
  // the system clock even when a test drives the bot's own timers by hand.
  const processes = new ProcessTable({ spawn, clock: systemClock });
  const sessions = new SessionRegistry({
    store,
    clock,
    launch: options.launch ?? claudeLauncher({
      bin: config.claudeBin,
      env: options.claudeEnv,
      spawn,
      clock: systemClock,
      processes,
      sandbox: sandbox.isActive
        ? {
          claudeConfig: claudeConfigPaths(options.claudeEnv),
          dataDir: config.dataDir,
          botDir: options.botDir ?? Deno.cwd(),
          writable: config.sandboxWritable,
          hide: config.sandboxHide,
          // The bot's code stays visible even when it was unpacked under /tmp.
          readable: [fileURLToPath(new URL(".", import.meta.url))],
          network: config.sandboxNetwork,
        }
        : undefined,
      log,
    }),
    instanceId,
    defaultIdleTimeoutMs: config.idleTimeoutMs,
    defaultModel: config.defaultModel,
    claudeDefaults: {
      permissionMode: config.permissionMode,
      allowedTools: config.allowedTools,
    },
    graceMs: config.shutdownGraceMs,
    stallMs: config.hungTurnMs,
    dailyBudgetUsd: config.dailyBudgetUsd,
    log,
  });
  const { recorded, markers, quarantined } = await sessions.load();
  for (const path of quarantined) {
    log(`Corrupt session file moved to ${path}; the other sessions loaded`);
  }
  const journal = new InboundJournal({
    dataDir: config.dataDir,
    clock,
    // A private chat's id is its user's id.
    isKnownChat: (chatId) =>
      config.allowedChatIds.has(chatId) || config.allowedUserIds.has(chatId),
  });
  const journaled = await journal.load();
  for (const path of journaled.quarantined) {
    log(`Unreadable or foreign journal entry moved to ${path}`);
  }
  const outbox = new Outbox({ clock, ...options.pacing });
  const bot = new Bot(config.botToken, { client: { apiRoot: config.apiRoot } });
  const retry = retryPolicy({
    log,
    isNetworkError: (error) => error instanceof HttpError,
    now: () => clock.now(),
    sleep: (ms, signal) => sleep(clock, ms, signal),
  });
  bot.api.config.use((prev, method, payload, signal) =>
    retry(method, () => prev(method, payload, signal), signal)
  );
  const commands = registerCommands(bot, {
    sessions,
    journal,
    outbox,
    clock,
    allowedUserIds: config.allowedUserIds,
    allowedChatIds: config.allowedChatIds,
    personas,
    apiRoot: config.apiRoot,
    botToken: config.botToken,
    maxUploadBytes: config.maxUploadBytes,
    defaultIdleTimeoutMs: config.idleTimeoutMs,
    approvalTimeoutMs: config.approvalTimeoutMs,
    dailyBudgetUsd: config.dailyBudgetUsd,
    transcription: config.transcription,
    sandboxWarning: sandbox.isActive ? undefined : sandbox.problem,
    projects: new ProjectCommands({
      sessions,
      // git gets only PATH and HOME (the user's ~/.gitconfig) of Claude's.
      git: new Git({
        spawn,
        env: { PATH: options.claudeEnv.PATH, HOME: options.claudeEnv.HOME },
      }),
      projectsDirs: config.projectsDirs,
      worktreesDir: join(config.dataDir, "worktrees"),
      claudeConfigDir: config.claudeConfigDir,
      handoffConfigDir: options.claudeEnv.CLAUDE_CONFIG_DIR,
      uploadDirFor: (chatKey, name) => store.uploadDirFor(chatKey, name),
      clock,
      log,
    }),
    log,
  });
  // Checked at start for the log only; commands look again each time.
  const discovery = await discoverProjects(config.projectsDirs);
  for (const warning of discovery.warnings) {
    log(describeDiscoveryWarning(warning));
  }
  let polling: Promise<void> | undefined;
  let hasRecovered = false;
  return {
    bot,
    sessions,
    outbox,
    processes,
    instanceId,
    sandbox,
    recorded,
    markers,
    get activeReplies() {
      return commands.activeReplies;
    },
    async start() {
      await bot.init();
      bot.api.setMyCommands(COMMANDS).catch((error) =>
        log(`setMyCommands failed: ${describeError(error)}`)
      );
      // Before polling: replayed messages keep their place before new ones.
      // Once only: main retries start() while Telegram is unreachable.
      if (!hasRecovered) {
        hasRecovered = true;
        await commands.recover();
      }
      const started = Promise.withResolvers<void>();
      let isPolling = false;
      polling = bot.start({
        onStart: () => {
          isPolling = true;
          started.resolve();
        },
      });
      polling.catch((error) => {
        if (!isPolling) return started.reject(error);
        // grammY ends polling for good on 401 (token revoked) and 409
        // (another instance polls with this token): say so, let main exit.
        log(`Polling stopped: ${describeError(error)}`);
        options.onPollingStopped?.(error);
      });
      await started.promise;
    },
    async stop() {
      if (bot.isRunning()) await bot.stop();
      await polling?.catch((error) =>
        log(`Polling ended: ${describeError(error)}`)
      );
      await sessions.shutdown();
      lock.release();
    },
  };
}
