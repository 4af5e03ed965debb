// One Claude Code CLI process in long-lived stream-json mode: spawn, write
// turns, yield parsed events as a stream, stop (close stdin → SIGTERM →
// SIGKILL, then stragglers).
import { type Clock, settlesWithin } from "./clock.ts";
import { TextLineStream } from "./line_stream.ts";
import { MARKER_ENV, type ProcessTable } from "./process_tree.ts";
import type { SpawnFn } from "./spawner.ts";
import {
  type ClaudeEvent,
  type ContentBlock,
  interruptRequestLine,
  parseClaudeLine,
  permissionResponseLine,
  userMessageLine,
} from "./stream_json.ts";

/** Per-process choices that become CLI flags. */
export interface ClaudeSettings {
  resumeSessionId?: string;
  model?: string;
  appendSystemPrompt?: string;
  permissionMode?: string;
  permissionPromptTool?: "stdio";
  allowedTools?: string[];
  maxBudgetUsd?: number;
  /** Folders besides the working dir Claude may use (--add-dir): a project session's uploads. */
  addDirs?: string[];
}

/** How a process ended. */
export interface ClaudeExit {
  code: number | null;
  signal: string | null;
  /** The last lines Claude wrote to stderr, for the log and error replies. */
  stderrTail: string;
}

/** A decision on a `can_use_tool` permission request. */
export type PermissionDecision =
  | { behavior: "allow"; updatedInput: Record<string, unknown> }
  | { behavior: "deny"; message: string };

/** Claude could not be started at all. */
export class ClaudeStartError extends Error {
  override name = "ClaudeStartError";
  /** not_found: no such file; permission_denied: not executable or not allowed by Deno. */
  readonly reason: "not_found" | "permission_denied" | "failed";
  readonly bin: string;
  /** What went wrong, in the cause's words (a sandbox that could not be set up). */
  readonly detail?: string;
  constructor(bin: string, reason: ClaudeStartError["reason"], cause: unknown) {
    const detail = cause instanceof Error ? cause.message : undefined;
    super(
      `Cannot start Claude "${bin}": ${reason.replace("_", " ")}${
        detail ? ` (${detail})` : ""
      }`,
      { cause },
    );
    this.bin = bin;
    this.reason = reason;
    this.detail = detail;
  }
}

/** A write to a process that has already exited. */
export class ClaudeExitedError extends Error {
  override name = "ClaudeExitedError";
  constructor(pid: number, cause?: unknown) {
    super(`Cannot write to Claude process ${pid}: it has exited`, { cause });
  }
}

/** What a ClaudeProcess is and needs: its command, and the injected capabilities. */
export interface ClaudeProcessOptions {
  bin: string;
  cwd: string;
  /** Claude's whole environment (nothing else is inherited). */
  env: Record<string, string>;
  settings: ClaudeSettings;
  /** Value of MARKER_ENV for this process and the tools it starts. */
  marker: string;
  spawn: SpawnFn;
  clock: Clock;
  /** Finds and stops the tool processes Claude leaves behind. */
  processes: ProcessTable;
  /** Wraps the command line (the sandbox); the default runs it as it is. */
  wrap?: CommandWrapper;
  log?: (message: string) => void;
}

/** A command line: the program and its arguments. */
export interface CommandLine {
  bin: string;
  args: string[];
}

/** Turns Claude's command line into the one to run (e.g. inside a sandbox). */
export type CommandWrapper = (command: CommandLine) => CommandLine;

/** The CLI writes its session file ~50 ms after `result`; a kill before that loses the turn. */
const FLUSH_AFTER_RESULT_MS = 150;
/** How long an idle CLI gets to exit on stdin EOF before SIGTERM. */
const EOF_WAIT_MS = 2_000;
const STDERR_TAIL_CHARS = 2_000;
const STRAGGLER_GRACE_MS = 1_000;

/** The flags of Claude's long-lived print mode: stream-json in and out (out needs --verbose). */
export const STREAM_JSON_ARGS: readonly string[] = [
  "-p",
  "--input-format",
  "stream-json",
  "--output-format",
  "stream-json",
  "--verbose",
];

/**
 * The CLI arguments for a long-lived stream-json session.
 * @param settings per-session choices; empty ones add no flag
 */
export function claudeArgs(settings: ClaudeSettings): string[] {
  // Partial messages carry the text deltas of the live preview.
  const args = [...STREAM_JSON_ARGS, "--include-partial-messages"];
  if (settings.resumeSessionId) args.push("--resume", settings.resumeSessionId);
  if (settings.model) args.push("--model", settings.model);
  if (settings.appendSystemPrompt) {
    args.push("--append-system-prompt", settings.appendSystemPrompt);
  }
  if (settings.permissionMode) {
    args.push("--permission-mode", settings.permissionMode);
  }
  if (settings.permissionPromptTool) {
    args.push("--permission-prompt-tool", settings.permissionPromptTool);
  }
  if (settings.allowedTools?.length) {
    args.push("--allowedTools", ...settings.allowedTools);
  }
  if (settings.maxBudgetUsd !== undefined) {
    args.push("--max-budget-usd", String(settings.maxBudgetUsd));
  }
  for (const dir of settings.addDirs ?? []) args.push("--add-dir", dir);
  return args;
}

/** One running Claude Code CLI process. */
export class ClaudeProcess {
  /** The OS process id. */
  readonly pid: number;
  /** Settles once the process exited and its stderr was read; never rejects. */
  readonly exited: Promise<ClaudeExit>;
  /**
   * Every event Claude prints, in order; closes when its stdout ends (the
   * process exited). One reader for the process's whole life: the session.
   */
  readonly events: ReadableStream<ClaudeEvent>;
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #options: ClaudeProcessOptions;
  #isAlive = true;
  #lastResultAt = -Infinity;
  #stderrTail = "";
  #stopping?: Promise<ClaudeExit>;

  private constructor(child: Deno.ChildProcess, options: ClaudeProcessOptions) {
    this.#child = child;
    this.#options = options;
    this.pid = child.pid;
    this.#writer = child.stdin.getWriter();
    this.events = child.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new TextLineStream())
      .pipeThrough(this.#parser());
    this.exited = this.#watch();
  }

  /**
   * Spawns Claude; it prints nothing until the first message arrives.
   * @throws {ClaudeStartError} when the binary is missing or not executable
   */
  static start(options: ClaudeProcessOptions): ClaudeProcess {
    const command = { bin: options.bin, args: claudeArgs(options.settings) };
    let spawned = command.bin;
    try {
      // Inside the try: a sandbox that cannot be set up is a failed start.
      const { bin, args } = options.wrap?.(command) ?? command;
      spawned = bin;
      const child = options.spawn(bin, {
        args,
        cwd: options.cwd,
        clearEnv: true,
        env: { ...options.env, [MARKER_ENV]: options.marker },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        // Its own session: a Ctrl-C in the bot's terminal must not reach
        // Claude before the bot has stopped it in order.
        detached: true,
      });
      return new ClaudeProcess(child, options);
    } catch (error) {
      if (spawned !== options.bin) {
        // The sandbox's program is missing or refused, not Claude.
        throw new ClaudeStartError(
          options.bin,
          "failed",
          new Error(`the sandbox's program ${spawned} cannot run: ${error}`, {
            cause: error,
          }),
        );
      }
      const reason = error instanceof Deno.errors.NotFound
        ? "not_found"
        : error instanceof Deno.errors.PermissionDenied ||
            error instanceof Deno.errors.NotCapable
        ? "permission_denied"
        : "failed";
      throw new ClaudeStartError(options.bin, reason, error);
    }
  }

  /** False once the process has exited. */
  get isAlive(): boolean {
    return this.#isAlive;
  }

  /** The process's start time as `ps` reports it (undefined once it is gone). */
  startTime(): Promise<string | undefined> {
    return this.#options.processes.startTime(this.pid);
  }

  /** Writes one user message; the answer arrives as events ending in `result`. */
  sendUserMessage(content: string | ContentBlock[]): Promise<void> {
    return this.#writeLine(userMessageLine(content));
  }

  /** Asks the CLI to interrupt the running turn; the process stays alive. */
  interrupt(): Promise<void> {
    return this.#writeLine(interruptRequestLine(crypto.randomUUID()));
  }

  /** Answers a `permission_request` event. */
  answerPermission(
    requestId: string,
    decision: PermissionDecision,
  ): Promise<void> {
    return this.#writeLine(permissionResponseLine(requestId, decision));
  }

  /**
   * Stops the process the clean way: stdin EOF and a bounded wait, then
   * SIGTERM, then SIGKILL once `graceMs` is spent; then stops the tool
   * processes that carry this process's marker (they run in their own
   * sessions and outlive Claude).
   */
  stop(options: { graceMs: number }): Promise<ClaudeExit> {
    this.#stopping ??= this.#stop(options.graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<ClaudeExit> {
    const { clock, processes } = this.#options;
    const deadline = clock.now() + graceMs;
    const sinceResult = clock.now() - this.#lastResultAt;
    if (sinceResult < FLUSH_AFTER_RESULT_MS) {
      await settlesWithin(
        clock,
        this.exited,
        FLUSH_AFTER_RESULT_MS - sinceResult,
      );
    }
    await this.#writer.close().catch(() => {
      // Already closed or broken pipe: the process is exiting anyway.
    });
    const eofWait = Math.min(EOF_WAIT_MS, graceMs / 2);
    if (!await settlesWithin(clock, this.exited, eofWait)) {
      this.#signal("SIGTERM");
      const remainingMs = deadline - clock.now();
      if (!await settlesWithin(clock, this.exited, remainingMs)) {
        this.#options.log?.(
          `Claude process ${this.pid} ignored SIGTERM for ${graceMs} ms: killing it`,
        );
        this.#signal("SIGKILL");
      }
    }
    const exit = await this.exited;
    const stragglers = await processes.findMarked(this.#options.marker);
    if (stragglers.length > 0) {
      await processes.terminate(stragglers, {
        graceMs: Math.min(graceMs, STRAGGLER_GRACE_MS),
      });
    }
    return exit;
  }

  #signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // The process exited between the check and the signal: nothing to do.
    }
  }

  async #writeLine(line: string): Promise<void> {
    if (!this.#isAlive) throw new ClaudeExitedError(this.pid);
    try {
      await this.#writer.write(new TextEncoder().encode(line + "\n"));
    } catch (error) {
      throw new ClaudeExitedError(this.pid, error);
    }
  }

  async #watch(): Promise<ClaudeExit> {
    const [status] = await Promise.all([
      this.#child.status,
      this.#readStderr(),
    ]);
    this.#isAlive = false;
    await this.#writer.close().catch(() => {
      // The pipe is gone with the process; closing only releases our end.
    });
    // Nobody will read a process that never had a turn: release its stdout.
    if (!this.events.locked) {
      await this.events.cancel().catch(() => {
        // Already closed: nothing is held.
      });
    }
    return {
      code: status.signal ? null : status.code,
      signal: status.signal,
      stderrTail: this.#stderrTail.trim(),
    };
  }

  /** Lines → events; a malformed line is logged and skipped, never fatal. */
  #parser(): TransformStream<string, ClaudeEvent> {
    return new TransformStream({
      transform: (line, controller) => {
        if (line.trim() === "") return;
        try {
          for (const event of parseClaudeLine(line)) {
            if (event.type === "result") {
              this.#lastResultAt = this.#options.clock.now();
            }
            controller.enqueue(event);
          }
        } catch (error) {
          if (!(error instanceof SyntaxError)) throw error;
          this.#options.log?.(
            `Skipping malformed stream-json line from Claude ${this.pid}: ${
              line.slice(0, 200)
            }`,
          );
        }
      },
    });
  }

  async #readStderr(): Promise<void> {
    const chunks = this.#child.stderr.pipeThrough(new TextDecoderStream());
    for await (const chunk of chunks) {
      this.#stderrTail = (this.#stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    }
  }
}
