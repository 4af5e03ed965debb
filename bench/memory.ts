// Benchmark 5: the bot's resident memory with 0, 100 and 1,000 suspended
// sessions on disk and with 1 and 20 live ones, and its start-up time (spawn
// → first getUpdates) as the number of sessions grows. main.ts runs as its
// own process; the Claude processes' memory is not counted. Then where the
// memory goes: the bot's dependencies loaded stage by stage (with the bot's
// V8 flags), the `deno task start` process that stays beside the bot, and
// start.sh, which leaves the bot alone.
import { join } from "node:path";
import { systemClock } from "../clock.ts";
import { type SessionRecord, SessionStore } from "../store.ts";
import { createFakeClaudeBin } from "../tests/fakes/claude_bin.ts";
import { FakeBotApi } from "../tests/fakes/fake_bot_api.ts";
import { BOT_V8_FLAGS } from "../launch.ts";
import { BotProcess } from "./bot_process.ts";
import { readClaudeLog } from "./claude_log.ts";
import { epochMs } from "./epoch.ts";
import { BENCH_TOKEN } from "./in_process_bot.ts";
import { pollUntil } from "../tests/fakes/wait.ts";
import { percentile, round } from "./stats.ts";

/** RSS in MB and start-up in ms, medians of the runs. */
export interface MemoryResult {
  runs: number;
  /** Sessions on disk → RSS once polling (MB). */
  rssMbBySessions: Record<string, number>;
  /** Sessions on disk → spawn to first getUpdates (ms). */
  startupMsBySessions: Record<string, number>;
  /** RSS with 20 live sessions, each after one turn (MB). */
  rssMbLive20: number;
  /** RSS with one live session, after one turn (MB). */
  rssMbLive1: number;
  /**
   * Idle under `deno task start`: the task process (its RSS, and the part no
   * other process shares) and the bot (MB).
   */
  task: { wrapperMb: number; wrapperAnonMb: number; botMb: number };
  /** Idle under start.sh: its processes (1: the bot replaced the shell) and their RSS (MB). */
  script: { processes: number; rssMb: number };
  /** A Deno process's memory as the bot's dependencies load (MB, after a full GC). */
  breakdown: {
    stage: string;
    rssMb: number;
    heapUsedMb: number;
    heapTotalMb: number;
  }[];
}

const OWNER_ID = 1001;
const SESSIONS_PER_CHAT = 10;
/** After the first getUpdates, time for start-up garbage to settle. */
const SETTLE_MS = 500;
const LIVE_SESSIONS = 20;
const FIRST_LIVE_USER_ID = 4001;

/** Starts the bot `runs` times for each session count, then once with 20 live sessions. */
export async function runMemory(
  options: { sessionCounts: number[]; runs: number },
): Promise<MemoryResult> {
  const dir = await Deno.makeTempDir({ prefix: "ct-bench-memory-" });
  try {
    const claudeBin = await createFakeClaudeBin(dir);
    const rssMbBySessions: Record<string, number> = {};
    const startupMsBySessions: Record<string, number> = {};
    for (const count of options.sessionCounts) {
      const dataDir = join(dir, `data-${count}`);
      await seedSessions(dataDir, count);
      const rss: number[] = [];
      const startup: number[] = [];
      for (let run = 0; run < options.runs; run++) {
        const sample = await startOnce(dataDir, claudeBin);
        rss.push(sample.rssMb);
        startup.push(sample.startupMs);
      }
      rssMbBySessions[count] = round(percentile(rss, 50));
      startupMsBySessions[count] = round(percentile(startup, 50));
    }
    return {
      runs: options.runs,
      rssMbBySessions,
      startupMsBySessions,
      rssMbLive20: round(await liveSessionsRss(dir, claudeBin, LIVE_SESSIONS)),
      rssMbLive1: round(await liveSessionsRss(dir, claudeBin, 1)),
      task: await underDenoTask(dir, claudeBin),
      script: await underStartScript(dir, claudeBin),
      breakdown: await loadStages(),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `count` suspended sessions (10 per chat) the way the bot saves them. */
async function seedSessions(dataDir: string, count: number): Promise<void> {
  const store = new SessionStore({ dataDir, clock: systemClock });
  await store.init();
  const now = Date.now();
  const writes: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const chatKey = String(3001 + Math.floor(i / SESSIONS_PER_CHAT));
    const name = `s${i % SESSIONS_PER_CHAT}`;
    const record: SessionRecord = {
      name,
      chatKey,
      workDir: store.workDirFor(chatKey, name),
      createdAt: now - 86_400_000,
      lastActiveAt: now - 3_600_000,
      state: "suspended",
      idleTimeoutMs: 600_000,
      outputMode: "normal",
      claudeSessionId: crypto.randomUUID(),
      suspendedAt: now - 3_000_000,
      turns: 12,
      totalCostUsd: 0.42,
      lastTurnCostUsd: 0.03,
      contextUsed: 0.2,
      alwaysAllowedTools: [],
      costByDay: { [new Date(now).toISOString().slice(0, 10)]: 0.42 },
    };
    writes.push(store.saveSession(record));
    if (i % SESSIONS_PER_CHAT === 0) {
      writes.push(store.saveChat({ chatKey, activeSession: name }));
    }
  }
  await Promise.all(writes);
}

async function startOnce(
  dataDir: string,
  claudeBin: string,
): Promise<{ rssMb: number; startupMs: number }> {
  await using api = await FakeBotApi.start({
    token: BENCH_TOKEN,
    now: epochMs,
  });
  await using bot = BotProcess.start({
    api,
    dataDir,
    claudeBin,
    allowedUserIds: [OWNER_ID],
    claudeEnv: {},
  });
  const poll = await api.waitFor(
    () => api.calls.find((c) => c.method === "getUpdates"),
    { timeoutMs: 30_000, description: "the bot's first getUpdates" },
  ).catch((error) => {
    throw new Error(`${error.message}\nBot log:\n${bot.stderr}`);
  });
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  return { rssMb: await bot.rssMb(), startupMs: poll.at - bot.spawnedAt };
}

/** One message in each of `count` chats, so `count` Claude processes stay live. */
async function liveSessionsRss(dir: string, claudeBin: string, count: number) {
  const userIds = Array.from(
    { length: count },
    (_, i) => FIRST_LIVE_USER_ID + i,
  );
  const logPath = join(dir, `live-${count}-claude.log`);
  await using api = await FakeBotApi.start({
    token: BENCH_TOKEN,
    now: epochMs,
  });
  await using bot = BotProcess.start({
    api,
    dataDir: join(dir, `data-live-${count}`),
    claudeBin,
    allowedUserIds: userIds,
    claudeEnv: {
      FAKE_CLAUDE_LOG: logPath,
      FAKE_CLAUDE_LOG_TIMES: "1",
      FAKE_CLAUDE_STATE_DIR: join(dir, `live-${count}-claude-state`),
    },
  });
  await api.waitFor(() => api.calls.some((c) => c.method === "getUpdates"), {
    timeoutMs: 30_000,
    description: "the bot's first getUpdates",
  });
  for (const userId of userIds) api.sendText("hello", { userId });
  const results = await pollUntil(
    async () => {
      const { results } = await readClaudeLog(logPath);
      return results.length >= userIds.length && results;
    },
    { description: `${count} answers`, timeoutMs: 60_000, everyMs: 100 },
  );
  const lastResultAt = Math.max(...results.map((r) => r.t));
  await pollUntil(
    () => {
      const last = api.calls.findLast((c) => c.method !== "getUpdates");
      return epochMs() - Math.max(last?.at ?? 0, lastResultAt) > 2 * SETTLE_MS;
    },
    { description: "the last reply", timeoutMs: 30_000, everyMs: 50 },
  );
  return await bot.rssMb();
}

/**
 * Starts the bot as a deployment does, `deno task start` in the bot's folder,
 * and reads the RSS of the task process and of the bot it runs, idle.
 */
async function underDenoTask(
  dir: string,
  claudeBin: string,
): Promise<MemoryResult["task"]> {
  return await idleUnder(
    { program: Deno.execPath(), args: ["task", "--quiet", "start"] },
    { dir, claudeBin },
    async (launcherPid, table) => {
      const bot = table.find((row) => row.ppid === launcherPid);
      return {
        wrapperMb: round(table.find((row) => row.pid === launcherPid)!.rssMb),
        wrapperAnonMb: round(await anonRssMb(launcherPid)),
        botMb: round(bot?.rssMb ?? NaN),
      };
    },
  );
}

/** Starts the bot through start.sh and reads the RSS of every process it left. */
async function underStartScript(
  dir: string,
  claudeBin: string,
): Promise<MemoryResult["script"]> {
  const repo = join(import.meta.dirname ?? ".", "..");
  return await idleUnder(
    { program: join(repo, "start.sh"), args: [] },
    { dir, claudeBin },
    (launcherPid, table) => {
      const tree = table.filter((row) =>
        row.pid === launcherPid || row.ppid === launcherPid
      );
      return Promise.resolve({
        processes: tree.length,
        rssMb: round(tree.reduce((sum, row) => sum + row.rssMb, 0)),
      });
    },
  );
}

/**
 * Runs `launcher` in the bot's folder against a fresh fake Bot API, waits
 * until the bot polls and settles, and hands the process table to `read`.
 */
async function idleUnder<T>(
  launcher: { program: string; args: string[] },
  where: { dir: string; claudeBin: string },
  read: (
    launcherPid: number,
    table: { pid: number; ppid: number; rssMb: number }[],
  ) => Promise<T>,
): Promise<T> {
  await using api = await FakeBotApi.start({
    token: BENCH_TOKEN,
    now: epochMs,
  });
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    DENO: Deno.execPath(),
    TELEGRAM_BOT_TOKEN: BENCH_TOKEN,
    TELEGRAM_API_ROOT: api.apiRoot,
    ALLOWED_USER_IDS: String(OWNER_ID),
    CLAUDE_BIN: where.claudeBin,
    DATA_DIR: join(where.dir, `data-${crypto.randomUUID()}`),
    CLAUDE_SANDBOX: "off",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  const launched = new Deno.Command(launcher.program, {
    args: launcher.args,
    cwd: join(import.meta.dirname ?? ".", ".."),
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await api.waitFor(() => api.calls.some((c) => c.method === "getUpdates"), {
      timeoutMs: 30_000,
      description: `the bot's first getUpdates under ${launcher.program}`,
    });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return await read(launched.pid, await processTable());
  } finally {
    // Both launchers let SIGTERM reach the bot, which stops cleanly.
    launched.kill("SIGTERM");
    await launched.status;
  }
}

/**
 * Resident memory only `pid` holds: its anonymous pages (MB). Read by `grep`:
 * Deno lets only --allow-all read /proc (deno-facts.md §3).
 */
async function anonRssMb(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("grep", {
    args: ["RssAnon", `/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const kb = /RssAnon:\s+(\d+)/.exec(new TextDecoder().decode(stdout))?.[1];
  return Number(kb) / 1024;
}

async function processTable(): Promise<
  { pid: number; ppid: number; rssMb: number }[]
> {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-eo", "pid=,ppid=,rss="],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).trim().split("\n").map((line) => {
    const [pid, ppid, rssKb] = line.trim().split(/\s+/).map(Number);
    return { pid, ppid, rssMb: rssKb / 1024 };
  });
}

/** Runs memory_probe.ts with the bot's import map; its stages in order. */
async function loadStages(): Promise<MemoryResult["breakdown"]> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      `--v8-flags=${[...BOT_V8_FLAGS, "--expose-gc"].join(",")}`,
      "bench/memory_probe.ts",
    ],
    cwd: join(import.meta.dirname ?? ".", ".."),
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!success) throw new Error("Cannot run bench/memory_probe.ts");
  return new TextDecoder().decode(stdout).trim().split("\n").map((line) => {
    const stage = JSON.parse(line);
    return {
      stage: stage.stage,
      rssMb: round(stage.rssMb),
      heapUsedMb: round(stage.heapUsedMb),
      heapTotalMb: round(stage.heapTotalMb),
    };
  });
}
