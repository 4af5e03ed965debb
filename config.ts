// Validates the bot's environment into a typed Config, naming the bad variable.
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";

/**
 * Permission modes: "ask" (ours: every tool that needs approval is asked on
 * the phone) plus the modes the CLI accepts for `--permission-mode`.
 */
export const PERMISSION_MODES = [
  "ask",
  "acceptEdits",
  "auto",
  "bypassPermissions",
  "default",
  "dontAsk",
  "plan",
] as const;

/** One of the CLI's permission modes. */
export type PermissionMode = typeof PERMISSION_MODES[number];

/** Every environment variable the bot itself reads; none of them reaches Claude. */
export const BOT_ENV_VARS = [
  "TELEGRAM_BOT_TOKEN",
  "TELEGRAM_API_ROOT",
  "ALLOWED_USER_IDS",
  "ALLOWED_CHAT_IDS",
  "CLAUDE_BIN",
  "DATA_DIR",
  "PROJECTS_DIRS",
  "IDLE_TIMEOUT_SECONDS",
  "SHUTDOWN_GRACE_SECONDS",
  "CLAUDE_PERMISSION_MODE",
  "CLAUDE_MODEL",
  "CLAUDE_ALLOWED_TOOLS",
  "MAX_UPLOAD_MB",
  "HUNG_TURN_MINUTES",
  "APPROVAL_TIMEOUT_SECONDS",
  "DAILY_BUDGET_USD",
  "TRANSCRIBE_API_URL",
  "TRANSCRIBE_API_KEY",
  "TRANSCRIBE_MODEL",
  "CLAUDE_SANDBOX",
  "CLAUDE_SANDBOX_WRITABLE",
  "CLAUDE_SANDBOX_HIDE",
  "CLAUDE_SANDBOX_NETWORK",
] as const;

/** CLAUDE_SANDBOX: `auto` sandboxes Claude when bubblewrap works, `on` requires it, `off` never. */
export const SANDBOX_MODES = ["auto", "on", "off"] as const;

/** The bot's validated settings. */
export interface Config {
  botToken: string;
  /** Bot API base URL without a trailing slash. */
  apiRoot: string;
  allowedUserIds: ReadonlySet<number>;
  /** Group chats the bot acts in; private chats with allowed users always work. */
  allowedChatIds: ReadonlySet<number>;
  claudeBin: string;
  /** Absolute path of the data directory. */
  dataDir: string;
  /** Absolute folders whose git repositories are projects; empty: none. */
  projectsDirs: string[];
  /**
   * Where Claude keeps its sessions: CLAUDE_CONFIG_DIR (shared with Claude,
   * so not a bot-only variable), else $HOME/.claude; undefined when neither
   * is set.
   */
  claudeConfigDir?: string;
  idleTimeoutMs: number;
  shutdownGraceMs: number;
  permissionMode: PermissionMode;
  /** Model for new sessions; undefined lets the CLI choose. */
  defaultModel?: string;
  allowedTools: string[];
  maxUploadBytes: number;
  /** Silence in a running turn after which the user is told it seems stuck. */
  hungTurnMs: number;
  /** An unanswered tool approval is denied after this long. */
  approvalTimeoutMs: number;
  /** Spending cap of all sessions per UTC day; undefined: none. */
  dailyBudgetUsd?: number;
  /** Voice transcription; undefined when TRANSCRIBE_API_URL is unset. */
  transcription?: TranscriptionConfig;
  /** CLAUDE_SANDBOX (default auto). */
  sandboxMode: typeof SANDBOX_MODES[number];
  /** CLAUDE_SANDBOX_WRITABLE: absolute paths Claude may also write (`~/` expanded). */
  sandboxWritable: string[];
  /** CLAUDE_SANDBOX_HIDE: absolute paths Claude must not see (`~/` expanded). */
  sandboxHide: string[];
  /** CLAUDE_SANDBOX_NETWORK: the only domains Claude may reach; empty: any. */
  sandboxNetwork: string[];
}

/** Where voice notes are transcribed (an OpenAI-compatible API). */
export interface TranscriptionConfig {
  /** Base URL without a trailing slash, e.g. https://api.openai.com/v1. */
  apiUrl: string;
  /** Sent as a Bearer token; a self-hosted server may need none. */
  apiKey?: string;
  model: string;
}

const integerIn = (min: number, max: number) =>
  z.string().trim().regex(/^\d+$/, "must be a whole number").transform(Number)
    .pipe(
      z.number().int().min(min, `must be at least ${min}`).max(
        max,
        `must be at most ${max}`,
      ),
    );

const idList = z.string({ error: "is required" }).transform((text, ctx) => {
  const ids = text.split(",").map((part) => part.trim()).filter(Boolean);
  const bad = ids.find((id) => !/^-?\d{1,20}$/.test(id));
  if (bad !== undefined) {
    ctx.addIssue({
      code: "custom",
      message: `"${bad}" is not a numeric Telegram id`,
    });
    return z.NEVER;
  }
  return new Set(ids.map(Number));
});

/** Comma-separated absolute paths; `~/…` stays for parseConfig to expand against HOME. */
function sandboxPaths() {
  return z.string().default("").transform((text, ctx) => {
    const paths = text.split(",").map((path) => path.trim()).filter(Boolean);
    const bad = paths.find((path) =>
      !isAbsolute(path) && !path.startsWith("~/")
    );
    if (bad !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: `must list absolute paths (or ~/…): "${bad}" is relative`,
      });
      return z.NEVER;
    }
    return paths;
  });
}

const envSchema = z.object({
  TELEGRAM_BOT_TOKEN: z.string({ error: "is required" }).trim().regex(
    /^\d+:[\w-]{20,}$/,
    "does not look like a bot token (123456:ABC…)",
  ),
  ALLOWED_USER_IDS: idList.refine((ids) => ids.size > 0, {
    error: "must list at least one Telegram user id",
  }),
  ALLOWED_CHAT_IDS: idList.default(new Set<number>()),
  TELEGRAM_API_ROOT: z.url({
    protocol: /^https?$/,
    error: "must be an http(s) URL",
  }).default("https://api.telegram.org")
    .transform((url) => url.replace(/\/+$/, "")),
  CLAUDE_BIN: z.string().trim().min(1).default("claude"),
  DATA_DIR: z.string().trim().min(1).default("./data"),
  PROJECTS_DIRS: z.string().default("").transform((text, ctx) => {
    const dirs = text.split(",").map((dir) => dir.trim()).filter(Boolean);
    const relative = dirs.find((dir) => !isAbsolute(dir));
    if (relative !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: `must list absolute folders: "${relative}" is relative`,
      });
      return z.NEVER;
    }
    return dirs.map((dir) => resolve(dir));
  }),
  IDLE_TIMEOUT_SECONDS: integerIn(1, 365 * 24 * 3600).default(600),
  SHUTDOWN_GRACE_SECONDS: integerIn(0, 600).default(10),
  CLAUDE_PERMISSION_MODE: z.enum(PERMISSION_MODES, {
    error: `must be one of ${PERMISSION_MODES.join(", ")}`,
  }).default("ask"),
  CLAUDE_MODEL: z.string().trim().optional(),
  CLAUDE_ALLOWED_TOOLS: z.string().default(""),
  MAX_UPLOAD_MB: integerIn(1, 2000).default(20),
  HUNG_TURN_MINUTES: integerIn(1, 24 * 60).default(10),
  APPROVAL_TIMEOUT_SECONDS: integerIn(10, 24 * 3600).default(600),
  DAILY_BUDGET_USD: z.string().trim().regex(
    /^\d+(\.\d+)?$/,
    "must be an amount in dollars, e.g. 5 or 2.50",
  ).transform(Number).pipe(z.number().positive("must be more than 0"))
    .optional(),
  TRANSCRIBE_API_URL: z.url({
    protocol: /^https?$/,
    error: "must be an http(s) URL",
  }).transform((url) => url.replace(/\/+$/, "")).optional(),
  TRANSCRIBE_API_KEY: z.string().trim().optional(),
  TRANSCRIBE_MODEL: z.string().trim().default("whisper-1"),
  CLAUDE_SANDBOX: z.enum(SANDBOX_MODES, {
    error: `must be one of ${SANDBOX_MODES.join(", ")}`,
  }).default("auto"),
  CLAUDE_SANDBOX_WRITABLE: sandboxPaths(),
  CLAUDE_SANDBOX_HIDE: sandboxPaths(),
  CLAUDE_SANDBOX_NETWORK: z.string().default("").transform((text, ctx) => {
    const domains = text.split(",").map((d) => d.trim()).filter(Boolean);
    const bad = domains.find((domain) =>
      !/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?$/i.test(domain)
    );
    if (bad !== undefined) {
      ctx.addIssue({
        code: "custom",
        message:
          `must list domains (example.com, *.example.com): "${bad}" is not one`,
      });
      return z.NEVER;
    }
    return domains;
  }),
});

/** Thrown when the environment does not describe a usable configuration. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** One line per problem, each naming its variable. */
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`Invalid configuration: ${problems.join("; ")}`);
    this.problems = problems;
  }
}

/**
 * Parses the bot's configuration from environment variables.
 * @param env variable name → value; missing, empty and blank values count as unset
 * @param cwd base for a relative DATA_DIR
 * @throws {ConfigError} naming every bad variable
 */
export function parseConfig(
  env: Record<string, string | undefined>,
  cwd: string,
): Config {
  const present = Object.fromEntries(
    BOT_ENV_VARS.map((name) => [name, env[name]?.trim() || undefined]),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) =>
        `${issue.path.join(".")} ${issue.message}`
      ),
    );
  }
  const v = parsed.data;
  const home = env.HOME?.trim();
  const homeProblems =
    (["CLAUDE_SANDBOX_WRITABLE", "CLAUDE_SANDBOX_HIDE"] as const)
      .filter((name) =>
        v[name].some((path) => path.startsWith("~/")) &&
        !(home && isAbsolute(home))
      ).map((name) => `${name} uses ~/ but HOME is not an absolute path`);
  if (homeProblems.length > 0) throw new ConfigError(homeProblems);
  const expand = (paths: string[]) =>
    paths.map((path) =>
      resolve(path.startsWith("~/") ? join(home!, path.slice(2)) : path)
    );
  return {
    botToken: v.TELEGRAM_BOT_TOKEN,
    apiRoot: v.TELEGRAM_API_ROOT,
    allowedUserIds: v.ALLOWED_USER_IDS,
    allowedChatIds: v.ALLOWED_CHAT_IDS,
    claudeBin: v.CLAUDE_BIN,
    dataDir: isAbsolute(v.DATA_DIR) ? v.DATA_DIR : resolve(cwd, v.DATA_DIR),
    projectsDirs: v.PROJECTS_DIRS,
    claudeConfigDir: claudeConfigDir(env),
    idleTimeoutMs: v.IDLE_TIMEOUT_SECONDS * 1000,
    shutdownGraceMs: v.SHUTDOWN_GRACE_SECONDS * 1000,
    permissionMode: v.CLAUDE_PERMISSION_MODE,
    defaultModel: v.CLAUDE_MODEL || undefined,
    allowedTools: v.CLAUDE_ALLOWED_TOOLS.split(",").map((t) => t.trim())
      .filter(Boolean),
    maxUploadBytes: v.MAX_UPLOAD_MB * 1024 * 1024,
    hungTurnMs: v.HUNG_TURN_MINUTES * 60_000,
    approvalTimeoutMs: v.APPROVAL_TIMEOUT_SECONDS * 1000,
    dailyBudgetUsd: v.DAILY_BUDGET_USD,
    transcription: v.TRANSCRIBE_API_URL === undefined ? undefined : {
      apiUrl: v.TRANSCRIBE_API_URL,
      apiKey: v.TRANSCRIBE_API_KEY || undefined,
      model: v.TRANSCRIBE_MODEL,
    },
    sandboxMode: v.CLAUDE_SANDBOX,
    sandboxWritable: expand(v.CLAUDE_SANDBOX_WRITABLE),
    sandboxHide: expand(v.CLAUDE_SANDBOX_HIDE),
    sandboxNetwork: v.CLAUDE_SANDBOX_NETWORK,
  };
}

/**
 * Claude's config dir as Claude itself finds it: CLAUDE_CONFIG_DIR, else
 * $HOME/.claude; undefined when neither is set.
 * @throws {ConfigError} when CLAUDE_CONFIG_DIR is relative (each Claude would
 *   resolve it from its own session folder)
 */
function claudeConfigDir(
  env: Record<string, string | undefined>,
): string | undefined {
  const configured = env.CLAUDE_CONFIG_DIR?.trim();
  if (configured) {
    if (isAbsolute(configured)) return configured;
    throw new ConfigError([
      `CLAUDE_CONFIG_DIR must be an absolute path: "${configured}" is relative`,
    ]);
  }
  const home = env.HOME?.trim();
  return home ? join(home, ".claude") : undefined;
}

/**
 * Builds the base of Claude's environment: the bot's own minus every variable
 * the bot reads and every TELEGRAM_* one (the token above all: the model can
 * read its environment through Bash). PATH, HOME, ANTHROPIC_*, CLAUDE_CODE_*,
 * proxies and cloud credentials pass unchanged.
 */
export function claudeBaseEnvironment(
  env: Record<string, string | undefined>,
): Record<string, string> {
  const botOnly = new Set<string>(BOT_ENV_VARS);
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || botOnly.has(name)) continue;
    if (name.startsWith("TELEGRAM_")) continue;
    result[name] = value;
  }
  return result;
}
