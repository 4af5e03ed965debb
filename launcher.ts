// Starts Claude processes: the one place that turns a session's launch
// request into a ClaudeProcess with the bot's binary, environment, spawner
// and (when on) sandbox.
import type { Clock } from "./clock.ts";
import type { ProcessTable } from "./process_tree.ts";
import { sandboxWrapper } from "./sandbox.ts";
import type { SandboxSpec } from "./sandbox_spec.ts";
import type { SpawnFn } from "./spawner.ts";
import { ClaudeProcess, type ClaudeSettings } from "./subprocess.ts";

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
  /** Where the session's uploads are (inside or outside `cwd`). */
  uploadDir: string;
  /** More folders the session's Claude must write (a worktree's repository). */
  writable?: readonly string[];
  settings: ClaudeSettings;
  /** The MARKER_ENV value for this process and its tools. */
  marker: string;
}

/** The sandbox every session shares; each adds its own folders (see sandbox_spec.ts). */
export type SharedSandbox = Omit<SandboxSpec, "workDir" | "uploadDir">;

/**
 * Starts a Claude process for a session.
 * @throws {ClaudeStartError} when the binary cannot be started
 */
export type LaunchFn = (request: LaunchRequest) => ClaudeHandle;

/**
 * The production LaunchFn: real processes of CLAUDE_BIN with Claude's
 * environment, each in its session's sandbox when `sandbox` is given.
 */
export function claudeLauncher(options: {
  bin: string;
  /** Claude's whole environment (the marker is added per process). */
  env: Record<string, string>;
  spawn: SpawnFn;
  clock: Clock;
  processes: ProcessTable;
  sandbox?: SharedSandbox;
  log?: (message: string) => void;
}): LaunchFn {
  const { sandbox } = options;
  return (request) =>
    ClaudeProcess.start({
      cwd: request.cwd,
      settings: request.settings,
      marker: request.marker,
      wrap: sandbox && sandboxWrapper({
        ...sandbox,
        workDir: request.cwd,
        uploadDir: request.uploadDir,
        writable: [...sandbox.writable, ...request.writable ?? []],
      }),
      bin: options.bin,
      env: options.env,
      spawn: options.spawn,
      clock: options.clock,
      processes: options.processes,
      log: options.log,
    });
}
