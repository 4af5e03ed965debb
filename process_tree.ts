// Finds processes by the bot's environment marker and stops them, through
// procps `ps` and the `kill` binary: Deno demands -A for any read of /proc and
// unscoped --allow-run for Deno.kill on a pid it did not spawn.

import { setTimeout as delay } from "node:timers/promises";

/** The environment variable naming the bot instance and session in every Claude process (and, by inheritance, every tool process). */
export const MARKER_ENV = "CLAUDE_TELEGRAM_MARKER";

/** A live process carrying MARKER_ENV in its environment. */
export interface MarkedProcess {
  pid: number;
  /** argv joined by spaces, as ps prints it */
  args: string;
  /** value of MARKER_ENV */
  marker: string;
  /** as `ps -o lstart=` prints it; see processStartTime */
  startTime: string;
}

/** Bounds every ps and kill run; both normally finish in milliseconds. */
const COMMAND_TIMEOUT_MS = 5_000;
/** A SIGKILLed process disappears once the kernel frees its memory, or later if it is stuck in uninterruptible IO. */
const KILL_WAIT_MS = 5_000;
/** Most processes exit within a few ms of a signal, so polling starts fast and backs off. */
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 200;
/** Re-reads of a process that exec'd between the two ps runs; a process that keeps changing its argv is skipped after this. */
const SNAPSHOT_ATTEMPTS = 3;
/** Fixed locale and zone, so a start time recorded by one run of the bot compares equal in the next. */
const PS_ENV = { LC_ALL: "C", TZ: "UTC" };
/** The marker never contains spaces and every environment entry follows a space in `ps e` output. */
const MARKER_PATTERN = new RegExp(` ${MARKER_ENV}=(\\S+)`);
/** `ps -o pid=,stat=,lstart=,args=`: lstart is always 24 characters wide, args may be empty. */
const STATUS_LINE = /^\s*(\d+)\s+(\S+)\s+(.{24}) ?(.*)$/;
/** `ps -o pid=,args=`: args may start with a space, so only the pid column's padding is trimmed. */
const ARGS_LINE = /^\s*(\d+) ?(.*)$/;

/** Thrown when processes are still alive after SIGKILL and a bounded wait. */
export class UnkillableProcessesError extends Error {
  override name = "UnkillableProcessesError";
  /** The pids that outlived SIGKILL. */
  readonly pids: readonly number[];

  /** @param pids the pids that outlived SIGKILL */
  constructor(pids: readonly number[]) {
    super(
      `Cannot terminate processes ${pids.join(", ")}: still alive ` +
        `${KILL_WAIT_MS} ms after SIGKILL`,
    );
    this.pids = pids;
  }
}

interface ProcessStatus {
  pid: number;
  /** ps STAT: Z (zombie) and X (dead) mean the process has already exited */
  stat: string;
  startTime: string;
  args: string;
}

/**
 * Lists live processes whose environment has MARKER_ENV equal to `marker` or,
 * with `{ prefix: true }`, starting with it. Excludes Deno.pid and zombies.
 * Only processes whose environment ps may read (same user, or any as root)
 * can match.
 * @throws {TypeError} when `marker` is empty or contains whitespace
 */
export async function findMarkedProcesses(
  marker: string,
  options: { prefix?: boolean } = {},
): Promise<MarkedProcess[]> {
  if (marker === "" || /\s/.test(marker)) {
    throw new TypeError(`Cannot find marked processes: bad marker "${marker}"`);
  }
  const matches = (value: string) =>
    options.prefix ? value.startsWith(marker) : value === marker;
  // `ps e` appends the environment to argv without a separator, so a second
  // run without `e` tells where argv ends; only the suffix is environment.
  let withEnv = parseArgsLines(await runPs(["axeww", "-o", "pid=,args="]));
  const found: MarkedProcess[] = [];
  for (let attempt = 1; attempt <= SNAPSHOT_ATTEMPTS; attempt++) {
    const candidates = [...withEnv].filter(([pid, line]) =>
      pid !== Deno.pid && line.includes(`${MARKER_ENV}=`)
    ).map(([pid]) => pid);
    if (candidates.length === 0) break;
    const changed: number[] = [];
    for (const info of await readStatuses(candidates)) {
      if (hasExited(info)) continue;
      const line = withEnv.get(info.pid) ?? "";
      if (line !== info.args && !line.startsWith(`${info.args} `)) {
        // It exec'd (or its pid was reused) between the two ps runs.
        changed.push(info.pid);
        continue;
      }
      const value = MARKER_PATTERN.exec(line.slice(info.args.length))?.[1];
      if (value !== undefined && matches(value)) {
        const { pid, args, startTime } = info;
        found.push({ pid, args, marker: value, startTime });
      }
    }
    if (changed.length === 0) break;
    withEnv = parseArgsLines(
      await runPs(["eww", "-o", "pid=,args=", "-p", changed.join(",")]),
    );
  }
  return found;
}

/**
 * Start time of a live process as `ps -o lstart=` prints it, or undefined when it is gone.
 * @throws {RangeError} when `pid` is not a positive integer
 */
export async function processStartTime(
  pid: number,
): Promise<string | undefined> {
  assertPid(pid);
  const [info] = await readStatuses([pid]);
  return info === undefined || hasExited(info) ? undefined : info.startTime;
}

/**
 * Sends SIGTERM to the pids, waits up to graceMs for them to exit (polling ps,
 * bounded), then SIGKILLs the rest and waits (bounded) until they are gone.
 * Resolves to the pids that needed SIGKILL.
 * @throws {RangeError} when a pid is not a positive integer (kill would read
 * 0 and -1 as process groups) or graceMs is negative or not finite
 * @throws {UnkillableProcessesError} when some outlive SIGKILL for 5 s
 */
export async function terminateProcesses(
  pids: number[],
  options: { graceMs: number },
): Promise<number[]> {
  pids.forEach(assertPid);
  if (!Number.isFinite(options.graceMs) || options.graceMs < 0) {
    throw new RangeError(
      `Cannot terminate processes: bad graceMs ${options.graceMs}`,
    );
  }
  if (pids.length === 0) return [];
  const targets = [...new Set(pids)];
  await sendSignal("TERM", targets);
  const stubborn = await waitForExit(targets, options.graceMs);
  if (stubborn.length === 0) return [];
  await sendSignal("KILL", stubborn);
  const unkillable = await waitForExit(stubborn, KILL_WAIT_MS);
  if (unkillable.length > 0) throw new UnkillableProcessesError(unkillable);
  return stubborn;
}

function assertPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new RangeError(`Cannot address process: bad pid ${pid}`);
  }
}

function hasExited(info: ProcessStatus): boolean {
  return info.stat.startsWith("Z") || info.stat.startsWith("X");
}

/** Resolves to the pids still alive when they all exited or `timeoutMs` passed. */
async function waitForExit(
  pids: number[],
  timeoutMs: number,
): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  let pauseMs = FIRST_POLL_MS;
  let alive = pids;
  while (true) {
    alive = (await readStatuses(alive))
      .filter((info) => !hasExited(info))
      .map((info) => info.pid);
    const remainingMs = deadline - performance.now();
    if (alive.length === 0 || remainingMs <= 0) return alive;
    await delay(Math.min(pauseMs, remainingMs));
    pauseMs = Math.min(pauseMs * 2, MAX_POLL_MS);
  }
}

async function sendSignal(signal: "TERM" | "KILL", pids: number[]) {
  // kill exits non-zero when some pid is already gone, which is what we want;
  // the poll that follows tells which ones are still alive.
  await new Deno.Command("kill", {
    args: [`-${signal}`, "--", ...pids.map(String)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
  }).output();
}

/** Status of those pids that still exist (zombies included). */
async function readStatuses(pids: number[]): Promise<ProcessStatus[]> {
  const lines = await runPs([
    "ww",
    "-o",
    "pid=,stat=,lstart=,args=",
    "-p",
    pids.join(","),
  ]);
  return lines.map((line) => {
    const [, pid, stat, startTime, args] = matchPsLine(STATUS_LINE, line);
    return { pid: Number(pid), stat, startTime, args };
  });
}

function parseArgsLines(lines: string[]): Map<number, string> {
  return new Map(lines.map((line) => {
    const [, pid, args] = matchPsLine(ARGS_LINE, line);
    return [Number(pid), args];
  }));
}

/** @throws {SyntaxError} when ps printed a line of another shape */
function matchPsLine(pattern: RegExp, line: string): RegExpExecArray {
  const match = pattern.exec(line);
  if (match === null) {
    throw new SyntaxError(`Cannot parse ps output: unexpected line "${line}"`);
  }
  return match;
}

/** Output lines of ps, untrimmed: trailing spaces can belong to argv. */
async function runPs(args: string[]): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command("ps", {
    args,
    env: PS_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
  }).output();
  const errorText = new TextDecoder().decode(stderr).trim();
  // ps exits 1 in silence when no pid given with -p exists.
  if (code !== 0 && !(code === 1 && errorText === "")) {
    throw new Error(
      `Cannot list processes: ps exited with code ${code}: ${errorText}`,
    );
  }
  return new TextDecoder().decode(stdout).split("\n").filter((line) =>
    line !== ""
  );
}
