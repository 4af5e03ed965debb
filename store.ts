// Durable session and chat state under DATA_DIR/state: one JSON file per
// record, written atomically (temp file, fsync, rename, fsync of the folder)
// so `kill -9` never corrupts it; and the folders of sessions' work.
import { join, relative, sep } from "node:path";
import { z } from "zod";
import {
  AtomicWriteError,
  removeTempFiles,
  writeTextFileAtomic,
} from "./atomic_file.ts";
import type { Clock } from "./clock.ts";
import { KeyedLock } from "./lock.ts";

const sessionSchema = z.object({
  name: z.string(),
  chatKey: z.string(),
  workDir: z.string(),
  createdAt: z.number(),
  lastActiveAt: z.number(),
  /** "live" found on disk at start means the bot died while it ran. */
  state: z.enum(["live", "suspended", "archived"]),
  idleTimeoutMs: z.number().int().positive(),
  personaName: z.string().optional(),
  systemPrompt: z.string().optional(),
  model: z.string().optional(),
  outputMode: z.enum(["verbose", "normal", "quiet"]).default("normal"),
  claudeSessionId: z.string().optional(),
  pid: z.number().int().optional(),
  pidStartTime: z.string().optional(),
  suspendedAt: z.number().optional(),
  archivedAt: z.number().optional(),
  turns: z.number().int().default(0),
  totalCostUsd: z.number().default(0),
  lastTurnCostUsd: z.number().default(0),
  /** Context use of the last turn, 0–1. */
  contextUsed: z.number().optional(),
  /** Session override of CLAUDE_PERMISSION_MODE ("ask" = approve on the phone). */
  permissionMode: z.string().optional(),
  /** Tools the user chose "Always allow" for in this session. */
  alwaysAllowedTools: z.array(z.string()).default([]),
  /** Cost per UTC day ("YYYY-MM-DD" → USD), the last month. */
  costByDay: z.record(z.string(), z.number()).default({}),
  /** Passed to Claude as --max-budget-usd. */
  maxBudgetUsd: z.number().positive().optional(),
  /** The MARKER_ENV value of its last process: the reaper finds it even if instance-id is lost. */
  marker: z.string().optional(),
  /** The project (PROJECTS_DIRS) the session works on, and its repository. */
  project: z.string().optional(),
  repoPath: z.string().optional(),
  /** The branch of a worktree session; workDir is then that worktree. */
  branch: z.string().optional(),
  /** The bot created the worktree (DATA_DIR/worktrees), so archiving may remove it. */
  isManagedWorktree: z.boolean().optional(),
  /** Where uploads go when they must stay out of workDir (a repository). */
  uploadDir: z.string().optional(),
});

/** A session's persisted metadata. */
export type SessionRecord = z.infer<typeof sessionSchema>;

/** Where a session works: a private folder, a project repository, or a worktree of one. */
export type Workspace = Pick<
  SessionRecord,
  | "workDir"
  | "project"
  | "repoPath"
  | "branch"
  | "isManagedWorktree"
  | "uploadDir"
>;

const chatSchema = z.object({
  chatKey: z.string(),
  activeSession: z.string().optional(),
});

/** A chat's persisted state (which session is active). */
export type ChatRecord = z.infer<typeof chatSchema>;

/** What `load()` found. */
export interface LoadResult {
  sessions: SessionRecord[];
  chats: ChatRecord[];
  /** Files that could not be read; moved aside to `quarantine/`. */
  quarantined: string[];
}

/** A write to DATA_DIR failed; the previous state on disk is intact. */
export class StoreWriteError extends Error {
  override name = "StoreWriteError";
  constructor(path: string, cause: unknown) {
    super(`Cannot save "${path}": ${(cause as Error)?.message ?? cause}`, {
      cause,
    });
  }
}

const PRIVATE_DIR = 0o700;
/** Folders of the bot's own state, moved under state/ from older layouts. */
const STATE_ENTRIES = ["sessions", "chats", "archive", "instance-id"] as const;

/** File-safe form of a chat key ("-100123:7" → "-100123_7"). */
export function chatDirName(chatKey: string): string {
  return chatKey.replaceAll(/[^0-9A-Za-z_-]/g, "_");
}

/** Session and chat records under one data directory. */
export class SessionStore {
  readonly dataDir: string;
  /** The bot's own records: hidden from Claude by the sandbox. */
  readonly stateDir: string;
  /** Writes of one file run in call order, so the last save wins on disk. */
  #writes = new KeyedLock<string>();
  #inFlight = new Set<Promise<void>>();
  #clock: Clock;

  constructor(options: { dataDir: string; clock: Clock }) {
    this.dataDir = options.dataDir;
    this.stateDir = join(options.dataDir, "state");
    this.#clock = options.clock;
  }

  get #sessionsDir() {
    return join(this.stateDir, "sessions");
  }
  get #chatsDir() {
    return join(this.stateDir, "chats");
  }
  get #archiveDir() {
    return join(this.stateDir, "archive");
  }

  /**
   * Creates the directory tree (private, an existing DATA_DIR tightened to
   * 0700), moves state of an older layout under state/, removes temp files
   * a crash left, and checks the folder is writable.
   */
  async init(): Promise<void> {
    await Deno.mkdir(this.dataDir, { recursive: true, mode: PRIVATE_DIR });
    await Deno.chmod(this.dataDir, PRIVATE_DIR);
    await Deno.mkdir(this.stateDir, { recursive: true, mode: PRIVATE_DIR });
    for (const entry of STATE_ENTRIES) {
      await Deno.rename(join(this.dataDir, entry), join(this.stateDir, entry))
        .catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
    }
    for (
      const dir of [
        this.#sessionsDir,
        this.#chatsDir,
        this.#archiveDir,
        join(this.dataDir, "work"),
        join(this.dataDir, "uploads"),
      ]
    ) {
      await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
    }
    for (const dir of [this.stateDir, this.#sessionsDir, this.#chatsDir]) {
      await removeTempFiles(dir);
    }
    await this.#writeAtomic(join(this.stateDir, ".write-check"), "ok\n");
    await Deno.remove(join(this.stateDir, ".write-check"));
  }

  /** The id that marks this bot's Claude processes; created once, kept forever. */
  async instanceId(): Promise<string> {
    const path = join(this.stateDir, "instance-id");
    try {
      const id = (await Deno.readTextFile(path)).trim();
      if (/^[0-9a-f-]{36}$/.test(id)) return id;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const id = crypto.randomUUID();
    await this.#writeAtomic(path, id + "\n");
    return id;
  }

  /** Absolute working directory of a new session (created by ensureWorkDir). */
  workDirFor(chatKey: string, name: string): string {
    return join(this.dataDir, "work", chatDirName(chatKey), name);
  }

  /** Where a session's uploads go when they must stay out of its working dir. */
  uploadDirFor(chatKey: string, name: string): string {
    return join(this.dataDir, "uploads", chatDirName(chatKey), name);
  }

  /** Creates a session's working directory and its upload folder (private) if missing. */
  async ensureWorkDir(record: SessionRecord): Promise<void> {
    await Deno.mkdir(uploadDirOf(record), {
      recursive: true,
      mode: PRIVATE_DIR,
    });
  }

  /** Whether a folder is one of the bot's private session folders (DATA_DIR/work). */
  isPrivateWorkDir(path: string): boolean {
    const rel = relative(join(this.dataDir, "work"), path);
    return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." &&
      !rel.startsWith(sep);
  }

  /** Reads every record; a corrupt file is moved to `quarantine/` and reported. */
  async load(): Promise<LoadResult> {
    const result: LoadResult = { sessions: [], chats: [], quarantined: [] };
    for (
      const [dir, schema, into] of [
        [this.#sessionsDir, sessionSchema, result.sessions],
        [this.#chatsDir, chatSchema, result.chats],
      ] as const
    ) {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isFile || !entry.name.endsWith(".json")) continue;
        const path = join(dir, entry.name);
        try {
          const parsed = schema.parse(
            JSON.parse(await Deno.readTextFile(path)),
          );
          // A record must live in its own file: one planted under another
          // name (or for another chat) is not trusted.
          if (path !== this.#pathOf(parsed)) {
            throw new z.ZodError([{
              code: "custom",
              path: [],
              message: `belongs in ${this.#pathOf(parsed)}`,
              input: parsed,
            }]);
          }
          (into as unknown[]).push(parsed);
        } catch (error) {
          if (!(error instanceof SyntaxError || error instanceof z.ZodError)) {
            throw error;
          }
          result.quarantined.push(await this.#quarantine(path));
        }
      }
    }
    return result;
  }

  /**
   * Persists a session record.
   * @throws {StoreWriteError} when the disk refuses; the old record stays
   */
  saveSession(record: SessionRecord): Promise<void> {
    return this.#writeJson(
      this.#sessionPath(record.chatKey, record.name),
      record,
    );
  }

  /**
   * Persists a chat record.
   * @throws {StoreWriteError} when the disk refuses; the old record stays
   */
  saveChat(record: ChatRecord): Promise<void> {
    return this.#writeJson(this.#chatPath(record.chatKey), record);
  }

  /**
   * Moves an archived session out of the live set: its record goes to
   * `archive/`, its working dir gets a dated name, so the name is free again.
   */
  async archiveSession(record: SessionRecord): Promise<SessionRecord> {
    const stamp = new Date(record.archivedAt ?? this.#clock.now())
      .toISOString().replaceAll(/[:.]/g, "-");
    // Only the bot's own folders get a dated name; a project's repository
    // or worktree stays where it is.
    let workDir = record.workDir;
    if (this.isPrivateWorkDir(record.workDir)) {
      workDir = `${record.workDir}.archived-${stamp}`;
      try {
        await Deno.rename(record.workDir, workDir);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          throw new StoreWriteError(record.workDir, error);
        }
      }
    }
    const archived = { ...record, workDir, state: "archived" as const };
    await this.#writeJson(
      join(
        this.#archiveDir,
        `${chatDirName(record.chatKey)}--${record.name}--${stamp}.json`,
      ),
      archived,
    );
    // Under the file's write lock: a save still queued would otherwise
    // recreate the record after the remove and revive the session.
    const sessionPath = this.#sessionPath(record.chatKey, record.name);
    await this.#writes.run(sessionPath, () => Deno.remove(sessionPath));
    return archived;
  }

  /** Number of archived sessions of a chat. */
  async countArchived(chatKey: string): Promise<number> {
    const prefix = `${chatDirName(chatKey)}--`;
    let count = 0;
    for await (const entry of Deno.readDir(this.#archiveDir)) {
      if (entry.name.startsWith(prefix)) count++;
    }
    return count;
  }

  #sessionPath(chatKey: string, name: string): string {
    return join(this.#sessionsDir, `${chatDirName(chatKey)}--${name}.json`);
  }

  #chatPath(chatKey: string): string {
    return join(this.#chatsDir, `${chatDirName(chatKey)}.json`);
  }

  #pathOf(record: SessionRecord | ChatRecord): string {
    return "name" in record
      ? this.#sessionPath(record.chatKey, record.name)
      : this.#chatPath(record.chatKey);
  }

  async #quarantine(path: string): Promise<string> {
    const dir = join(this.stateDir, "quarantine");
    await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
    const target = join(dir, `${this.#clock.now()}-${path.split("/").pop()}`);
    await Deno.rename(path, target);
    return target;
  }

  /** Resolves once every write started so far has finished. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  #writeJson(path: string, value: unknown): Promise<void> {
    const text = JSON.stringify(value, null, 2) + "\n";
    const write = this.#writes.run(path, () => this.#writeAtomic(path, text));
    this.#inFlight.add(write);
    write.finally(() => this.#inFlight.delete(write)).catch(() => {
      // The caller handles the failure; this copy only tracks completion.
    });
    return write;
  }

  async #writeAtomic(path: string, text: string): Promise<void> {
    try {
      await writeTextFileAtomic(path, text);
    } catch (error) {
      if (!(error instanceof AtomicWriteError)) throw error;
      // Callers of the store handle StoreWriteError, with the disk's reason.
      throw new StoreWriteError(path, error.cause);
    }
  }
}

/** A new session's record: nothing run yet, the bot's defaults, its workspace. */
export function newSessionRecord(options: {
  chatKey: string;
  name: string;
  nowMs: number;
  idleTimeoutMs: number;
  model?: string;
  persona?: { name?: string; prompt: string };
  workspace: Workspace;
}): SessionRecord {
  const { nowMs, persona } = options;
  return {
    name: options.name,
    chatKey: options.chatKey,
    createdAt: nowMs,
    lastActiveAt: nowMs,
    state: "suspended",
    idleTimeoutMs: options.idleTimeoutMs,
    personaName: persona?.name,
    systemPrompt: persona?.prompt,
    model: options.model,
    outputMode: "normal",
    turns: 0,
    totalCostUsd: 0,
    lastTurnCostUsd: 0,
    alwaysAllowedTools: [],
    costByDay: {},
    ...options.workspace,
  };
}

/** Where a session's uploads go: its own folder, or the inbox of its private folder. */
export function uploadDirOf(record: SessionRecord): string {
  return record.uploadDir ?? join(record.workDir, "inbox");
}
