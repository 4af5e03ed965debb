// Starts Claude processes: the one place that turns a session's launch
// request into a ClaudeProcess with the bot's binary, environment, spawner
// and (when on) sandbox.
import type { Clock } from "./clock.ts";
import type { ProcessTable } from "./process_tree.ts";
import type { SpawnFn } from "./spawner.ts";
import {
  ClaudeProcess,
  type ClaudeSettings,
  type CommandWrapper,
} from "./subprocess.ts";

/** The part of a ClaudeProcess sessions use; tests pass an in-memory one. */
export type ClaudeHandle = Pick<
  ClaudeProcess,
  | "pid"
  | "events"
  | "exited"
  | "isAlive"
  | "startTime"
  | "sendUserMessage"
  | "interrupt"
  | "answerPermission"
  | "stop"
>;

/** What a session asks for when it needs a process. */
export interface LaunchRequest {
  /** The session's working directory (absolute, stable: resume depends on it). */
  cwd: string;
  settings: ClaudeSettings;
  /** The MARKER_ENV value for this process and its tools. */
  marker: string;
  /** Wraps the command line (the session's sandbox), if any. */
  wrap?: CommandWrapper;
}

/**
 * Starts a Claude process for a session.
 * @throws {ClaudeStartError} when the binary cannot be started
 */
export type LaunchFn = (request: LaunchRequest) => ClaudeHandle;

/** The production LaunchFn: real processes of CLAUDE_BIN with Claude's environment. */
export function claudeLauncher(options: {
  bin: string;
  /** Claude's whole environment (the marker is added per process). */
  env: Record<string, string>;
  spawn: SpawnFn;
  clock: Clock;
  processes: ProcessTable;
  log?: (message: string) => void;
}): LaunchFn {
  return (request) =>
    ClaudeProcess.start({
      ...request,
      bin: options.bin,
      env: options.env,
      spawn: options.spawn,
      clock: options.clock,
      processes: options.processes,
      log: options.log,
    });
}
