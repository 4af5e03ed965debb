// What a user may set on a session and how it reaches Claude: the naming
// rule, the /timeout range, each setting as a change to a session record,
// and the CLI settings a record implies.
import type { SessionRecord, Workspace } from "./store.ts";
import type { ClaudeSettings } from "./subprocess.ts";
import type { OutputMode } from "./turn.ts";

/** Session names: 1–32 of `[A-Za-z0-9_-]`, so they are safe as directory names. */
const SESSION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** The permission mode in which tool use is approved from the chat. */
const ASK_MODE = "ask";

/** Range of `/timeout`, in minutes. */
export const TIMEOUT_MINUTES = { min: 1, max: 120 } as const;

/** Whether `name` may name a session: 1–32 of `[A-Za-z0-9_-]`. */
export function isSessionName(name: string): boolean {
  return SESSION_NAME_PATTERN.test(name);
}

/**
 * A valid session name made from free text (a forum topic's title):
 * other characters become "-", at most 32; undefined when nothing is left.
 */
export function sessionNameFrom(text: string): string | undefined {
  const name = text.normalize("NFKD").replaceAll(/[^A-Za-z0-9_-]+/g, "-")
    .replaceAll(/^-+|-+$/g, "").slice(0, 32).replace(/-+$/, "");
  return name || undefined;
}

/** Whether `/timeout` accepts this many minutes: a whole number in TIMEOUT_MINUTES. */
export function isIdleTimeoutMinutes(minutes: number): boolean {
  return Number.isInteger(minutes) && minutes >= TIMEOUT_MINUTES.min &&
    minutes <= TIMEOUT_MINUTES.max;
}

/** The bot-wide settings a session's own settings fall back on. */
export interface ClaudeDefaults {
  /** CLAUDE_PERMISSION_MODE, for a session without its own. */
  permissionMode: string;
  /** CLAUDE_ALLOWED_TOOLS, the same for every session. */
  allowedTools: string[];
}

/** The CLI settings of a session's next Claude process. */
export function claudeSettings(
  record: SessionRecord,
  defaults: ClaudeDefaults,
): ClaudeSettings {
  return {
    resumeSessionId: record.claudeSessionId,
    model: record.model,
    appendSystemPrompt: record.systemPrompt,
    ...permissionFlags(record.permissionMode ?? defaults.permissionMode),
    allowedTools: defaults.allowedTools,
    maxBudgetUsd: record.maxBudgetUsd,
    addDirs: record.uploadDir ? [record.uploadDir] : undefined,
  };
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

/**
 * One change of a session's settings. `restartsProcess`: it is a CLI flag,
 * so a running process is replaced (resuming) at the next turn.
 */
export interface SettingChange {
  apply(record: SessionRecord): void;
  restartsProcess: boolean;
}

/**
 * The idle timeout; a running countdown adopts it at once.
 * @throws {RangeError} outside TIMEOUT_MINUTES or not a whole number
 */
export function idleTimeout(minutes: number): SettingChange {
  if (!isIdleTimeoutMinutes(minutes)) {
    throw new RangeError(
      `Cannot set idle timeout to "${minutes}" minutes: must be a whole number from ${TIMEOUT_MINUTES.min} to ${TIMEOUT_MINUTES.max}`,
    );
  }
  return change((r) => r.idleTimeoutMs = minutes * 60_000, false);
}

/** The output mode. */
export function outputMode(mode: OutputMode): SettingChange {
  return change((r) => r.outputMode = mode, false);
}

/** The model (undefined: the CLI's default). */
export function model(name: string | undefined): SettingChange {
  return change((r) => r.model = name, true);
}

/** The persona (undefined: none); the history is kept. */
export function persona(
  value: { name?: string; prompt: string } | undefined,
): SettingChange {
  return change((r) => {
    r.personaName = value?.name;
    r.systemPrompt = value?.prompt;
  }, true);
}

/** The permission mode ("ask": approvals on the phone). */
export function permissionMode(mode: string): SettingChange {
  return change((r) => r.permissionMode = mode, true);
}

/** --max-budget-usd (undefined: none). */
export function maxBudget(usd: number | undefined): SettingChange {
  return change((r) => r.maxBudgetUsd = usd, true);
}

/** "Always allow" a tool, from an approval button. */
export function alwaysAllowTool(tool: string): SettingChange {
  return change((r) => {
    if (!r.alwaysAllowedTools.includes(tool)) r.alwaysAllowedTools.push(tool);
  }, false);
}

/**
 * Another workspace. Claude keeps history per folder, so the conversation
 * starts fresh there.
 */
export function workspace(value: Workspace): SettingChange {
  return change((r) => {
    Object.assign(r, {
      project: undefined,
      repoPath: undefined,
      branch: undefined,
      isManagedWorktree: undefined,
      uploadDir: undefined,
    }, value);
    r.claudeSessionId = undefined;
  }, true);
}

/** Continue Claude's conversation `id` (one started in a terminal, say). */
export function conversation(id: string): SettingChange {
  return change((r) => r.claudeSessionId = id, true);
}

function change(
  apply: (record: SessionRecord) => unknown,
  restartsProcess: boolean,
): SettingChange {
  return { apply: (record) => void apply(record), restartsProcess };
}
