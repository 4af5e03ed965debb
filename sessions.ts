// Session registry and lifecycle: named sessions per chat, one Claude process
// per live session, serialised turns, idle suspend and transparent resume.
import { join } from "node:path";
import type { Clock } from "./clock.ts";
import { IdleTimer } from "./idle_timer.ts";
import { KeyedLock } from "./lock.ts";
import {
  BudgetExceededError,
  SessionExistsError,
  SessionNameError,
  ShuttingDownError,
  UnknownSessionError,
} from "./session_errors.ts";
import {
  claudeSettings,
  isIdleTimeoutMinutes,
  isSessionName,
  TIMEOUT_MINUTES,
} from "./session_settings.ts";
import {
  type SessionRecord,
  type SessionStore,
  StoreWriteError,
} from "./store.ts";
import type { ClaudeEvent } from "./stream_json.ts";
import {
  type ClaudeExit,
  ClaudeExitedError,
  type ClaudeProcess,
  type ClaudeProcessOptions,
  ClaudeStartError,
  type PermissionDecision,
} from "./subprocess.ts";
import {
  ActiveTurn,
  type AttemptOutcome,
  type OutputMode,
  turnContent,
  type TurnOutcome,
  type TurnRequest,
} from "./turn.ts";
import { addDailyCost, costSince, nextDayStart } from "./usage.ts";

/** True process state of a session, as the user sees it. */
export type SessionState = "running" | "busy" | "suspended";

/** Read-only snapshot of a session for commands. */
export interface SessionView {
  name: string;
  chatKey: string;
  isActive: boolean;
  state: SessionState;
  personaName?: string;
  systemPrompt?: string;
  model?: string;
  outputMode: OutputMode;
  idleTimeoutMs: number;
  createdAt: number;
  lastActiveAt: number;
  turns: number;
  totalCostUsd: number;
  lastTurnCostUsd: number;
  contextUsed?: number;
  /** The effective permission mode ("ask": approvals on the phone). */
  permissionMode: string;
  alwaysAllowedTools: readonly string[];
  costByDay: Readonly<Record<string, number>>;
  maxBudgetUsd?: number;
  workDir: string;
  /** Messages waiting behind the running turn. */
  queued: number;
}

/** The part of a ClaudeProcess sessions use; tests pass an in-memory one. */
export type ClaudeHandle = Pick<
  ClaudeProcess,
  | "pid"
  | "exited"
  | "isAlive"
  | "startTime"
  | "sendUserMessage"
  | "interrupt"
  | "answerPermission"
  | "stop"
>;

/** Starts a Claude process; `ClaudeProcess.start` in production. */
export type StartProcess = (options: ClaudeProcessOptions) => ClaudeHandle;

/** Dependencies and defaults of the session manager. */
export interface SessionManagerOptions {
  store: SessionStore;
  clock: Clock;
  startProcess: StartProcess;
  claudeBin: string;
  /** Environment every Claude process gets (the marker is added per session). */
  claudeEnv: Record<string, string>;
  /** Prefix of every marker: processes of this bot instance. */
  instanceId: string;
  defaultIdleTimeoutMs: number;
  defaultModel?: string;
  permissionMode: string;
  allowedTools: string[];
  /** SIGTERM → SIGKILL grace when stopping a process. */
  graceMs: number;
  /** How long an interrupted turn may take to end before its process is killed. */
  interruptGraceMs?: number;
  /** Silence in a running turn after which the sink hears "stalled". */
  stallMs?: number;
  /** Spending cap of all sessions per UTC day; undefined: none. */
  dailyBudgetUsd?: number;
  log?: (message: string) => void;
}

interface QueuedTurn {
  isCancelled: boolean;
  /** It reached Claude: it is the running turn, not a waiting one. */
  isStarted: boolean;
}

interface Session {
  id: string;
  record: SessionRecord;
  timer: IdleTimer;
  process?: ClaudeHandle;
  /** The process was started with --resume and has not answered yet. */
  isResumeUnconfirmed: boolean;
  /** total_cost_usd is cumulative per process: the base of the next difference. */
  processCostUsd: number;
  /** A setting that is a CLI flag changed: restart the process at the next turn. */
  needsRestart: boolean;
  turn?: ActiveTurn;
  queue: QueuedTurn[];
  chain: Promise<unknown>;
  isArchived: boolean;
}

const DEFAULT_SESSION = "default";
const DEFAULT_INTERRUPT_GRACE_MS = 5_000;
const DEFAULT_STALL_MS = 10 * 60_000;

/** Owns every session: create/switch/archive, turns, suspend and resume. */
export class SessionManager {
  #options: SessionManagerOptions;
  #sessions = new Map<string, Session>();
  #active = new Map<string, string>();
  #lock = new KeyedLock<string>();
  #isShuttingDown = false;

  constructor(options: SessionManagerOptions) {
    this.#options = options;
  }

  /**
   * Loads every session from disk. Sessions that were live when the last run
   * died become suspended (their processes are the reaper's); their pids are
   * returned for it.
   */
  async load(): Promise<
    { recorded: { pid: number; startTime: string }[]; quarantined: string[] }
  > {
    const { sessions, chats, quarantined } = await this.#options.store.load();
    const recorded: { pid: number; startTime: string }[] = [];
    for (const record of sessions) {
      if (record.pid !== undefined && record.pidStartTime !== undefined) {
        recorded.push({ pid: record.pid, startTime: record.pidStartTime });
      }
      const wasLive = record.state === "live";
      const session = this.#adopt({
        ...record,
        state: "suspended",
        pid: undefined,
        pidStartTime: undefined,
        suspendedAt: wasLive ? this.#options.clock.now() : record.suspendedAt,
      });
      if (wasLive) await this.#persist(session);
    }
    for (const chat of chats) {
      if (
        chat.activeSession &&
        this.#sessions.has(sessionId(chat.chatKey, chat.activeSession))
      ) {
        this.#active.set(chat.chatKey, chat.activeSession);
      }
    }
    return { recorded, quarantined };
  }

  /** Every session of a chat, by name. */
  list(chatKey: string): SessionView[] {
    return [...this.#sessions.values()]
      .filter((s) => s.record.chatKey === chatKey)
      .sort((a, b) => a.record.name.localeCompare(b.record.name))
      .map((s) => this.#view(s));
  }

  /** Every session of every chat (for usage totals). */
  all(): SessionView[] {
    return [...this.#sessions.values()].map((s) => this.#view(s));
  }

  /** The active session of a chat, if any. */
  active(chatKey: string): SessionView | undefined {
    const session = this.#activeSession(chatKey);
    return session && this.#view(session);
  }

  /** Number of archived sessions of a chat. */
  countArchived(chatKey: string): Promise<number> {
    return this.#options.store.countArchived(chatKey);
  }

  /**
   * Creates a session and makes it active.
   * @throws {SessionNameError} for a name isSessionName refuses
   * @throws {SessionExistsError} when the chat already has one of that name
   */
  create(
    chatKey: string,
    name: string,
    persona?: { name?: string; prompt: string },
  ): Promise<SessionView> {
    if (!isSessionName(name)) throw new SessionNameError(name);
    return this.#lock.run(`chat:${chatKey}`, async () => {
      if (this.#sessions.has(sessionId(chatKey, name))) {
        throw new SessionExistsError(name);
      }
      const session = await this.#createSession(chatKey, name, persona);
      await this.#setActive(chatKey, name);
      return this.#view(session);
    });
  }

  /**
   * Makes another session active; the previous one keeps running on its own timer.
   * @throws {UnknownSessionError}
   */
  switch(chatKey: string, name: string): Promise<SessionView> {
    return this.#lock.run(`chat:${chatKey}`, async () => {
      const session = this.#require(chatKey, name);
      await this.#setActive(chatKey, name);
      return this.#view(session);
    });
  }

  /**
   * The active session, created as `default` when the chat has none: where
   * a plain message or a file goes.
   */
  ensureActive(
    chatKey: string,
    options: { newName?: string } = {},
  ): Promise<SessionView> {
    const name = options.newName && isSessionName(options.newName)
      ? options.newName
      : DEFAULT_SESSION;
    return this.#lock.run(`chat:${chatKey}`, async () => {
      const session = this.#activeSession(chatKey) ??
        this.#sessions.get(sessionId(chatKey, name)) ??
        await this.#createSession(chatKey, name);
      await this.#setActive(chatKey, session.record.name);
      return this.#view(session);
    });
  }

  /**
   * Archives a session (the active one by default): stops its process at
   * once, drops its queued messages, frees its name.
   * @throws {UnknownSessionError}
   */
  archive(chatKey: string, name?: string): Promise<SessionView> {
    return this.#lock.run(`chat:${chatKey}`, async () => {
      const session = name === undefined
        ? this.#activeSession(chatKey)
        : this.#require(chatKey, name);
      if (!session) throw new UnknownSessionError(name ?? DEFAULT_SESSION);
      const view = this.#view(session);
      await this.#lock.run(session.id, async () => {
        session.isArchived = true;
        try {
          await this.#halt(session);
          session.record.archivedAt = this.#options.clock.now();
          await this.#options.store.archiveSession(session.record);
        } catch (error) {
          // Not archived after all: the session must keep answering.
          session.isArchived = false;
          session.record.archivedAt = undefined;
          throw error;
        }
        this.#sessions.delete(session.id);
      });
      if (this.#active.get(chatKey) === session.record.name) {
        this.#active.delete(chatKey);
        await this.#options.store.saveChat({ chatKey });
      }
      return view;
    });
  }

  /**
   * Sets the active session's idle timeout; a running countdown adopts it at once.
   * @throws {RangeError} outside TIMEOUT_MINUTES or not a whole number
   */
  setIdleTimeout(chatKey: string, minutes: number): Promise<SessionView> {
    if (!isIdleTimeoutMinutes(minutes)) {
      throw new RangeError(
        `Cannot set idle timeout to "${minutes}" minutes: must be a whole number from ${TIMEOUT_MINUTES.min} to ${TIMEOUT_MINUTES.max}`,
      );
    }
    return this.#changeActive(chatKey, (session) => {
      session.record.idleTimeoutMs = minutes * 60_000;
      session.timer.setTimeoutMs(session.record.idleTimeoutMs);
    });
  }

  /** Sets the active session's output mode. */
  setOutputMode(chatKey: string, mode: OutputMode): Promise<SessionView> {
    return this.#changeActive(chatKey, (session) => {
      session.record.outputMode = mode;
    });
  }

  /** Sets the active session's model (undefined: the CLI default); applies at the next turn. */
  setModel(chatKey: string, model: string | undefined): Promise<SessionView> {
    return this.#changeActiveFlags(chatKey, (record) => {
      record.model = model;
    });
  }

  /** Sets the active session's persona; applies at the next turn, history kept. */
  setPersona(
    chatKey: string,
    persona: { name?: string; prompt: string } | undefined,
  ): Promise<SessionView> {
    return this.#changeActiveFlags(chatKey, (record) => {
      record.personaName = persona?.name;
      record.systemPrompt = persona?.prompt;
    });
  }

  /** Sets the active session's permission mode; applies at the next turn. */
  setPermissionMode(chatKey: string, mode: string): Promise<SessionView> {
    return this.#changeActiveFlags(chatKey, (record) => {
      record.permissionMode = mode;
    });
  }

  /** Sets the active session's --max-budget-usd (undefined: none); applies at the next turn. */
  setMaxBudget(
    chatKey: string,
    usd: number | undefined,
  ): Promise<SessionView> {
    return this.#changeActiveFlags(chatKey, (record) => {
      record.maxBudgetUsd = usd;
    });
  }

  /** Remembers "Always allow <tool>" for a session; false when it is gone. */
  async alwaysAllow(
    chatKey: string,
    name: string,
    tool: string,
  ): Promise<boolean> {
    const session = this.#sessions.get(sessionId(chatKey, name));
    if (!session) return false;
    await this.#lock.run(session.id, async () => {
      if (!session.record.alwaysAllowedTools.includes(tool)) {
        session.record.alwaysAllowedTools.push(tool);
        await this.#persist(session);
      }
    });
    return true;
  }

  /**
   * Queues one turn on a session (the one that was active when the message
   * arrived: see ensureActive). Turns of a session run one after another in
   * call order; the promise settles when this turn is done, after `sink`
   * got "done".
   * @throws {ShuttingDownError}
   * @throws {BudgetExceededError} when DAILY_BUDGET_USD is spent for today
   * @throws {UnknownSessionError} when the session was archived meanwhile
   */
  send(chatKey: string, request: TurnRequest): Promise<TurnOutcome> {
    if (this.#isShuttingDown) return Promise.reject(new ShuttingDownError());
    const budgetUsd = this.#options.dailyBudgetUsd;
    if (budgetUsd !== undefined) {
      const spentUsd = this.#spentToday();
      if (spentUsd >= budgetUsd) {
        const resetsAtMs = nextDayStart(this.#options.clock.now());
        return Promise.reject(
          new BudgetExceededError({ spentUsd, budgetUsd, resetsAtMs }),
        );
      }
    }
    const session = this.#sessions.get(sessionId(chatKey, request.session));
    if (!session) {
      return Promise.reject(new UnknownSessionError(request.session));
    }
    // Queued synchronously, so call order is turn order.
    const queued: QueuedTurn = { isCancelled: false, isStarted: false };
    session.queue.push(queued);
    const run = session.chain.then(() =>
      this.#runTurn(session, queued, request)
    );
    session.chain = run.catch(() => {
      // A failed turn already reported itself; the next one must still run.
    });
    return run;
  }

  /**
   * Interrupts the active session's running turn and drops its queued
   * messages; the process stays alive. A process that ignores the interrupt
   * is killed after interruptGraceMs and resumes on the next message.
   */
  async interrupt(
    chatKey: string,
  ): Promise<{ wasBusy: boolean; dropped: number }> {
    const session = this.#activeSession(chatKey);
    if (!session) return { wasBusy: false, dropped: 0 };
    const waiting = session.queue.filter((q) => !q.isCancelled && !q.isStarted);
    for (const queued of waiting) queued.isCancelled = true;
    const turn = session.turn;
    const process = session.process;
    if (!turn || !process) return { wasBusy: false, dropped: waiting.length };
    turn.isInterrupted = true;
    try {
      await process.interrupt();
    } catch (error) {
      // Already exited: its exit ends the turn as interrupted.
      if (!(error instanceof ClaudeExitedError)) throw error;
    }
    const cancelWatchdog = this.#options.clock.after(
      this.#options.interruptGraceMs ?? DEFAULT_INTERRUPT_GRACE_MS,
      () => {
        if (session.turn !== turn) return;
        this.#options.log?.(
          `Session ${session.id} ignored the interrupt: stopping its process`,
        );
        this.#lock.run(session.id, () => this.#stopProcess(session))
          .catch((error) => this.#options.log?.(String(error)));
      },
    );
    turn.done.finally(cancelWatchdog);
    return { wasBusy: true, dropped: waiting.length };
  }

  /** Answers a pending permission request of a session's running turn. */
  async answerPermission(
    chatKey: string,
    name: string,
    requestId: string,
    decision: PermissionDecision,
  ): Promise<boolean> {
    const process = this.#sessions.get(sessionId(chatKey, name))?.process;
    if (!process?.isAlive) return false;
    await process.answerPermission(requestId, decision);
    return true;
  }

  /** True once shutdown() began: turns cut short now are the restart's to finish. */
  get isShuttingDown(): boolean {
    return this.#isShuttingDown;
  }

  /**
   * Stops taking turns and stops every process in parallel (each: EOF,
   * SIGTERM, SIGKILL after the grace), then persists every session.
   */
  async shutdown(): Promise<void> {
    this.#isShuttingDown = true;
    // Under each session's lock, so a turn that is starting right now is
    // either stopped after it started or never starts (no Claude outlives us).
    const results = await Promise.allSettled(
      [...this.#sessions.values()].map((session) =>
        this.#lock.run(session.id, () => this.#halt(session))
      ),
    );
    for (const result of results) {
      if (result.status === "rejected") {
        this.#options.log?.(`Stopping a session failed: ${result.reason}`);
      }
    }
    await this.#options.store.flush();
  }

  /** What all sessions (archived ones excepted) spent today (UTC). */
  #spentToday(): number {
    const nowMs = this.#options.clock.now();
    return [...this.#sessions.values()].reduce(
      (sum, s) => sum + costSince(s.record.costByDay, { nowMs, days: 1 }),
      0,
    );
  }

  async #runTurn(
    session: Session,
    queued: QueuedTurn,
    request: TurnRequest,
  ): Promise<TurnOutcome> {
    const { sink } = request;
    let outcome: AttemptOutcome = { kind: "cancelled" };
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const started = await this.#lock.run(
          session.id,
          () => this.#startTurn(session, queued, request),
        );
        if (!("done" in started)) {
          outcome = started;
          break;
        }
        outcome = await started.done;
        if (outcome.kind !== "stale_resume") break;
        await this.#lock.run(session.id, async () => {
          await this.#stopProcess(session);
          session.record.claudeSessionId = undefined;
          await this.#persist(session);
        });
        sink.update({ type: "history_lost" });
      }
    } finally {
      session.queue.splice(session.queue.indexOf(queued), 1);
    }
    const final: TurnOutcome = outcome.kind === "stale_resume"
      ? { kind: "cancelled" }
      : outcome;
    // The chat hears "done" first: the answer need not wait for the record's
    // write, and once the session shows idle its reply already knows.
    sink.update({ type: "done", outcome: final });
    if (final.kind !== "cancelled") {
      await this.#lock.run(session.id, () => this.#finishTurn(session, final));
    }
    return final;
  }

  /** Under the session lock: resume if needed, then hand Claude the message. */
  async #startTurn(
    session: Session,
    queued: QueuedTurn,
    request: TurnRequest,
  ): Promise<ActiveTurn | TurnOutcome> {
    const { sink } = request;
    if (queued.isCancelled || session.isArchived || this.#isShuttingDown) {
      return { kind: "cancelled" };
    }
    session.timer.stop();
    if (session.process && session.needsRestart) {
      await this.#stopProcess(session);
    }
    let process = session.process;
    if (!process?.isAlive) {
      const { record } = session;
      if (record.claudeSessionId && !session.needsRestart) {
        sink.update({
          type: "resuming",
          idleMs: this.#options.clock.now() - record.lastActiveAt,
        });
      }
      try {
        process = await this.#spawn(session);
      } catch (error) {
        if (error instanceof ClaudeStartError) {
          return { kind: "start_failed", error };
        }
        // Spawned, then failed (e.g. `ps`): keep its idle countdown.
        if (session.process?.isAlive) session.timer.start();
        throw error;
      }
    }
    session.needsRestart = false;
    try {
      await request.beforeStart?.();
    } catch (error) {
      // The message never reached Claude; the live process still needs its
      // idle countdown, or it would run until the next message.
      session.timer.start();
      throw error;
    }
    queued.isStarted = true;
    // The process may already have died (it is then no longer
    // session.process): writing to it fails and the turn ends as a crash.
    const turn = new ActiveTurn({
      sink,
      clock: this.#options.clock,
      stallMs: this.#options.stallMs ?? DEFAULT_STALL_MS,
    });
    turn.restartStallWatch();
    session.turn = turn;
    session.record.lastActiveAt = this.#options.clock.now();
    // Written when the process (and its pid) is new; a warm turn skips the
    // fsync on its hot path: #finishTurn saves the record anyway.
    if (session.record.state !== "live") {
      session.record.state = "live";
      await this.#persistQuietly(session);
    }
    try {
      await process.sendUserMessage(turnContent(request.input));
    } catch (error) {
      if (!(error instanceof ClaudeExitedError)) throw error;
      turn.finish({ kind: "crashed", exit: await process.exited });
    }
    return turn;
  }

  async #finishTurn(session: Session, outcome: TurnOutcome): Promise<void> {
    session.turn?.stopStallWatch();
    session.turn = undefined;
    if (session.isArchived) return;
    const { record } = session;
    record.lastActiveAt = this.#options.clock.now();
    if (outcome.kind === "completed") {
      record.turns++;
      record.lastTurnCostUsd = outcome.costUsd;
      record.totalCostUsd += outcome.costUsd;
      record.costByDay = addDailyCost(record.costByDay, {
        nowMs: this.#options.clock.now(),
        usd: outcome.costUsd,
      });
      const { usage, contextWindow } = outcome.event;
      if (usage && contextWindow) {
        const used = usage.inputTokens + usage.cacheReadInputTokens +
          usage.cacheCreationInputTokens + usage.outputTokens;
        record.contextUsed = Math.min(1, used / contextWindow);
      }
    }
    if (session.process?.isAlive) session.timer.start();
    await this.#persistQuietly(session);
  }

  async #spawn(session: Session): Promise<ClaudeHandle> {
    const { record } = session;
    const options = this.#options;
    await Deno.mkdir(record.workDir, { recursive: true, mode: 0o700 });
    const process = options.startProcess({
      bin: options.claudeBin,
      cwd: record.workDir,
      env: options.claudeEnv,
      settings: claudeSettings(record, {
        permissionMode: options.permissionMode,
        allowedTools: options.allowedTools,
      }),
      marker: `${options.instanceId}:${session.id}`,
      onEvent: (event) => this.#onEvent(session, process, event),
      log: options.log,
    });
    session.process = process;
    session.isResumeUnconfirmed = record.claudeSessionId !== undefined;
    session.processCostUsd = 0;
    record.pid = process.pid;
    process.exited.then((exit) => this.#onExit(session, process, exit));
    // The reaper of a later run trusts this pid only with this start time.
    record.pidStartTime = await process.startTime();
    return process;
  }

  #onEvent(session: Session, process: ClaudeHandle, event: ClaudeEvent) {
    if (session.process !== process) return;
    const turn = session.turn;
    if (!turn) {
      this.#options.log?.(
        `Session ${session.id}: ignoring "${event.type}" outside a turn`,
      );
      return;
    }
    turn.restartStallWatch();
    if (event.type === "init") {
      turn.sawInit = true;
      session.isResumeUnconfirmed = false;
      if (session.record.claudeSessionId !== event.sessionId) {
        session.record.claudeSessionId = event.sessionId;
        // Persist at once: after a kill -9 the next run must resume this id.
        this.#persistInBackground(session);
      }
      return;
    }
    if (event.type !== "result") {
      turn.sink.update({ type: "event", event });
      return;
    }
    if (
      session.isResumeUnconfirmed && !turn.sawInit &&
      event.subtype === "error_during_execution"
    ) {
      turn.finish({ kind: "stale_resume" });
      return;
    }
    const total = event.totalCostUsd ?? session.processCostUsd;
    const costUsd = Math.max(0, total - session.processCostUsd);
    session.processCostUsd = total;
    turn.finish(
      turn.isInterrupted && event.subtype === "error_during_execution"
        ? { kind: "interrupted" }
        : { kind: "completed", event, costUsd },
    );
  }

  #onExit(session: Session, process: ClaudeHandle, exit: ClaudeExit): void {
    if (session.process !== process) return;
    session.process = undefined;
    session.timer.stop();
    session.turn?.finish(
      session.turn.isInterrupted
        ? { kind: "interrupted" }
        : { kind: "crashed", exit },
    );
    if (session.isArchived) return;
    session.record.state = "suspended";
    session.record.suspendedAt = this.#options.clock.now();
    session.record.pid = undefined;
    session.record.pidStartTime = undefined;
    this.#persistInBackground(session);
  }

  /** Under the session lock: the idle timer fired. */
  async #suspendIfIdle(session: Session): Promise<void> {
    if (
      session.isArchived || session.turn || session.queue.length > 0 ||
      session.timer.isRunning || !session.process
    ) {
      return;
    }
    this.#options.log?.(`Suspending idle session ${session.id}`);
    await this.#stopProcess(session);
  }

  /** Stops the idle timer, drops the queue and stops the process, interrupting a running turn first. */
  async #halt(session: Session): Promise<void> {
    session.timer.stop();
    for (const queued of session.queue) queued.isCancelled = true;
    await this.#stopProcess(session, { interruptFirst: true });
  }

  async #stopProcess(
    session: Session,
    options: { interruptFirst?: boolean } = {},
  ): Promise<void> {
    const process = session.process;
    if (!process) return;
    if (options.interruptFirst && session.turn) {
      session.turn.isInterrupted = true;
      await process.interrupt().catch(() => {
        // Already gone: stop() below just collects its exit.
      });
    }
    await process.stop({ graceMs: this.#options.graceMs });
    // #onExit ran (exited settled inside stop) and marked the session suspended.
  }

  async #createSession(
    chatKey: string,
    name: string,
    persona?: { name?: string; prompt: string },
  ): Promise<Session> {
    const now = this.#options.clock.now();
    const session = this.#adopt({
      name,
      chatKey,
      workDir: this.#options.store.workDirFor(chatKey, name),
      createdAt: now,
      lastActiveAt: now,
      state: "suspended",
      idleTimeoutMs: this.#options.defaultIdleTimeoutMs,
      personaName: persona?.name,
      systemPrompt: persona?.prompt,
      model: this.#options.defaultModel,
      outputMode: "normal",
      turns: 0,
      totalCostUsd: 0,
      lastTurnCostUsd: 0,
      alwaysAllowedTools: [],
      costByDay: {},
    });
    await Deno.mkdir(join(session.record.workDir, "inbox"), {
      recursive: true,
      mode: 0o700,
    });
    await this.#persist(session);
    return session;
  }

  #adopt(record: SessionRecord): Session {
    const id = sessionId(record.chatKey, record.name);
    const session: Session = {
      id,
      record,
      isResumeUnconfirmed: false,
      processCostUsd: 0,
      needsRestart: false,
      queue: [],
      chain: Promise.resolve(),
      isArchived: false,
      timer: new IdleTimer({
        clock: this.#options.clock,
        timeoutMs: record.idleTimeoutMs,
        onIdle: () => {
          this.#lock.run(id, () => this.#suspendIfIdle(session))
            .catch((error) =>
              this.#options.log?.(`Suspending ${id} failed: ${error}`)
            );
        },
      }),
    };
    this.#sessions.set(id, session);
    return session;
  }

  async #changeActive(
    chatKey: string,
    change: (session: Session) => void,
  ): Promise<SessionView> {
    const view = await this.ensureActive(chatKey);
    const session = this.#require(chatKey, view.name);
    return this.#lock.run(session.id, async () => {
      change(session);
      await this.#persist(session);
      return this.#view(session);
    });
  }

  /**
   * Changes a setting that becomes a CLI flag: a running process cannot take
   * it, so it is restarted (resuming the conversation) at the next turn.
   */
  #changeActiveFlags(
    chatKey: string,
    change: (record: SessionRecord) => void,
  ): Promise<SessionView> {
    return this.#changeActive(chatKey, (session) => {
      change(session.record);
      session.needsRestart = session.process !== undefined;
    });
  }

  async #setActive(chatKey: string, name: string): Promise<void> {
    if (this.#active.get(chatKey) === name) return;
    await this.#options.store.saveChat({ chatKey, activeSession: name });
    this.#active.set(chatKey, name);
  }

  #activeSession(chatKey: string): Session | undefined {
    const name = this.#active.get(chatKey);
    return name === undefined
      ? undefined
      : this.#sessions.get(sessionId(chatKey, name));
  }

  #require(chatKey: string, name: string): Session {
    const session = this.#sessions.get(sessionId(chatKey, name));
    if (!session) throw new UnknownSessionError(name);
    return session;
  }

  #persist(session: Session): Promise<void> {
    return this.#options.store.saveSession(session.record);
  }

  /** Persists where a failure must not break the turn (it is logged; state on disk stays the previous). */
  async #persistQuietly(session: Session): Promise<void> {
    try {
      await this.#persist(session);
    } catch (error) {
      if (!(error instanceof StoreWriteError)) throw error;
      this.#options.log?.(error.message);
    }
  }

  /** Persists from an event handler, which cannot wait; nothing is thrown. */
  #persistInBackground(session: Session): void {
    this.#persistQuietly(session).catch((error) =>
      this.#options.log?.(`Cannot save session ${session.id}: ${error}`)
    );
  }

  #view(session: Session): SessionView {
    const { record } = session;
    return {
      name: record.name,
      chatKey: record.chatKey,
      isActive: this.#active.get(record.chatKey) === record.name,
      state: session.turn
        ? "busy"
        : session.process?.isAlive
        ? "running"
        : "suspended",
      personaName: record.personaName,
      systemPrompt: record.systemPrompt,
      model: record.model,
      outputMode: record.outputMode,
      idleTimeoutMs: record.idleTimeoutMs,
      createdAt: record.createdAt,
      lastActiveAt: record.lastActiveAt,
      turns: record.turns,
      totalCostUsd: record.totalCostUsd,
      lastTurnCostUsd: record.lastTurnCostUsd,
      contextUsed: record.contextUsed,
      permissionMode: record.permissionMode ?? this.#options.permissionMode,
      alwaysAllowedTools: record.alwaysAllowedTools,
      costByDay: record.costByDay,
      maxBudgetUsd: record.maxBudgetUsd,
      workDir: record.workDir,
      queued: Math.max(0, session.queue.length - (session.turn ? 1 : 0)),
    };
  }
}

function sessionId(chatKey: string, name: string): string {
  return `${chatKey}/${name}`;
}
