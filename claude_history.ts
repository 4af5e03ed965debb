// Claude Code's conversations recorded for a working dir, for /resume and
// /handoff: which sessions exist, newest first, how each one began, and the
// terminal command that continues one. Claude keeps them in
// `<config dir>/projects/<cwd, sanitised>/<id>.jsonl`.
import { join } from "node:path";

/** One recorded Claude Code conversation. */
export interface ClaudeSessionInfo {
  /** The session id that `claude --resume <id>` takes. */
  id: string;
  /** When the file last changed, in ms since the epoch. */
  modifiedAt: number;
  /**
   * The start of the first prompt the user typed, whitespace collapsed;
   * undefined when none was found near the start of the file.
   */
  firstPrompt?: string;
}

/** Options of {@linkcode listClaudeSessions}. */
export interface ListOptions {
  /** Most sessions returned; default 10 (what a /resume keyboard shows). */
  limit?: number;
  /** Longest `firstPrompt`, an ellipsis included; default 100. */
  maxPromptChars?: number;
}

/** Claude's session ids are UUIDs; anything else could climb out of the folder. */
const SESSION_ID =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Claude shortens longer folder names to this many characters plus "-<hash>". */
const MAX_SANITIZED_LENGTH = 200;

/** How much of a session file is read for its first prompt: big pastes are rare. */
const HEAD_BYTES = 1024 * 1024;

/** User records Claude writes itself: slash commands, shell escapes, their output, interruptions. */
const SYNTHETIC_PROMPT =
  /^(<(command-name|command-message|command-args|local-command-[a-z]+|bash-[a-z]+)>|\[Request interrupted)/;

/**
 * The folder name Claude gives a working dir: every character that is not an
 * ASCII letter or digit becomes "-" (`/tmp/a.b` → `-tmp-a-b`).
 */
export function claudeProjectFolderName(cwd: string): string {
  return cwd.replace(/[^a-zA-Z0-9]/g, "-");
}

/**
 * Lists the Claude Code sessions recorded for `cwd`, newest first, including
 * those started in a terminal. Files that are not sessions or cannot be
 * parsed are skipped; a missing folder gives an empty list.
 * @param configDir Claude's config dir (CLAUDE_CONFIG_DIR, else ~/.claude)
 * @param cwd the working dir, as the session's Claude runs in it
 */
export async function listClaudeSessions(
  configDir: string,
  cwd: string,
  options: ListOptions = {},
): Promise<ClaudeSessionInfo[]> {
  const limit = options.limit ?? 10;
  const maxPromptChars = options.maxPromptChars ?? 100;
  const files = await sessionFiles(configDir, cwd);
  files.sort((a, b) => b.modifiedAt - a.modifiedAt);
  const sessions: ClaudeSessionInfo[] = [];
  for (const file of files) {
    if (sessions.length >= limit) break;
    const head = await readSessionHead(file);
    if (head === undefined) continue;
    sessions.push({
      id: file.id,
      modifiedAt: file.modifiedAt,
      ...(head.firstPrompt === undefined
        ? {}
        : { firstPrompt: shorten(head.firstPrompt, maxPromptChars) }),
    });
  }
  return sessions;
}

/**
 * True when Claude has a readable session `id` recorded for `cwd`, so
 * `claude --resume <id>` started there will find it.
 */
export async function hasClaudeSession(
  configDir: string,
  cwd: string,
  id: string,
): Promise<boolean> {
  if (!SESSION_ID.test(id)) return false;
  const files = await sessionFiles(configDir, cwd);
  const file = files.find((candidate) => candidate.id === id);
  return file !== undefined && (await readSessionHead(file)) !== undefined;
}

/**
 * The shell command that continues session `id` in a terminal:
 * `cd '<cwd>' && claude --resume <id>`, with `CLAUDE_CONFIG_DIR='<dir>'`
 * before `claude` when `configDir` is given (resume finds a session only in
 * the config dir that recorded it). Paths are single-quoted for POSIX shells.
 * @param options.configDir pass it when the bot runs Claude with
 *   CLAUDE_CONFIG_DIR set; a terminal would otherwise look in ~/.claude
 * @throws {TypeError} when `id` is not a session id
 */
export function resumeCommand(
  cwd: string,
  id: string,
  options: { configDir?: string } = {},
): string {
  if (!SESSION_ID.test(id)) {
    throw new TypeError(`Cannot resume "${id}": not a session id`);
  }
  const env = options.configDir === undefined
    ? ""
    : `CLAUDE_CONFIG_DIR=${shellQuote(options.configDir)} `;
  return `cd ${shellQuote(cwd)} && ${env}claude --resume ${id}`;
}

/** Quotes `text` as one POSIX shell word: '…', with each ' written as '\''. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** A session file found on disk, not read yet. */
interface SessionFile {
  id: string;
  path: string;
  modifiedAt: number;
  /**
   * Working dirs the file's records must name: set when the folder was found
   * by a shortened name, which several long paths can share.
   */
  cwds?: ReadonlySet<string>;
}

/** The `.jsonl` session files in every folder Claude may have used for `cwd`. */
async function sessionFiles(
  configDir: string,
  cwd: string,
): Promise<SessionFile[]> {
  const projectsDir = join(configDir, "projects");
  // Claude names the folder after its process's cwd, where symlinks are
  // resolved; the bot may know the path with them.
  const cwds = new Set([cwd, await Deno.realPath(cwd).catch(() => cwd)]);
  const folders = new Map<string, ReadonlySet<string> | undefined>();
  for (const dir of cwds) {
    const name = claudeProjectFolderName(dir);
    if (name.length <= MAX_SANITIZED_LENGTH) {
      folders.set(join(projectsDir, name), undefined);
      continue;
    }
    const prefix = `${name.slice(0, MAX_SANITIZED_LENGTH)}-`;
    for (const entry of await readDirOrEmpty(projectsDir)) {
      if (entry.isDirectory && entry.name.startsWith(prefix)) {
        folders.set(join(projectsDir, entry.name), cwds);
      }
    }
  }
  const files: SessionFile[] = [];
  for (const [folder, requiredCwds] of folders) {
    for (const entry of await readDirOrEmpty(folder)) {
      const id = entry.name.replace(/\.jsonl$/, "");
      if (!entry.isFile || id === entry.name || !SESSION_ID.test(id)) continue;
      const path = join(folder, entry.name);
      const info = await Deno.stat(path).catch(() => undefined);
      if (info?.mtime == null) continue;
      files.push({
        id,
        path,
        modifiedAt: info.mtime.getTime(),
        ...(requiredCwds === undefined ? {} : { cwds: requiredCwds }),
      });
    }
  }
  return files;
}

/**
 * Reads the start of a session file: undefined when it holds no Claude
 * record there (garbled, empty, or someone else's long-path folder).
 */
async function readSessionHead(
  file: SessionFile,
): Promise<{ firstPrompt?: string } | undefined> {
  let text: string;
  try {
    text = new TextDecoder().decode(await readHead(file.path, HEAD_BYTES));
  } catch (error) {
    // Deleted or unreadable since it was listed: not a session to offer.
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (error instanceof Deno.errors.PermissionDenied) return undefined;
    throw error;
  }
  const requiredCwds = file.cwds;
  let isSession = false;
  let isCwdConfirmed = requiredCwds === undefined;
  let firstPrompt: string | undefined;
  for (const line of text.split("\n")) {
    const record = parseRecord(line);
    if (record === undefined) continue;
    if (!isCwdConfirmed && typeof record.cwd === "string") {
      if (!requiredCwds?.has(record.cwd)) return undefined;
      isCwdConfirmed = true;
    }
    isSession = true;
    firstPrompt ??= promptText(record);
    if (firstPrompt !== undefined && isCwdConfirmed) break;
  }
  if (!isSession || !isCwdConfirmed) return undefined;
  return firstPrompt === undefined ? {} : { firstPrompt };
}

/** A line that is a Claude record (an object with a type and a session id); else undefined. */
function parseRecord(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    // A line cut off by a write in progress or garbled: skip it.
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.type !== "string") return undefined;
  if (typeof record.sessionId !== "string") return undefined;
  return record;
}

/**
 * The text the user typed, when `record` is such a prompt: not meta, not a
 * side chain, not a tool result, not a slash command or its output, with
 * system reminders removed.
 */
function promptText(record: Record<string, unknown>): string | undefined {
  if (record.type !== "user" || record.isMeta === true) return undefined;
  if (record.isSidechain === true || "toolUseResult" in record) {
    return undefined;
  }
  const message = record.message as Record<string, unknown> | undefined;
  if (message?.role !== "user") return undefined;
  const content = message.content;
  let texts: string[];
  if (typeof content === "string") {
    texts = [content];
  } else if (Array.isArray(content)) {
    const blocks = content.filter((block) =>
      typeof block === "object" && block !== null
    ) as Record<string, unknown>[];
    if (blocks.some((block) => block.type === "tool_result")) return undefined;
    texts = blocks.filter((block) => block.type === "text")
      .map((block) => block.text)
      .filter((text): text is string => typeof text === "string");
  } else {
    return undefined;
  }
  for (const raw of texts) {
    const text = raw.replace(
      /<system-reminder>[\s\S]*?<\/system-reminder>/g,
      "",
    )
      .trim();
    if (text !== "" && !SYNTHETIC_PROMPT.test(text)) return text;
  }
  return undefined;
}

/** Collapses whitespace and cuts `text` to `maxChars`, an ellipsis included. */
function shorten(text: string, maxChars: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  const chars = [...flat];
  if (chars.length <= maxChars) return flat;
  return `${chars.slice(0, Math.max(0, maxChars - 1)).join("").trimEnd()}…`;
}

/** The first `maxBytes` of a file (all of it when shorter). */
async function readHead(path: string, maxBytes: number): Promise<Uint8Array> {
  using file = await Deno.open(path);
  const buffer = new Uint8Array(maxBytes);
  let length = 0;
  while (length < maxBytes) {
    const read = await file.read(buffer.subarray(length));
    if (read === null) break;
    length += read;
  }
  return buffer.subarray(0, length);
}

async function readDirOrEmpty(dir: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) entries.push(entry);
  } catch (error) {
    // No session recorded yet for this dir: nothing to list.
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return entries;
}
