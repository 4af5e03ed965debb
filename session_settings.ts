// What a user may set on a session and how it reaches Claude: the naming
// rule, the /timeout range, and the CLI settings a session record implies.
import type { SessionRecord } from "./store.ts";
import type { ClaudeSettings } from "./subprocess.ts";

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
