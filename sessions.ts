// Session registry and lifecycle: named sessions per chat, one Claude process
// per live session, serialised turns, idle suspend and transparent resume.
import { join } from "node:path";
import { type Clock, IdleTimer } from "./idle_timer.ts";
import { KeyedLock } from "./lock.ts";
import { addDailyCost, costSince, nextDayStart } from "./usage.ts";
import type { ClaudeEvent, ContentBlock } from "./stream_json.ts";
import {
  type SessionRecord,
  type SessionStore,
  StoreWriteError,
} from "./store.ts";
import {
  type ClaudeExit,
  ClaudeExitedError,
  type ClaudeProcess,
  type ClaudeProcessOptions,
  type ClaudeSettings,
  ClaudeStartError,
  type PermissionDecision,
} from "./subprocess.ts";

/** How much of a turn the chat shows. */
export type OutputMode = "verbose" | "normal" | "quiet";

/** True process state of a session, as the user sees it. */
export type SessionState = "running" | "busy" | "suspended";

/** Session names: 1–32 of `[A-Za-z0-9_-]`, so they are safe as directory names. */
export const SESSION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * A valid session name made from free text (a forum topic's title):
 * other characters become "-", at most 32; undefined when nothing is left.
 */
export function sessionNameFrom(text: string): string | undefined {
  const name = text.normalize("NFKD").replaceAll(/[^A-Za-z0-9_-]+/g, "-")
    .replaceAll(/^-+|-+$/g, "").slice(0, 32).replace(/-+$/, "");
  return name || undefined;
}

/** The permission mode in which tool use is approved from the chat. */
export const ASK_MODE = "ask";

/** Range of `/timeout`, in minutes. */
export const TIMEOUT_MINUTES = { min: 1, max: 120 } as const;

/** What the user sent for one turn. */
export interface TurnInput {
  text: string;
  images?: { mediaType: string; base64: string }[];
}

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

/** The end of a turn. */
export type TurnOutcome =
  | {
    kind: "completed";
    event: Extract<ClaudeEvent, { type: "result" }>;
    costUsd: number;
  }
  | { kind: "interrupted" }
  | { kind: "crashed"; exit: ClaudeExit }
  | { kind: "start_failed"; error: ClaudeStartError }
  | { kind: "cancelled" };

/** Everything the chat side learns about a turn, in order. */
export type TurnUpdate =
  | { type: "resuming"; idleMs: number }
  | { type: "history_lost" }
  | { type: "event"; event: ClaudeEvent }
  /** Claude has been silent this long in a running turn. */
  | { type: "stalled"; silentMs: number }
  | { type: "done"; outcome: TurnOutcome };

/** Receives a turn's updates; implemented by the Telegram side. */
export interface TurnSink {
  update(update: TurnUpdate): void;
}

/** A session name breaks the naming rule. */
export class SessionNameError extends Error {
  override name = "SessionNameError";
  readonly sessionName: string;
  constructor(sessionName: string) {
    super(`Invalid session name "${sessionName}"`);
    this.sessionName = sessionName;
  }
}

/** No such session in this chat. */
export class UnknownSessionError extends Error {
  override name = "UnknownSessionError";
  readonly sessionName: string;
  constructor(sessionName: string) {
    super(`Unknown session "${sessionName}"`);
    this.sessionName = sessionName;
  }
}

/** A session of that name already exists in this chat. */
export class SessionExistsError extends Error {
  override name = "SessionExistsError";
  readonly sessionName: string;
  constructor(sessionName: string) {
    super(`Session "${sessionName}" already exists`);
    this.sessionName = sessionName;
  }
}

/** Today's spending reached DAILY_BUDGET_USD; turns resume at `resetsAt`. */
export class BudgetExceededError extends Error {
  override name = "BudgetExceededError";
  readonly spentUsd: number;
  readonly budgetUsd: number;
  readonly resetsAt: number;
  constructor(spentUsd: number, budgetUsd: number, resetsAt: number) {
    super(
      `Cannot start a turn: spent ${spentUsd} of the daily budget ${budgetUsd}`,
    );
    this.spentUsd = spentUsd;
    this.budgetUsd = budgetUsd;
    this.resetsAt = resetsAt;
  }
}

/** The bot is shutting down and starts nothing new. */
export class ShuttingDownError extends Error {
  override name = "ShuttingDownError";
  constructor() {
    super("Cannot start a turn: the bot is shutting down");
  }
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

/** One message for a session, as commands.ts hands it over. */
export interface TurnRequest {
  /** The session that was active when the message arrived. */
  session: string;
  input: TurnInput;
  sink: TurnSink;
  /** Awaited just before the message reaches Claude (the journal marks it running). */
  beforeStart?: () => Promise<void>;
}

interface ActiveTurn {
  sink: TurnSink;
  /** Cancels the stall watch. */
  cancelStallWatch?: () => void;
  sawInit: boolean;
  isInterrupted: boolean;
  finish(outcome: TurnOutcome | { kind: "stale_resume" }): void;
  done: Promise<TurnOutcome | { kind: "stale_resume" }>;
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
  /** Model or persona changed: restart the process at the next turn. */
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
   * @throws {SessionNameError} for a name outside SESSION_NAME_PATTERN
   * @throws {SessionExistsError} when the chat already has one of that name
   */
  create(
    chatKey: string,
    name: string,
    persona?: { name?: string; prompt: string },
  ): Promise<SessionView> {
    if (!SESSION_NAME_PATTERN.test(name)) throw new SessionNameError(name);
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
        session.timer.stop();
        for (const queued of session.queue) queued.isCancelled = true;
        await this.#stopProcess(session, { interruptFirst: true });
        session.record.archivedAt = this.#options.clock.now();
        await this.#options.store.archiveSession(session.record);
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
    if (
      !Number.isInteger(minutes) || minutes < TIMEOUT_MINUTES.min ||
      minutes > TIMEOUT_MINUTES.max
    ) {
      throw new RangeError(
        `Idle timeout must be ${TIMEOUT_MINUTES.min}–${TIMEOUT_MINUTES.max} minutes, got ${minutes}`,
      );
    }
    return this.#changeActive(chatKey, (session) => {
      session.record.idleTimeoutMs = minutes * 60_000;
      session.timer.setTimeoutMs(session.record.idleTimeoutMs);
    });
  }

  /** Sets the active session's model (undefined: the CLI default); applies at the next turn. */
  setModel(chatKey: string, model: string | undefined): Promise<SessionView> {
    return this.#changeActive(chatKey, (session) => {
      session.record.model = model;
      session.needsRestart = session.process !== undefined;
    });
  }

  /** Sets the active session's persona; applies at the next turn, history kept. */
  setPersona(
    chatKey: string,
    persona: { name?: string; prompt: string } | undefined,
  ): Promise<SessionView> {
    return this.#changeActive(chatKey, (session) => {
      session.record.personaName = persona?.name;
      session.record.systemPrompt = persona?.prompt;
      session.needsRestart = session.process !== undefined;
    });
  }

  /** Sets the active session's permission mode; applies at the next turn. */
  setPermissionMode(chatKey: string, mode: string): Promise<SessionView> {
    return this.#changeActive(chatKey, (session) => {
      session.record.permissionMode = mode;
      session.needsRestart = session.process !== undefined;
    });
  }

  /** Sets the active session's --max-budget-usd (undefined: none); applies at the next turn. */
  setMaxBudget(
    chatKey: string,
    usd: number | undefined,
  ): Promise<SessionView> {
    return this.#changeActive(chatKey, (session) => {
      session.record.maxBudgetUsd = usd;
      session.needsRestart = session.process !== undefined;
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

  /** Every session of every chat (for usage totals). */
  all(): SessionView[] {
    return [...this.#sessions.values()].map((s) => this.#view(s));
  }

  /** What all sessions (archived ones excepted) spent today (UTC). */
  spentToday(): number {
    const now = this.#options.clock.now();
    return [...this.#sessions.values()].reduce(
      (sum, s) => sum + costSince(s.record.costByDay, now, 1),
      0,
    );
  }

  /** Sets the active session's output mode. */
  setOutputMode(chatKey: string, mode: OutputMode): Promise<SessionView> {
    return this.#changeActive(chatKey, (session) => {
      session.record.outputMode = mode;
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
    const name = options.newName && SESSION_NAME_PATTERN.test(options.newName)
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
   * Queues one turn on a session (the one that was active when the message
   * arrived: see ensureActive). Turns of a session run one after another in
   * call order; the promise settles when this turn is done, after `sink`
   * got "done".
   * @throws {ShuttingDownError}
   * @throws {UnknownSessionError} when the session was archived meanwhile
   */
  send(chatKey: string, request: TurnRequest): Promise<TurnOutcome> {
    if (this.#isShuttingDown) return Promise.reject(new ShuttingDownError());
    const budget = this.#options.dailyBudgetUsd;
    if (budget !== undefined) {
      const now = this.#options.clock.now();
      const spent = this.spentToday();
      if (spent >= budget) {
        return Promise.reject(
          new BudgetExceededError(spent, budget, nextDayStart(now)),
        );
      }
    }
    let session: Session;
    try {
      session = this.#require(chatKey, request.session);
    } catch (error) {
      return Promise.reject(error);
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

  /**
   * Stops taking turns and stops every process in parallel (each: EOF,
   * SIGTERM, SIGKILL after the grace), then persists every session.
   */
  async shutdown(): Promise<void> {
    this.#isShuttingDown = true;
    await Promise.all(
      [...this.#sessions.values()].map(async (session) => {
        session.timer.stop();
        for (const queued of session.queue) queued.isCancelled = true;
        await this.#stopProcess(session, { interruptFirst: true });
      }),
    );
    await this.#options.store.flush();
  }

  /** Number of sessions with a live process (for logs and benchmarks). */
  get liveCount(): number {
    return [...this.#sessions.values()].filter((s) => s.process?.isAlive)
      .length;
  }

  async #runTurn(
    session: Session,
    queued: QueuedTurn,
    request: TurnRequest,
  ): Promise<TurnOutcome> {
    const { sink } = request;
    let outcome: TurnOutcome | { kind: "stale_resume" } = { kind: "cancelled" };
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
    if (final.kind !== "cancelled") {
      await this.#lock.run(session.id, () => this.#finishTurn(session, final));
    }
    sink.update({ type: "done", outcome: final });
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
        throw error;
      }
    }
    session.needsRestart = false;
    await request.beforeStart?.();
    queued.isStarted = true;
    // The process may already have died (it is then no longer
    // session.process): writing to it fails and the turn ends as a crash.
    const turn = newTurn(sink);
    this.#watchStall(turn);
    session.turn = turn;
    session.record.state = "live";
    session.record.lastActiveAt = this.#options.clock.now();
    await this.#persistQuietly(session);
    try {
      await process.sendUserMessage(turnContent(request.input));
    } catch (error) {
      if (!(error instanceof ClaudeExitedError)) throw error;
      turn.finish({ kind: "crashed", exit: await process.exited });
    }
    return turn;
  }

  async #finishTurn(session: Session, outcome: TurnOutcome): Promise<void> {
    session.turn?.cancelStallWatch?.();
    session.turn = undefined;
    if (session.isArchived) return;
    const { record } = session;
    record.lastActiveAt = this.#options.clock.now();
    if (outcome.kind === "completed") {
      record.turns++;
      record.lastTurnCostUsd = outcome.costUsd;
      record.totalCostUsd += outcome.costUsd;
      record.costByDay = addDailyCost(
        record.costByDay,
        this.#options.clock.now(),
        outcome.costUsd,
      );
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
    const settings: ClaudeSettings = {
      resumeSessionId: record.claudeSessionId,
      model: record.model,
      appendSystemPrompt: record.systemPrompt,
      ...permissionFlags(record.permissionMode ?? options.permissionMode),
      allowedTools: options.allowedTools,
      maxBudgetUsd: record.maxBudgetUsd,
    };
    const process = options.startProcess({
      bin: options.claudeBin,
      cwd: record.workDir,
      env: options.claudeEnv,
      settings,
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
    this.#watchStall(turn);
    if (event.type === "init") {
      turn.sawInit = true;
      session.isResumeUnconfirmed = false;
      if (session.record.claudeSessionId !== event.sessionId) {
        session.record.claudeSessionId = event.sessionId;
        // Persist at once: after a kill -9 the next run must resume this id.
        this.#persistQuietly(session);
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
    this.#persistQuietly(session);
  }

  /** (Re)starts the countdown after which a silent turn is reported stalled. */
  #watchStall(turn: ActiveTurn): void {
    turn.cancelStallWatch?.();
    const silentMs = this.#options.stallMs ?? DEFAULT_STALL_MS;
    turn.cancelStallWatch = this.#options.clock.after(silentMs, () => {
      turn.cancelStallWatch = undefined;
      turn.sink.update({ type: "stalled", silentMs });
    });
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

/**
 * CLI flags of a permission mode. "ask" is ours: Claude asks through
 * can_use_tool control requests, answered from the chat's buttons.
 */
function permissionFlags(
  mode: string,
): Pick<ClaudeSettings, "permissionMode" | "permissionPromptTool"> {
  return mode === ASK_MODE
    ? { permissionMode: "default", permissionPromptTool: "stdio" }
    : { permissionMode: mode };
}

function sessionId(chatKey: string, name: string): string {
  return `${chatKey}/${name}`;
}

function newTurn(sink: TurnSink): ActiveTurn {
  const { promise, resolve } = Promise.withResolvers<
    TurnOutcome | { kind: "stale_resume" }
  >();
  let isDone = false;
  const turn: ActiveTurn = {
    sink,
    sawInit: false,
    isInterrupted: false,
    done: promise,
    finish(outcome) {
      if (isDone) return;
      isDone = true;
      turn.cancelStallWatch?.();
      resolve(outcome);
    },
  };
  return turn;
}

function turnContent(input: TurnInput): string | ContentBlock[] {
  if (!input.images?.length) return input.text;
  return [
    { type: "text", text: input.text },
    ...input.images.map((image) => ({
      type: "image" as const,
      source: {
        type: "base64" as const,
        media_type: image.mediaType,
        data: image.base64,
      },
    })),
  ];
}
