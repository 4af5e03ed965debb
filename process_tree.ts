// Finds processes by the bot's environment marker and stops them, through
// procps `ps` and the `kill` binary: Deno demands -A for any read of /proc and
// unscoped --allow-run for Deno.kill on a pid it did not spawn.

import { type Clock, sleep } from "./clock.ts";
import { runCommand, type SpawnFn } from "./spawner.ts";

/** The environment variable naming the bot instance and session in every Claude process (and, by inheritance, every tool process). */
export const MARKER_ENV = "CLAUDE_TELEGRAM_MARKER";

/** One process, told apart from a later one that reuses its pid by its start time. */
export interface ProcessIdentity {
  pid: number;
  /** as `ps -o lstart=` prints it; see ProcessTable.startTime */
  startTime: string;
}

/** A live process carrying MARKER_ENV in its environment. */
export interface MarkedProcess extends ProcessIdentity {
  /** argv joined by spaces, as ps prints it */
  args: string;
  /** value of MARKER_ENV */
  marker: string;
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

/** Finds and stops processes through `ps` and `kill`, spawned by the injected spawner. */
export class ProcessTable {
  #spawn: SpawnFn;
  #clock: Clock;

  constructor(options: { spawn: SpawnFn; clock: Clock }) {
    this.#spawn = options.spawn;
    this.#clock = options.clock;
  }

  /**
   * Lists live processes whose environment has MARKER_ENV equal to `marker`
   * or, with `{ prefix: true }`, starting with it. Excludes Deno.pid and
   * zombies. Only processes whose environment ps may read (same user, or any
   * as root) can match.
   * @throws {TypeError} when `marker` is empty or contains whitespace
   */
  async findMarked(
    marker: string,
    options: { prefix?: boolean } = {},
  ): Promise<MarkedProcess[]> {
    if (marker === "" || /\s/.test(marker)) {
      throw new TypeError(
        `Cannot find marked processes: bad marker "${marker}"`,
      );
    }
    const matches = (value: string) =>
      options.prefix ? value.startsWith(marker) : value === marker;
    // `ps e` appends the environment to argv without a separator, so a second
    // run without `e` tells where argv ends; only the suffix is environment.
    let withEnv = parseArgsLines(
      await this.#ps(["axeww", "-o", "pid=,args="]),
    );
    const found: MarkedProcess[] = [];
    for (let attempt = 1; attempt <= SNAPSHOT_ATTEMPTS; attempt++) {
      const candidates = [...withEnv].filter(([pid, line]) =>
        pid !== Deno.pid && line.includes(`${MARKER_ENV}=`)
      ).map(([pid]) => pid);
      if (candidates.length === 0) break;
      const changed: number[] = [];
      for (const info of await this.#statuses(candidates)) {
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
        await this.#ps(["eww", "-o", "pid=,args=", "-p", changed.join(",")]),
      );
    }
    return found;
  }

  /**
   * Start time of a live process as `ps -o lstart=` prints it, or undefined
   * when it is gone.
   * @throws {RangeError} when `pid` is not a positive integer
   */
  async startTime(pid: number): Promise<string | undefined> {
    assertPid(pid);
    const [info] = await this.#statuses([pid]);
    return info === undefined || hasExited(info) ? undefined : info.startTime;
  }

  /**
   * Sends SIGTERM to the processes, waits up to graceMs for them to exit
   * (polling ps, bounded), then SIGKILLs the rest and waits (bounded) until
   * they are gone. Before each signal a process's start time is read again:
   * one whose pid now names a newer process is left alone. Resolves to the
   * pids that needed SIGKILL.
   * @throws {RangeError} when a pid is not a positive integer (kill would read
   * 0 and -1 as process groups) or graceMs is negative or not finite
   * @throws {UnkillableProcessesError} when some outlive SIGKILL for 5 s
   */
  async terminate(
    targets: readonly ProcessIdentity[],
    options: { graceMs: number },
  ): Promise<number[]> {
    targets.forEach(({ pid }) => assertPid(pid));
    if (!Number.isFinite(options.graceMs) || options.graceMs < 0) {
      throw new RangeError(
        `Cannot terminate processes: bad graceMs ${options.graceMs}`,
      );
    }
    const identities = new Map(targets.map((t) => [t.pid, t.startTime]));
    const living = await this.#stillThemselves(identities, [
      ...identities.keys(),
    ]);
    if (living.length === 0) return [];
    await this.#signal("TERM", living);
    const stubborn = await this.#stillThemselves(
      identities,
      await this.#waitForExit(living, options.graceMs),
    );
    if (stubborn.length === 0) return [];
    await this.#signal("KILL", stubborn);
    const unkillable = await this.#waitForExit(stubborn, KILL_WAIT_MS);
    if (unkillable.length > 0) throw new UnkillableProcessesError(unkillable);
    return stubborn;
  }

  /** The pids still running with the start time recorded for them. */
  async #stillThemselves(
    identities: Map<number, string>,
    pids: number[],
  ): Promise<number[]> {
    if (pids.length === 0) return [];
    return (await this.#statuses(pids))
      .filter((info) =>
        !hasExited(info) && identities.get(info.pid) === info.startTime
      )
      .map((info) => info.pid);
  }

  /** Resolves to the pids still alive when they all exited or `timeoutMs` passed. */
  async #waitForExit(pids: number[], timeoutMs: number): Promise<number[]> {
    const deadline = this.#clock.now() + timeoutMs;
    let pauseMs = FIRST_POLL_MS;
    let alive = pids;
    while (true) {
      alive = (await this.#statuses(alive))
        .filter((info) => !hasExited(info))
        .map((info) => info.pid);
      const remainingMs = deadline - this.#clock.now();
      if (alive.length === 0 || remainingMs <= 0) return alive;
      await sleep(this.#clock, Math.min(pauseMs, remainingMs));
      pauseMs = Math.min(pauseMs * 2, MAX_POLL_MS);
    }
  }

  async #signal(signal: "TERM" | "KILL", pids: number[]): Promise<void> {
    // kill exits non-zero when some pid is already gone, which is what we
    // want; the poll that follows tells which ones are still alive.
    await runCommand(this.#spawn, "kill", {
      args: [`-${signal}`, "--", ...pids.map(String)],
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
  }

  /** Status of those pids that still exist (zombies included). */
  async #statuses(pids: number[]): Promise<ProcessStatus[]> {
    const lines = await this.#ps([
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

  /** Output lines of ps, untrimmed: trailing spaces can belong to argv. */
  async #ps(args: string[]): Promise<string[]> {
    const { code, stdout, stderr } = await runCommand(this.#spawn, "ps", {
      args,
      env: PS_ENV,
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    const errorText = stderr.trim();
    // ps exits 1 in silence when no pid given with -p exists.
    if (code !== 0 && !(code === 1 && errorText === "")) {
      throw new Error(
        `Cannot list processes: ps exited with code ${code}: ${errorText}`,
      );
    }
    return stdout.split("\n").filter((line) => line !== "");
  }
}

function assertPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new RangeError(`Cannot address process: bad pid ${pid}`);
  }
}

function hasExited(info: ProcessStatus): boolean {
  return info.stat.startsWith("Z") || info.stat.startsWith("X");
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
