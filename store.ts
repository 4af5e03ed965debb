// Durable session and chat state under DATA_DIR: one JSON file per record,
// written atomically (temp file, fsync, rename) so `kill -9` never corrupts it.
import { join } from "node:path";
import { z } from "zod";
import { AtomicWriteError, writeTextFileAtomic } from "./atomic_file.ts";
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
});

/** A session's persisted metadata. */
export type SessionRecord = z.infer<typeof sessionSchema>;

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

/** File-safe form of a chat key ("-100123:7" → "-100123_7"). */
function chatDirName(chatKey: string): string {
  return chatKey.replaceAll(/[^0-9A-Za-z_-]/g, "_");
}

/** Session and chat records under one data directory. */
export class SessionStore {
  readonly dataDir: string;
  /** Writes of one file run in call order, so the last save wins on disk. */
  #writes = new KeyedLock<string>();
  #inFlight = new Set<Promise<void>>();

  constructor(options: { dataDir: string }) {
    this.dataDir = options.dataDir;
  }

  get #sessionsDir() {
    return join(this.dataDir, "sessions");
  }
  get #chatsDir() {
    return join(this.dataDir, "chats");
  }

  /** Creates the directory tree (private) and checks it is writable. */
  async init(): Promise<void> {
    for (
      const dir of [
        this.dataDir,
        this.#sessionsDir,
        this.#chatsDir,
        join(this.dataDir, "work"),
        join(this.dataDir, "archive"),
      ]
    ) {
      await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
    }
    await this.#writeAtomic(join(this.dataDir, ".write-check"), "ok\n");
    await Deno.remove(join(this.dataDir, ".write-check"));
  }

  /** The id that marks this bot's Claude processes; created once, kept forever. */
  async instanceId(): Promise<string> {
    const path = join(this.dataDir, "instance-id");
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

  /** Creates a session's working directory and its inbox (private) if missing. */
  async ensureWorkDir(record: SessionRecord): Promise<void> {
    await Deno.mkdir(join(record.workDir, "inbox"), {
      recursive: true,
      mode: PRIVATE_DIR,
    });
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
    return this.#writeJson(
      join(this.#chatsDir, `${chatDirName(record.chatKey)}.json`),
      record,
    );
  }

  /**
   * Moves an archived session out of the live set: its record goes to
   * `archive/`, its working dir gets a dated name, so the name is free again.
   */
  async archiveSession(record: SessionRecord): Promise<SessionRecord> {
    const stamp = new Date(record.archivedAt ?? Date.now()).toISOString()
      .replaceAll(/[:.]/g, "-");
    const archivedDir = `${record.workDir}.archived-${stamp}`;
    try {
      await Deno.rename(record.workDir, archivedDir);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new StoreWriteError(record.workDir, error);
      }
    }
    const archived = {
      ...record,
      workDir: archivedDir,
      state: "archived" as const,
    };
    await this.#writeJson(
      join(
        this.dataDir,
        "archive",
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
    for await (const entry of Deno.readDir(join(this.dataDir, "archive"))) {
      if (entry.name.startsWith(prefix)) count++;
    }
    return count;
  }

  #sessionPath(chatKey: string, name: string): string {
    return join(this.#sessionsDir, `${chatDirName(chatKey)}--${name}.json`);
  }

  async #quarantine(path: string): Promise<string> {
    const dir = join(this.dataDir, "quarantine");
    await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
    const target = join(dir, `${Date.now()}-${path.split("/").pop()}`);
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
