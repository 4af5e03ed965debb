// The registry of sessions: which chats have which named sessions, which one
// is active, and their settings. Each session's lifecycle is its own
// (session.ts); the registry finds it and hands the request over.
import type { Clock } from "./clock.ts";
import type { LaunchFn } from "./launcher.ts";
import { KeyedLock } from "./lock.ts";
import type { ProcessIdentity } from "./process_tree.ts";
import { Session, type SessionState } from "./session.ts";
import {
  SessionExistsError,
  SessionNameError,
  ShuttingDownError,
  UnknownSessionError,
} from "./session_errors.ts";
import {
  type ClaudeDefaults,
  isIdleTimeoutMinutes,
  isSessionName,
  TIMEOUT_MINUTES,
} from "./session_settings.ts";
import { SpendingPolicy } from "./spending.ts";
import type { SessionRecord, SessionStore } from "./store.ts";
import type { PermissionDecision } from "./subprocess.ts";
import type { OutputMode, TurnInput, TurnUpdates } from "./turn.ts";

/** Read-only snapshot of a session for commands. */
export interface SessionView
  extends Readonly<Omit<SessionRecord, "permissionMode" | "state">> {
  isActive: boolean;
  state: SessionState["kind"];
  /** The effective permission mode ("ask": approvals on the phone). */
  permissionMode: string;
  /** Messages waiting behind the running turn. */
  queued: number;
}

/** Dependencies and defaults of the registry. */
export interface SessionRegistryOptions {
  store: SessionStore;
  clock: Clock;
  launch: LaunchFn;
  /** Prefix of every marker: processes of this bot instance. */
  instanceId: string;
  claudeDefaults: ClaudeDefaults;
  defaultIdleTimeoutMs: number;
  defaultModel?: string;
  /** SIGTERM → SIGKILL grace when stopping a process. */
  graceMs: number;
  /** How long an interrupted turn may take to end before its process is killed. */
  interruptGraceMs?: number;
  /** Silence in a running turn after which the chat hears "stalled". */
  stallMs?: number;
  /** Spending cap of all sessions per UTC day; undefined: none. */
  dailyBudgetUsd?: number;
  log?: (message: string) => void;
}

/** What load() found on disk. */
export interface LoadReport {
  /** Claude processes the last run recorded, for the reaper. */
  recorded: ProcessIdentity[];
  /** Unreadable records, moved aside. */
  quarantined: string[];
}

const DEFAULT_SESSION = "default";
const DEFAULT_INTERRUPT_GRACE_MS = 5_000;
const DEFAULT_STALL_MS = 10 * 60_000;

/** Every chat's sessions: create, switch, archive, settings, and where a turn goes. */
export class SessionRegistry {
  #options: SessionRegistryOptions;
  #sessions = new Map<string, Session>();
  #active = new Map<string, string>();
  /** Serialises what changes a chat's set of sessions or its active pointer. */
  #chatLock = new KeyedLock<string>();
  #spending: SpendingPolicy;
  #isShuttingDown = false;

  constructor(options: SessionRegistryOptions) {
    this.#options = options;
    this.#spending = new SpendingPolicy({
      clock: options.clock,
      dailyBudgetUsd: options.dailyBudgetUsd,
      records: () => [...this.#sessions.values()].map((s) => s.record),
    });
  }

  /**
   * Loads every session from disk. Sessions that were live when the last run
   * died become suspended (their processes are the reaper's).
   */
  async load(): Promise<LoadReport> {
    const { store, clock } = this.#options;
    const { sessions, chats, quarantined } = await store.load();
    const recorded: ProcessIdentity[] = [];
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
        suspendedAt: wasLive ? clock.now() : record.suspendedAt,
      });
      if (wasLive) await store.saveSession(session.record);
    }
    for (const { chatKey, activeSession } of chats) {
      if (activeSession && this.#sessions.has(key(chatKey, activeSession))) {
        this.#active.set(chatKey, activeSession);
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
    return this.#chatLock.run(chatKey, async () => {
      if (this.#sessions.has(key(chatKey, name))) {
        throw new SessionExistsError(name);
      }
      const session = await this.#create(chatKey, name, persona);
      await this.#setActive(chatKey, name);
      return this.#view(session);
    });
  }

  /**
   * Makes another session active; the previous one keeps running on its own timer.
   * @throws {UnknownSessionError}
   */
  switch(chatKey: string, name: string): Promise<SessionView> {
    return this.#chatLock.run(chatKey, async () => {
      const session = this.#require(chatKey, name);
      await this.#setActive(chatKey, name);
      return this.#view(session);
    });
  }

  /**
   * The active session, created as `default` (or `newName`) when the chat
   * has none: where a plain message or a file goes.
   */
  ensureActive(
    chatKey: string,
    options: { newName?: string } = {},
  ): Promise<SessionView> {
    const name = options.newName && isSessionName(options.newName)
      ? options.newName
      : DEFAULT_SESSION;
    return this.#chatLock.run(chatKey, async () => {
      const session = this.#activeSession(chatKey) ??
        this.#sessions.get(key(chatKey, name)) ??
        await this.#create(chatKey, name);
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
    return this.#chatLock.run(chatKey, async () => {
      const session = name === undefined
        ? this.#activeSession(chatKey)
        : this.#require(chatKey, name);
      if (!session) throw new UnknownSessionError(name ?? DEFAULT_SESSION);
      const view = this.#view(session);
      await session.archive();
      this.#sessions.delete(session.id);
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
    return this.#configure(chatKey, (record) => {
      record.idleTimeoutMs = minutes * 60_000;
    });
  }

  /** Sets the active session's output mode. */
  setOutputMode(chatKey: string, mode: OutputMode): Promise<SessionView> {
    return this.#configure(chatKey, (record) => {
      record.outputMode = mode;
    });
  }

  /** Sets the active session's model (undefined: the CLI default); applies at the next turn. */
  setModel(chatKey: string, model: string | undefined): Promise<SessionView> {
    return this.#configure(chatKey, (record) => {
      record.model = model;
    }, { restartsProcess: true });
  }

  /** Sets the active session's persona; applies at the next turn, history kept. */
  setPersona(
    chatKey: string,
    persona: { name?: string; prompt: string } | undefined,
  ): Promise<SessionView> {
    return this.#configure(chatKey, (record) => {
      record.personaName = persona?.name;
      record.systemPrompt = persona?.prompt;
    }, { restartsProcess: true });
  }

  /** Sets the active session's permission mode; applies at the next turn. */
  setPermissionMode(chatKey: string, mode: string): Promise<SessionView> {
    return this.#configure(chatKey, (record) => {
      record.permissionMode = mode;
    }, { restartsProcess: true });
  }

  /** Sets the active session's --max-budget-usd (undefined: none); applies at the next turn. */
  setMaxBudget(
    chatKey: string,
    usd: number | undefined,
  ): Promise<SessionView> {
    return this.#configure(chatKey, (record) => {
      record.maxBudgetUsd = usd;
    }, { restartsProcess: true });
  }

  /** Remembers "Always allow <tool>" for a session; false when it is gone. */
  async alwaysAllow(
    chatKey: string,
    name: string,
    tool: string,
  ): Promise<boolean> {
    const session = this.#sessions.get(key(chatKey, name));
    if (!session) return false;
    await session.configure((record) => {
      if (!record.alwaysAllowedTools.includes(tool)) {
        record.alwaysAllowedTools.push(tool);
      }
    });
    return true;
  }

  /**
   * Queues one turn on a session (the one that was active when the message
   * arrived: see ensureActive). Iterate the updates to the end: the turn
   * runs as they are pulled, and turns of a session run in call order.
   * @throws {ShuttingDownError}
   * @throws {BudgetExceededError} when DAILY_BUDGET_USD is spent for today
   * @throws {UnknownSessionError} when the session was archived meanwhile
   */
  send(
    chatKey: string,
    request: { session: string; input: TurnInput },
  ): TurnUpdates {
    if (this.#isShuttingDown) throw new ShuttingDownError();
    this.#spending.assertCanStart();
    return this.#require(chatKey, request.session).send(request.input);
  }

  /**
   * Interrupts the active session's running turn and drops its queued
   * messages; the process stays alive.
   */
  interrupt(chatKey: string): Promise<{ wasBusy: boolean; dropped: number }> {
    const session = this.#activeSession(chatKey);
    return session?.interrupt() ??
      Promise.resolve({ wasBusy: false, dropped: 0 });
  }

  /** Answers a pending permission request of a session's running turn. */
  answerPermission(
    chatKey: string,
    name: string,
    requestId: string,
    decision: PermissionDecision,
  ): Promise<boolean> {
    const session = this.#sessions.get(key(chatKey, name));
    return session?.answerPermission(requestId, decision) ??
      Promise.resolve(false);
  }

  /** True once shutdown() began: turns cut short now are the restart's to finish. */
  get isShuttingDown(): boolean {
    return this.#isShuttingDown;
  }

  /**
   * Stops taking turns and stops every process in parallel (each: EOF,
   * SIGTERM, SIGKILL after the grace), then waits for every record's write.
   */
  async shutdown(): Promise<void> {
    this.#isShuttingDown = true;
    const results = await Promise.allSettled(
      [...this.#sessions.values()].map((session) => session.shutdown()),
    );
    for (const result of results) {
      if (result.status === "rejected") {
        this.#options.log?.(`Stopping a session failed: ${result.reason}`);
      }
    }
    await this.#options.store.flush();
  }

  async #create(
    chatKey: string,
    name: string,
    persona?: { name?: string; prompt: string },
  ): Promise<Session> {
    const { store, clock, defaultIdleTimeoutMs, defaultModel } = this.#options;
    const now = clock.now();
    const session = this.#adopt({
      name,
      chatKey,
      workDir: store.workDirFor(chatKey, name),
      createdAt: now,
      lastActiveAt: now,
      state: "suspended",
      idleTimeoutMs: defaultIdleTimeoutMs,
      personaName: persona?.name,
      systemPrompt: persona?.prompt,
      model: defaultModel,
      outputMode: "normal",
      turns: 0,
      totalCostUsd: 0,
      lastTurnCostUsd: 0,
      alwaysAllowedTools: [],
      costByDay: {},
    });
    await store.ensureWorkDir(session.record);
    await store.saveSession(session.record);
    return session;
  }

  #adopt(record: SessionRecord): Session {
    const options = this.#options;
    const session = new Session(record, {
      ...options,
      spending: this.#spending,
      interruptGraceMs: options.interruptGraceMs ?? DEFAULT_INTERRUPT_GRACE_MS,
      stallMs: options.stallMs ?? DEFAULT_STALL_MS,
      log: options.log ?? (() => {}),
    });
    this.#sessions.set(session.id, session);
    return session;
  }

  async #configure(
    chatKey: string,
    change: (record: SessionRecord) => void,
    options: { restartsProcess?: boolean } = {},
  ): Promise<SessionView> {
    const view = await this.ensureActive(chatKey);
    const session = this.#require(chatKey, view.name);
    await session.configure(change, options);
    return this.#view(session);
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
      : this.#sessions.get(key(chatKey, name));
  }

  #require(chatKey: string, name: string): Session {
    const session = this.#sessions.get(key(chatKey, name));
    if (!session) throw new UnknownSessionError(name);
    return session;
  }

  #view(session: Session): SessionView {
    const { record } = session;
    return {
      ...record,
      isActive: this.#active.get(record.chatKey) === record.name,
      state: session.state,
      permissionMode: record.permissionMode ??
        this.#options.claudeDefaults.permissionMode,
      queued: session.queued,
    };
  }
}

function key(chatKey: string, name: string): string {
  return `${chatKey}/${name}`;
}
