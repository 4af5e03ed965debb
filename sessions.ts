// The registry of sessions: which chats have which named sessions, which one
// is active, and their settings. Each session's lifecycle is its own
// (session.ts); the registry finds it and hands the request over.
import type { Clock } from "./clock.ts";
import type { LaunchFn } from "./launcher.ts";
import { ActiveSessions } from "./active_sessions.ts";
import { KeyedLock } from "./lock.ts";
import type { ProcessIdentity } from "./process_tree.ts";
import { Session } from "./session.ts";
import {
  SessionExistsError,
  SessionNameError,
  ShuttingDownError,
  UnknownSessionError,
} from "./session_errors.ts";
import {
  type ClaudeDefaults,
  isSessionName,
  type SettingChange,
} from "./session_settings.ts";
import { type SessionView, sessionView } from "./session_view.ts";
import { SpendingPolicy } from "./spending.ts";
import {
  newSessionRecord,
  type SessionRecord,
  type SessionStore,
  type Workspace,
} from "./store.ts";
import type { TurnInput, TurnUpdates } from "./turn.ts";

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
  /** Markers the last run's processes carry (its instance id may be lost). */
  markers: string[];
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
  #active: ActiveSessions;
  /** Serialises what changes a chat's set of sessions or its active pointer. */
  #chatLock = new KeyedLock<string>();
  #spending: SpendingPolicy;
  #isShuttingDown = false;

  constructor(options: SessionRegistryOptions) {
    this.#options = options;
    this.#active = new ActiveSessions(options.store);
    this.#spending = new SpendingPolicy({
      clock: options.clock,
      dailyBudgetUsd: options.dailyBudgetUsd,
      records: () => [...this.#sessions.values()].map((s) => s.record),
    });
  }

  /** Loads every session; those live when the last run died are suspended (their processes are the reaper's). */
  async load(): Promise<LoadReport> {
    const { store, clock } = this.#options;
    const { sessions, chats, quarantined } = await store.load();
    const recorded: ProcessIdentity[] = [];
    const markers: string[] = [];
    for (const record of sessions) {
      if (record.pid !== undefined && record.pidStartTime !== undefined) {
        recorded.push({ pid: record.pid, startTime: record.pidStartTime });
      }
      if (record.marker) markers.push(record.marker);
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
    this.#active.restore(
      chats,
      (chatKey, name) => this.#sessions.has(key(chatKey, name)),
    );
    return { recorded, markers, quarantined };
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
    const session = this.find(chatKey);
    return session && this.#view(session);
  }

  /**
   * The session `name` of a chat, by default its active one, for what only
   * that session does (interrupt, permission answers, suspend); undefined
   * when there is none.
   */
  find(chatKey: string, name?: string): Session | undefined {
    name ??= this.#active.get(chatKey);
    return name === undefined
      ? undefined
      : this.#sessions.get(key(chatKey, name));
  }

  /** Number of archived sessions of a chat. */
  countArchived(chatKey: string): Promise<number> {
    return this.#options.store.countArchived(chatKey);
  }

  /** Creates a session and makes it active. @throws {SessionNameError} {SessionExistsError} */
  create(
    chatKey: string,
    name: string,
    persona?: { name?: string; prompt: string },
  ): Promise<SessionView> {
    return this.#open(chatKey, name, { persona, isNew: true })
      .then(({ view }) => view);
  }

  /**
   * Makes the session `name` active, created on `workspace` when the chat has
   * none of that name (an existing one keeps its own workspace).
   * @throws {SessionNameError}
   */
  open(
    chatKey: string,
    name: string,
    workspace: Workspace,
  ): Promise<{ view: SessionView; isCreated: boolean }> {
    return this.#open(chatKey, name, { workspace });
  }

  /** Makes another session active; the previous one keeps running on its own timer. @throws {UnknownSessionError} */
  switch(chatKey: string, name: string): Promise<SessionView> {
    return this.#open(chatKey, name, { isOld: true }).then(({ view }) => view);
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
      const session = this.find(chatKey) ??
        this.#sessions.get(key(chatKey, name)) ??
        await this.#create(chatKey, name);
      await this.#active.set(chatKey, session.record.name);
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
        ? this.find(chatKey)
        : this.#require(chatKey, name);
      if (!session) throw new UnknownSessionError(name ?? DEFAULT_SESSION);
      const view = this.#view(session);
      await session.archive();
      this.#sessions.delete(session.id);
      if (this.#active.get(chatKey) === session.record.name) {
        await this.#active.set(chatKey, undefined);
      }
      return view;
    });
  }

  /**
   * Changes a setting of the session `name`, by default of the active one
   * (created as `default` if the chat has none).
   * @throws {UnknownSessionError} {StoreWriteError}
   */
  async configure(
    chatKey: string,
    change: SettingChange,
    name?: string,
  ): Promise<SessionView> {
    name ??= (await this.ensureActive(chatKey)).name;
    const session = this.#require(chatKey, name);
    await session.configure(change);
    return this.#view(session);
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

  #open(
    chatKey: string,
    name: string,
    options: {
      persona?: { name?: string; prompt: string };
      workspace?: Workspace;
      /** Refuse an existing session of that name instead of switching to it. */
      isNew?: boolean;
      /** Refuse to create one. */
      isOld?: boolean;
    },
  ): Promise<{ view: SessionView; isCreated: boolean }> {
    if (!isSessionName(name)) throw new SessionNameError(name);
    return this.#chatLock.run(chatKey, async () => {
      const existing = this.#sessions.get(key(chatKey, name));
      if (existing && options.isNew) throw new SessionExistsError(name);
      if (!existing && options.isOld) throw new UnknownSessionError(name);
      const session = existing ??
        await this.#create(chatKey, name, options.persona, options.workspace);
      await this.#active.set(chatKey, name);
      return { view: this.#view(session), isCreated: !existing };
    });
  }

  async #create(
    chatKey: string,
    name: string,
    persona?: { name?: string; prompt: string },
    workspace?: Workspace,
  ): Promise<Session> {
    const { store, clock } = this.#options;
    const session = this.#adopt(newSessionRecord({
      chatKey,
      name,
      nowMs: clock.now(),
      idleTimeoutMs: this.#options.defaultIdleTimeoutMs,
      model: this.#options.defaultModel,
      persona,
      workspace: workspace ?? { workDir: store.workDirFor(chatKey, name) },
    }));
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

  #require(chatKey: string, name: string): Session {
    const session = this.#sessions.get(key(chatKey, name));
    if (!session) throw new UnknownSessionError(name);
    return session;
  }

  #view(session: Session): SessionView {
    const { chatKey, name } = session.record;
    return sessionView(session, {
      isActive: this.#active.get(chatKey) === name,
      defaultPermissionMode: this.#options.claudeDefaults.permissionMode,
    });
  }
}

function key(chatKey: string, name: string): string {
  return `${chatKey}/${name}`;
}
