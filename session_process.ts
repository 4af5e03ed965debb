// A session's Claude process: launched with the session's settings and
// marker, read by one event reader for its whole life, and the facts that
// span its turns (cumulative cost, an unconfirmed --resume).
import type { Clock } from "./clock.ts";
import type { ClaudeHandle, LaunchFn } from "./launcher.ts";
import { type ClaudeDefaults, claudeSettings } from "./session_settings.ts";
import { join } from "node:path";
import { type SessionRecord, type SessionStore, uploadDirOf } from "./store.ts";
import type { ClaudeEvent } from "./stream_json.ts";
import { ClaudeExitedError } from "./subprocess.ts";
import { TurnAttempt, turnContent, type TurnInput } from "./turn.ts";

/** What launching needs beyond the session's record. */
export interface SessionProcessOptions {
  launch: LaunchFn;
  /** Creates the working directory before Claude starts in it. */
  store: SessionStore;
  claudeDefaults: ClaudeDefaults;
  /** The MARKER_ENV value: instance and session. */
  marker: string;
  clock: Clock;
  /** Silence in a running turn after which the chat hears "stalled". */
  stallMs: number;
}

/** One live Claude process of a session. */
export class SessionProcess {
  /** The process itself. */
  readonly handle: ClaudeHandle;
  #options: SessionProcessOptions;
  #events: ReadableStreamDefaultReader<ClaudeEvent>;
  /** The process's cumulative cost so far: results report totals. */
  #costBaseUsd = 0;
  /** Started with --resume and not yet answered: an error result means a stale id. */
  #isResumeUnconfirmed: boolean;

  private constructor(
    handle: ClaudeHandle,
    options: SessionProcessOptions,
    isResume: boolean,
  ) {
    this.handle = handle;
    this.#options = options;
    this.#events = handle.events.getReader();
    this.#isResumeUnconfirmed = isResume;
  }

  /**
   * Starts Claude for a session, resuming its conversation if it has one,
   * and records its pid and start time (the reaper of a later run trusts the
   * pid only with that start time).
   * @throws {ClaudeStartError} and the store's or `ps`'s errors; nothing is left running
   */
  static async start(
    record: SessionRecord,
    options: SessionProcessOptions,
  ): Promise<SessionProcess> {
    await options.store.ensureWorkDir(record);
    const handle = options.launch({
      cwd: record.workDir,
      uploadDir: uploadDirOf(record),
      // A worktree's commits land in its repository's .git.
      writable: record.branch && record.repoPath
        ? [join(record.repoPath, ".git")]
        : [],
      settings: claudeSettings(record, options.claudeDefaults),
      marker: options.marker,
    });
    const isResume = record.claudeSessionId !== undefined;
    const process = new SessionProcess(handle, options, isResume);
    try {
      record.pidStartTime = await handle.startTime();
    } catch (error) {
      await process.stop(0);
      throw error;
    }
    record.pid = handle.pid;
    record.marker = options.marker;
    return process;
  }

  /** A new turn on this process, reading from where the last one stopped. */
  newTurn(): TurnAttempt {
    return new TurnAttempt({
      events: this.#events,
      exited: this.handle.exited,
      clock: this.#options.clock,
      stallMs: this.#options.stallMs,
      costBaseUsd: this.#costBaseUsd,
      isResumeUnconfirmed: this.#isResumeUnconfirmed,
    });
  }

  /** Hands Claude the message; a dead process is left for the turn to read as a crash. */
  async deliver(input: TurnInput): Promise<void> {
    try {
      await this.handle.sendUserMessage(turnContent(input));
    } catch (error) {
      if (!(error instanceof ClaudeExitedError)) throw error;
    }
  }

  /** Claude printed `init`: a --resume worked. */
  confirmResume(): void {
    this.#isResumeUnconfirmed = false;
  }

  /** A turn ended: its total is the base of the next turn's cost. */
  turnEnded(turn: TurnAttempt): void {
    this.#costBaseUsd = turn.totalCostUsd;
  }

  /** Interrupts the running turn; a dead process needs none. */
  async interrupt(): Promise<void> {
    try {
      await this.handle.interrupt();
    } catch (error) {
      // Already exited: its exit ends the turn as interrupted.
      if (!(error instanceof ClaudeExitedError)) throw error;
    }
  }

  /** Stops the process the clean way (see ClaudeProcess.stop). */
  async stop(graceMs: number): Promise<void> {
    await this.handle.stop({ graceMs });
  }
}
