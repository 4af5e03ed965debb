// One session's state machine: its process, turn queue, idle timer and lock.
// Every transition (turn start and end, idle suspend, process exit,
// interrupt, permission answer, settings change, archive, shutdown) runs in
// one method under the session's own lock.
import type { Clock } from "./clock.ts";
import { IdleTimer } from "./idle_timer.ts";
import type { LaunchFn } from "./launcher.ts";
import { Lock } from "./lock.ts";
import { SessionProcess } from "./session_process.ts";
import type { ClaudeDefaults, SettingChange } from "./session_settings.ts";
import type { SpendingPolicy } from "./spending.ts";
import {
  type SessionRecord,
  type SessionStore,
  StoreWriteError,
} from "./store.ts";
import { SessionBusyError } from "./session_errors.ts";
import { ClaudeStartError, type PermissionDecision } from "./subprocess.ts";
import type {
  AttemptOutcome,
  TurnAttempt,
  TurnInput,
  TurnOutcome,
  TurnUpdates,
} from "./turn.ts";
import { type Ticket, TurnQueue } from "./turn_queue.ts";
import { type BegunTurn, runTurn, type TurnSteps } from "./turn_run.ts";

/** A session's lifecycle; the README uses the same names. */
export type SessionState =
  | { kind: "suspended" }
  | { kind: "starting" }
  | { kind: "live"; process: SessionProcess }
  | { kind: "busy"; process: SessionProcess; turn: TurnAttempt }
  | { kind: "archived" };

/** What every session shares: storage, time, processes, policies. */
export interface SessionDeps {
  store: SessionStore;
  clock: Clock;
  launch: LaunchFn;
  spending: SpendingPolicy;
  claudeDefaults: ClaudeDefaults;
  /** Prefix of every marker: this bot instance. */
  instanceId: string;
  /** SIGTERM → SIGKILL grace when stopping a process. */
  graceMs: number;
  /** How long an interrupted turn may take to end before its process is killed. */
  interruptGraceMs: number;
  /** Silence in a running turn after which the chat hears "stalled". */
  stallMs: number;
  log: (message: string) => void;
}

/** One named session of a chat. */
export class Session {
  /** "chatKey/name": unique among live sessions, and the marker's suffix. */
  readonly id: string;
  /** The persisted metadata; changed only under the lock. */
  readonly record: SessionRecord;
  #deps: SessionDeps;
  #state: SessionState = { kind: "suspended" };
  #lock = new Lock();
  #timer: IdleTimer;
  #queue = new TurnQueue();
  /** A setting that is a CLI flag changed: restart the process at the next turn. */
  #needsRestart = false;
  #cancelWatchdog?: () => void;
  /** The turn path's transitions, each under the lock. */
  #steps: TurnSteps = {
    begin: (ticket) => this.#lock.run(() => this.#beginTurn(ticket)),
    end: (turn, outcome, isDelivered) =>
      this.#lock.run(() => this.#endTurn(turn, outcome, isDelivered)),
    noteConversation: (id) => this.#lock.run(() => this.#noteConversation(id)),
    forgetConversation: () => this.#lock.run(() => this.#forgetConversation()),
  };

  constructor(record: SessionRecord, deps: SessionDeps) {
    this.record = record;
    this.#deps = deps;
    this.id = `${record.chatKey}/${record.name}`;
    this.#timer = new IdleTimer({
      clock: deps.clock,
      timeoutMs: record.idleTimeoutMs,
      onIdle: () => this.#inBackground(() => this.#suspendIfIdle()),
    });
  }

  /** The lifecycle state's name. */
  get state(): SessionState["kind"] {
    return this.#state.kind;
  }

  /** Messages waiting behind the running turn. */
  get queued(): number {
    return this.#queue.waiting;
  }

  /** Queues one turn (in call order); it runs as its updates are pulled, so iterate them to the end. */
  send(input: TurnInput): TurnUpdates {
    return runTurn(this.#steps, this.#queue.take(), input);
  }

  /** Interrupts the running turn (stopping a process that ignores it) and drops the waiting ones. */
  interrupt(): Promise<{ wasBusy: boolean; dropped: number }> {
    return this.#lock.run(async () => {
      const dropped = this.#queue.cancelWaiting();
      const state = this.#state;
      if (state.kind !== "busy") return { wasBusy: false, dropped };
      state.turn.isInterrupted = true;
      await state.process.interrupt();
      this.#cancelWatchdog = this.#deps.clock.after(
        this.#deps.interruptGraceMs,
        () =>
          this.#inBackground(async () => {
            if (this.#state !== state) return;
            this.#deps.log(`Session ${this.id} ignored /stop: stopping it`);
            await this.#stopProcess();
          }),
      );
      return { wasBusy: true, dropped };
    });
  }

  /** Answers a permission request of the running turn; false when no turn runs. */
  answerPermission(
    requestId: string,
    decision: PermissionDecision,
  ): Promise<boolean> {
    return this.#lock.run(async () => {
      if (this.#state.kind !== "busy") return false;
      await this.#state.process.handle.answerPermission(requestId, decision);
      return true;
    });
  }

  /** Changes and saves a setting; a CLI flag replaces a running process at the next turn. @throws {StoreWriteError} */
  configure(change: SettingChange): Promise<void> {
    return this.#lock.run(async () => {
      change.apply(this.record);
      this.#timer.setTimeoutMs(this.record.idleTimeoutMs);
      if (change.restartsProcess && this.#process()) this.#needsRestart = true;
      await this.#deps.store.saveSession(this.record);
    });
  }

  /** Stops the process and moves the session to the archive; on failure it stays usable. @throws {StoreWriteError} */
  archive(): Promise<void> {
    return this.#lock.run(async () => {
      await this.#halt();
      this.record.archivedAt = this.#deps.clock.now();
      try {
        await this.#deps.store.archiveSession(this.record);
      } catch (error) {
        this.record.archivedAt = undefined;
        throw error;
      }
      this.#state = { kind: "archived" };
    });
  }

  /** Stops the process the clean way (a terminal may continue); the next message resumes. @throws {SessionBusyError} */
  suspend(): Promise<void> {
    return this.#lock.run(async () => {
      if (this.#state.kind === "busy") {
        throw new SessionBusyError(this.record.name);
      }
      this.#timer.stop();
      await this.#stopProcess();
    });
  }

  /** Stops everything for the bot's shutdown; the session stays as it is on disk. */
  shutdown(): Promise<void> {
    return this.#lock.run(() => this.#halt());
  }

  /** Under the lock: resume or start the process and mark the session busy. */
  async #beginTurn(
    ticket: Ticket,
  ): Promise<BegunTurn | TurnOutcome> {
    if (ticket.isCancelled || this.#state.kind === "archived") {
      return { kind: "cancelled" };
    }
    this.#timer.stop();
    const isRestart = this.#needsRestart;
    if (isRestart) await this.#stopProcess();
    let idleMs: number | undefined;
    if (this.#state.kind === "suspended") {
      // A restart for new settings resumes silently: the user asked for it.
      if (this.record.claudeSessionId && !isRestart) {
        idleMs = this.#deps.clock.now() - this.record.lastActiveAt;
      }
      try {
        await this.#spawn();
      } catch (error) {
        if (!(error instanceof ClaudeStartError)) throw error;
        return { kind: "start_failed", error };
      }
    }
    const process = this.#process()!;
    this.#needsRestart = false;
    const turn = process.newTurn();
    this.#state = { kind: "busy", process, turn };
    ticket.start();
    this.record.lastActiveAt = this.#deps.clock.now();
    // Written when the process (and its pid) is new; a warm turn skips the
    // fsync on its hot path: #endTurn saves the record anyway.
    if (this.record.state !== "live") {
      this.record.state = "live";
      await this.#saveQuietly();
    }
    return { turn, process, idleMs };
  }

  /** Under the lock: busy → live (or suspended, when the process died). */
  #endTurn(
    turn: TurnAttempt,
    outcome: AttemptOutcome,
    isDelivered: boolean,
  ): Promise<void> {
    this.#cancelWatchdog?.();
    this.#cancelWatchdog = undefined;
    const state = this.#state;
    if (state.kind !== "busy" || state.turn !== turn) return Promise.resolve();
    state.process.turnEnded(turn);
    this.record.lastActiveAt = this.#deps.clock.now();
    if (outcome.kind === "completed") {
      const { costUsd, event: { usage, contextWindow } } = outcome;
      this.#deps.spending.record(this.record, {
        costUsd,
        usage,
        contextWindow,
      });
    }
    if (!state.process.handle.isAlive) return this.#afterDeath(state.process);
    this.#state = { kind: "live", process: state.process };
    // A consumer that gave up mid-turn leaves Claude working: stop it, so its
    // output cannot run into the next turn.
    if (isDelivered && outcome.kind === "cancelled") return this.#stopProcess();
    this.#timer.start();
    return this.#saveQuietly();
  }

  /** Under the lock: Claude named its conversation (every turn starts so). */
  #noteConversation(sessionId: string): Promise<void> {
    this.#process()?.confirmResume();
    if (this.record.claudeSessionId === sessionId) return Promise.resolve();
    this.record.claudeSessionId = sessionId;
    // At once: after a kill -9 the next run must resume this id.
    return this.#saveQuietly();
  }

  /** Under the lock: the stored conversation could not be resumed; start afresh. */
  async #forgetConversation(): Promise<void> {
    await this.#stopProcess();
    this.record.claudeSessionId = undefined;
    await this.#saveQuietly();
  }

  async #spawn(): Promise<void> {
    const deps = this.#deps;
    this.#state = { kind: "starting" };
    let process: SessionProcess;
    try {
      process = await SessionProcess.start(this.record, {
        ...deps,
        marker: `${deps.instanceId}:${this.id}`,
      });
    } catch (error) {
      this.#state = { kind: "suspended" };
      throw error;
    }
    this.#state = { kind: "live", process };
    process.handle.exited.then(() =>
      this.#inBackground(() => this.#onExit(process))
    );
  }

  /** Runs a transition that nobody awaits (a timer, an exit); a failure is logged. */
  #inBackground(transition: () => Promise<void>): void {
    this.#lock.run(transition).catch((error) =>
      this.#deps.log(`Session ${this.id}: ${error?.stack ?? error}`)
    );
  }

  /** Under the lock: a process ended; only an idle one's exit changes the state here. */
  #onExit(process: SessionProcess): Promise<void> {
    const state = this.#state;
    if (state.kind !== "live" || state.process !== process) {
      return Promise.resolve();
    }
    this.#timer.stop();
    return this.#becomeSuspended();
  }

  /** Under the lock: the idle timer fired. */
  async #suspendIfIdle(): Promise<void> {
    const isIdle = this.#state.kind === "live" && !this.#timer.isRunning;
    if (!isIdle || this.queued > 0) return;
    this.#deps.log(`Suspending idle session ${this.id}`);
    await this.#stopProcess();
  }

  /** Under the lock: stops the timer, drops the queue, stops the process. */
  async #halt(): Promise<void> {
    this.#timer.stop();
    this.#queue.cancelWaiting();
    await this.#stopProcess();
  }

  /** Under the lock: stops the process (interrupting a running turn first). */
  async #stopProcess(): Promise<void> {
    const state = this.#state;
    if (state.kind === "busy") {
      state.turn.isInterrupted = true;
      await state.process.interrupt();
    }
    const process = this.#process();
    if (!process) return;
    await process.stop(this.#deps.graceMs);
    await this.#becomeSuspended();
  }

  /** Under the lock: Claude died in a turn; suspended at once, then its tools stopped. */
  async #afterDeath(process: SessionProcess): Promise<void> {
    await this.#becomeSuspended();
    await process.stop(this.#deps.graceMs);
  }

  #becomeSuspended(): Promise<void> {
    this.#state = { kind: "suspended" };
    this.record.state = "suspended";
    this.record.suspendedAt = this.#deps.clock.now();
    this.record.pid = undefined;
    this.record.pidStartTime = undefined;
    return this.#saveQuietly();
  }

  #process(): SessionProcess | undefined {
    const state = this.#state;
    return state.kind === "live" || state.kind === "busy"
      ? state.process
      : undefined;
  }

  /** Saves where a failure must not break the turn: it is logged, the old record stays. */
  async #saveQuietly(): Promise<void> {
    try {
      await this.#deps.store.saveSession(this.record);
    } catch (error) {
      if (!(error instanceof StoreWriteError)) throw error;
      this.#deps.log(error.message);
    }
  }
}
