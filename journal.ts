// The inbound journal: every user message is on disk before Telegram is told
// it arrived, and stays until its turn ends, so a crash loses nothing and a
// redelivered update is never answered twice. This module alone moves an
// entry between its states (queued → running → done, or interrupted by a
// restart and queued again by Retry).
import { dirname, join } from "node:path";
import { z } from "zod";
import { removeTempFiles, writeTextFileAtomic } from "./atomic_file.ts";
import type { Clock } from "./clock.ts";
import { chatDirName } from "./store.ts";

const inputSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("text"), text: z.string() }),
  z.object({
    kind: z.literal("photo"),
    fileId: z.string(),
    fileUniqueId: z.string(),
    size: z.number().optional(),
    caption: z.string().optional(),
  }),
  z.object({
    kind: z.literal("document"),
    fileId: z.string(),
    fileName: z.string(),
    size: z.number().optional(),
    caption: z.string().optional(),
  }),
  /** A voice note or audio file, transcribed before it reaches Claude. */
  z.object({
    kind: z.literal("voice"),
    fileId: z.string(),
    size: z.number().optional(),
    mimeType: z.string().optional(),
    fileName: z.string().optional(),
    duration: z.number().optional(),
    caption: z.string().optional(),
  }),
]);

/** What the user sent, enough to run the turn again after a restart. */
export type JournalInput = z.infer<typeof inputSchema>;

const entrySchema = z.object({
  /** The Telegram update_id: unique and increasing. */
  id: z.number().int(),
  chatId: z.number().int(),
  threadId: z.number().int().optional(),
  /** Name of the forum topic the message was posted in. */
  topicName: z.string().optional(),
  chatKey: z.string(),
  input: inputSchema,
  /** The text the message replies to or quotes (reply_context.ts); kept so a replay reads the same. */
  replyTo: z.string().optional(),
  /** queued: not yet given to Claude; running: given; interrupted: the bot died while it ran, or its transcription failed; done: answered. */
  state: z.enum(["queued", "running", "interrupted", "done"]),
  receivedAt: z.number(),
  doneAt: z.number().optional(),
});

/** One journaled message. */
export type JournalEntry = z.infer<typeof entrySchema>;

type State = JournalEntry["state"];

/** The moves an entry may make; any other is ignored. */
const TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  queued: ["running", "done"],
  running: ["done", "interrupted"],
  interrupted: ["queued", "done"],
  done: [],
};

/** One chat session space: a chat, or a forum topic inside it. */
export function chatKeyOf(chatId: number, threadId?: number): string {
  return threadId === undefined ? `${chatId}` : `${chatId}:${threadId}`;
}

const QUARANTINE = "quarantine";

/** Done entries are kept this long to recognise a redelivered update. */
const KEEP_DONE_MS = 60 * 60_000;
/** An interrupted message not retried within a week is dropped. */
const KEEP_INTERRUPTED_MS = 7 * 24 * 60 * 60_000;

/** The journal under DATA_DIR/journal, one small file per message. */
export class InboundJournal {
  #dir: string;
  #entries = new Map<number, JournalEntry>();
  #clock: Clock;
  #isKnownChat: (chatId: number) => boolean;

  /**
   * @param options.isKnownChat whether the bot serves a chat (an allowed
   * user's private chat or an allowed group); default: every chat
   */
  constructor(
    options: {
      dataDir: string;
      clock: Clock;
      isKnownChat?: (chatId: number) => boolean;
    },
  ) {
    this.#dir = join(options.dataDir, "journal");
    this.#clock = options.clock;
    this.#isKnownChat = options.isKnownChat ?? (() => true);
  }

  /**
   * Loads the journal. An entry that cannot be read, that names a chat the
   * bot does not serve, or that lies in another chat's folder is moved to
   * `journal/quarantine/` (and reported), so one bad or planted file never
   * runs nor blocks the others. Old done and interrupted entries are pruned.
   * Entries of the older flat layout move into their chat's folder.
   */
  async load(): Promise<{ quarantined: string[] }> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await removeTempFiles(this.#dir);
    const quarantined: string[] = [];
    for await (const item of Deno.readDir(this.#dir)) {
      if (item.name === QUARANTINE) continue;
      const path = join(this.#dir, item.name);
      if (item.isFile && item.name.endsWith(".json")) {
        const entry = await this.#read(path);
        if (entry) await Deno.rename(path, await this.#place(entry));
        else quarantined.push(await this.#quarantine(path));
      } else if (item.isDirectory) {
        await removeTempFiles(path);
        for await (const file of Deno.readDir(path)) {
          if (!file.isFile || !file.name.endsWith(".json")) continue;
          const filePath = join(path, file.name);
          const entry = await this.#read(filePath);
          if (entry && this.#path(entry) === filePath) continue;
          if (entry) this.#entries.delete(entry.id);
          quarantined.push(await this.#quarantine(filePath));
        }
      }
    }
    await this.#prune();
    return { quarantined };
  }

  /** A valid entry of a chat the bot serves, now known; undefined otherwise. */
  async #read(path: string): Promise<JournalEntry | undefined> {
    try {
      const entry = entrySchema.parse(
        JSON.parse(await Deno.readTextFile(path)),
      );
      const isConsistent =
        entry.chatKey === chatKeyOf(entry.chatId, entry.threadId) &&
        this.#isKnownChat(entry.chatId);
      if (!isConsistent) return undefined;
      this.#entries.set(entry.id, entry);
      return entry;
    } catch (error) {
      if (!(error instanceof SyntaxError || error instanceof z.ZodError)) {
        throw error;
      }
      return undefined;
    }
  }

  async #quarantine(path: string): Promise<string> {
    const dir = join(this.#dir, QUARANTINE);
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const target = join(
      dir,
      `${this.#clock.now()}-${path.split("/").slice(-2).join("-")}`,
    );
    await Deno.rename(path, target);
    return target;
  }

  /** True when this update was journaled before (a redelivery). */
  has(id: number): boolean {
    return this.#entries.has(id);
  }

  /** Entries in a state, oldest first. */
  list(state: JournalEntry["state"]): JournalEntry[] {
    return [...this.#entries.values()].filter((e) => e.state === state)
      .sort((a, b) => a.id - b.id);
  }

  /**
   * Records a new message (state queued) durably.
   * @throws {AtomicWriteError}
   */
  add(
    entry: Omit<JournalEntry, "state" | "receivedAt">,
  ): Promise<JournalEntry> {
    return this.#save({
      ...entry,
      state: "queued",
      receivedAt: this.#clock.now(),
    });
  }

  /** queued → running: the message is about to reach Claude. */
  async start(id: number): Promise<void> {
    await this.#move(id, "running");
  }

  /** → done: the turn's answer is out (or the message was refused). */
  async finish(id: number): Promise<void> {
    if (await this.#move(id, "done")) await this.#prune();
  }

  /** running → interrupted: the bot restarted while Claude worked on it, or its transcription failed; it waits for Retry. */
  async interrupt(id: number): Promise<void> {
    await this.#move(id, "interrupted");
  }

  /**
   * interrupted → queued, for Retry: the entry with `id`, or the chat's
   * latest interrupted one. Undefined when there is none in this chat.
   */
  async requeue(
    chatKey: string,
    id?: number,
  ): Promise<JournalEntry | undefined> {
    const entry = id === undefined
      ? this.list("interrupted").filter((e) => e.chatKey === chatKey).at(-1)
      : this.#entries.get(id);
    if (entry?.chatKey !== chatKey) return undefined;
    return await this.#move(entry.id, "queued");
  }

  /** Moves an entry durably if TRANSITIONS allow it; returns it moved, or undefined. */
  async #move(id: number, state: State): Promise<JournalEntry | undefined> {
    const entry = this.#entries.get(id);
    if (!entry || !TRANSITIONS[entry.state].includes(state)) return undefined;
    return await this.#save({
      ...entry,
      state,
      doneAt: state === "done" ? this.#clock.now() : undefined,
    });
  }

  async #save(entry: JournalEntry): Promise<JournalEntry> {
    await writeTextFileAtomic(await this.#place(entry), JSON.stringify(entry));
    this.#entries.set(entry.id, entry);
    return entry;
  }

  /** Where an entry lives: its chat's folder, named by its update id. */
  #path(entry: JournalEntry): string {
    return join(this.#dir, chatDirName(entry.chatKey), `${entry.id}.json`);
  }

  /** The entry's path, its chat's folder created if needed. */
  async #place(entry: JournalEntry): Promise<string> {
    const path = this.#path(entry);
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    return path;
  }

  async #prune(): Promise<void> {
    const nowMs = this.#clock.now();
    const isStale = (entry: JournalEntry) =>
      entry.state === "done"
        ? (entry.doneAt ?? 0) <= nowMs - KEEP_DONE_MS
        : entry.state === "interrupted" &&
          entry.receivedAt <= nowMs - KEEP_INTERRUPTED_MS;
    for (const entry of this.#entries.values()) {
      if (!isStale(entry)) continue;
      await Deno.remove(this.#path(entry)).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      this.#entries.delete(entry.id);
    }
  }
}
