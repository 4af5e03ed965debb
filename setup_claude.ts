// The set-up wizard's first step: is the Claude Code CLI installed, which
// version, and does it look logged in? Returns data; setup.ts words it.
import { join } from "node:path";
import { runCommand, type SpawnFn } from "./spawner.ts";

/** How to install the CLI, shown when it is missing. */
export const CLAUDE_INSTALL_COMMAND =
  "npm install -g @anthropic-ai/claude-code";

/** Variables that log Claude Code in without a credentials file. */
const CLAUDE_KEY_VARS = [
  "ANTHROPIC_API_KEY",
  "CLAUDE_CODE_OAUTH_TOKEN",
] as const;

/** The variables {@linkcode checkClaude} reads. */
export const CLAUDE_CHECK_VARS = [
  "CLAUDE_BIN",
  "CLAUDE_CONFIG_DIR",
  "HOME",
  ...CLAUDE_KEY_VARS,
] as const;

// `claude --version` answers at once; a hung one must not hang the wizard.
const VERSION_TIMEOUT_MS = 15_000;

/** What the wizard found out about the CLI. */
export interface ClaudeCheck {
  /** CLAUDE_BIN, or "claude". */
  bin: string;
  cli:
    | { kind: "found"; version: string }
    | { kind: "missing" }
    /** It exists but `--version` failed: not executable, crashed, hung. */
    | { kind: "broken"; detail: string };
  login:
    | { kind: "key"; variable: string }
    | { kind: "credentials"; path: string }
    | { kind: "none"; path?: string };
}

/**
 * Where Claude Code keeps its login: `$CLAUDE_CONFIG_DIR/.credentials.json`,
 * else `~/.claude/.credentials.json`; undefined without HOME.
 */
export function claudeCredentialsPath(
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const configDir = env.CLAUDE_CONFIG_DIR?.trim() ||
    (env.HOME?.trim() ? join(env.HOME.trim(), ".claude") : undefined);
  return configDir === undefined
    ? undefined
    : join(configDir, ".credentials.json");
}

/**
 * Runs `<CLAUDE_BIN> --version` and looks for a login: an API key or OAuth
 * token in `env`, else the credentials file. Never throws for a missing or
 * broken CLI: the wizard goes on without it.
 */
export async function checkClaude(
  env: Readonly<Record<string, string | undefined>>,
  options: { spawn: SpawnFn },
): Promise<ClaudeCheck> {
  const bin = env.CLAUDE_BIN?.trim() || "claude";
  return {
    bin,
    cli: await probeCli(bin, options.spawn),
    login: await login(env),
  };
}

async function probeCli(
  bin: string,
  spawn: SpawnFn,
): Promise<ClaudeCheck["cli"]> {
  try {
    const output = await runCommand(spawn, bin, {
      args: ["--version"],
      timeoutMs: VERSION_TIMEOUT_MS,
    });
    const version = output.stdout.trim().split("\n")[0]?.trim();
    if (output.code === 0 && version) return { kind: "found", version };
    const said = (output.stderr.trim() || output.stdout.trim()).split("\n")[0];
    return {
      kind: "broken",
      detail: `\`${bin} --version\` exited with code ${output.code}` +
        (said ? `: ${said}` : ""),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "missing" };
    // Not executable, or not allowed to run (NotCapable): it exists but
    // cannot be used as it is.
    if (error instanceof Error) {
      return {
        kind: "broken",
        detail: `cannot run "${bin}": ${error.message}`,
      };
    }
    throw error;
  }
}

async function login(
  env: Readonly<Record<string, string | undefined>>,
): Promise<ClaudeCheck["login"]> {
  const variable = CLAUDE_KEY_VARS.find((name) => env[name]?.trim());
  if (variable !== undefined) return { kind: "key", variable };
  const path = claudeCredentialsPath(env);
  if (path === undefined) return { kind: "none" };
  try {
    const info = await Deno.stat(path);
    return info.isFile ? { kind: "credentials", path } : { kind: "none", path };
  } catch (error) {
    // Missing, or outside what the wizard may read: either way no login seen.
    if (
      error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) {
      return { kind: "none", path };
    }
    throw error;
  }
}
