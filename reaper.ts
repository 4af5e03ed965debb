// At start-up, stops the Claude and tool processes an earlier run of this bot
// instance left behind (a crash or SIGKILL of the bot orphans them).

import { basename } from "node:path";
import type { ProcessIdentity, ProcessTable } from "./process_tree.ts";

/** A Claude process the bot recorded for a session (pid and ps start time at spawn). */
export type RecordedProcess = ProcessIdentity;

/** What reapOrphans did, counted in processes. */
export interface ReapReport {
  /** Claude processes stopped */
  claude: number;
  /** tool processes (anything else carrying the marker) stopped */
  tools: number;
  /** marked processes left alone because their pid was recorded for a process with another start time */
  spared: number;
}

/**
 * Stops every process left by an earlier run of this bot instance: each one
 * whose marker names `instanceId`, except those whose pid is in `recorded`
 * with a different start time (the pid was reused). SIGTERM first, SIGKILL
 * after `graceMs`.
 * @param options.claudeBin CLAUDE_BIN as configured; it tells Claude processes from tool processes in the report
 * @param options.recorded the Claude processes the earlier run recorded
 * @param options.markers markers recorded in session records: processes that
 * carry one are this bot's even when they name a lost (garbled) instance id
 * @param options.processes finds and stops processes (ps and kill)
 * @throws {TypeError} when `instanceId` is empty or contains whitespace or ":"
 * @throws {UnkillableProcessesError} when some outlive SIGKILL (see ProcessTable.terminate)
 */
export async function reapOrphans(options: {
  processes: ProcessTable;
  instanceId: string;
  claudeBin: string;
  recorded: RecordedProcess[];
  markers?: readonly string[];
  graceMs: number;
}): Promise<ReapReport> {
  const { processes, instanceId, claudeBin, recorded, graceMs } = options;
  // A ":" or space would let the prefix reach markers of another instance.
  if (instanceId === "" || /[\s:]/.test(instanceId)) {
    throw new TypeError(`Cannot reap orphans: bad instanceId "${instanceId}"`);
  }
  const candidates = await processes.findMarked(`${instanceId}:`, {
    prefix: true,
  });
  const known = new Set(candidates.map(({ pid }) => pid));
  for (const marker of new Set(options.markers)) {
    if (marker.startsWith(`${instanceId}:`)) continue;
    for (const found of await processes.findMarked(marker)) {
      if (!known.has(found.pid)) candidates.push(found);
      known.add(found.pid);
    }
  }
  const recordedStartTimes = new Map(
    recorded.map(({ pid, startTime }) => [pid, startTime]),
  );
  // A recorded pid whose start time changed now names a newer process.
  const orphans = candidates.filter(({ pid, startTime }) =>
    (recordedStartTimes.get(pid) ?? startTime) === startTime
  );
  await processes.terminate(orphans, { graceMs });
  // A recorded pid with a matching start time is the Claude we started,
  // whatever its command line shows (a wrapper may have exec'd node).
  const claude =
    orphans.filter(({ pid, args }) =>
      recordedStartTimes.has(pid) || isClaudeProcess(args, claudeBin)
    ).length;
  return {
    claude,
    tools: orphans.length - claude,
    spared: candidates.length - orphans.length,
  };
}

/** Programs that run the script their first argument names. */
const INTERPRETERS = new Set([
  "node",
  "bun",
  "deno",
  "sh",
  "bash",
  "dash",
  "python",
  "python3",
]);

/**
 * Whether a marked process is Claude rather than one of its tools, by its
 * command line: the program is CLAUDE_BIN or named like Claude, or an
 * interpreter runs a script of that name (a wrapper, or the CLI's
 * `…/claude-code/cli.js`). Other words never count: Claude's Bash tool
 * wrapper carries `/tmp/claude-<hex>-cwd` in its `-c` script, sandbox-runtime's
 * socat relays name `/tmp/claude-http-<hex>.sock`, and its helpers may live
 * in a folder named `claude-telegram`.
 */
export function isClaudeProcess(args: string, claudeBin: string): boolean {
  const [program = "", script] = args.split(" -", 1)[0].split(" ");
  if (program === claudeBin || basename(program).includes("claude")) {
    return true;
  }
  return script !== undefined && INTERPRETERS.has(basename(program)) &&
    (script === claudeBin || script.includes("claude"));
}
