// Start-task launcher: validates the configuration, then prints the narrowest
// `deno run` arguments for main.ts, derived from that configuration.
import { existsSync } from "node:fs";
import {
  BOT_ENV_VARS,
  claudeBaseEnvironment,
  type Config,
  ConfigError,
  parseConfig,
} from "./config.ts";

/** The option of main.ts that names the variables it passes on to Claude. */
export const CLAUDE_ENV_OPTION = "--claude-env=";

/** Binaries the bot runs besides Claude: procps `ps` and `kill` (see README, Permissions). */
export const HELPER_BINARIES = ["ps", "kill"] as const;

/**
 * The `deno run` arguments (flags, script and script options) for main.ts.
 * @throws {ConfigError} when a path contains whitespace, which the task shell would split
 */
export function mainRunArgs(
  config: Config,
  options: { claudeEnvNames: string[]; envFile?: string },
): string[] {
  for (
    const [name, path] of [["DATA_DIR", config.dataDir], [
      "CLAUDE_BIN",
      config.claudeBin,
    ]]
  ) {
    if (/\s/.test(path)) {
      throw new ConfigError([`${name} must not contain whitespace: "${path}"`]);
    }
  }
  const envNames = [...new Set([...BOT_ENV_VARS, ...options.claudeEnvNames])];
  return [
    "--no-prompt",
    ...(options.envFile ? [`--env-file=${options.envFile}`] : []),
    `--allow-net=${new URL(config.apiRoot).host}`,
    `--allow-read=${config.dataDir}`,
    `--allow-write=${config.dataDir}`,
    `--allow-env=${envNames.join(",")}`,
    `--allow-run=${[config.claudeBin, ...HELPER_BINARIES].join(",")}`,
    new URL("./main.ts", import.meta.url).pathname,
    `${CLAUDE_ENV_OPTION}${options.claudeEnvNames.join(",")}`,
  ];
}

/** Names of the variables Claude inherits; odd names are dropped (Deno would refuse them as flags). */
export function claudeEnvNames(env: Record<string, string>): string[] {
  return Object.keys(claudeBaseEnvironment(env))
    .filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    .sort();
}

if (import.meta.main) {
  const env = Deno.env.toObject();
  try {
    const config = parseConfig(env, Deno.cwd());
    const envFile = existsSync(".env") ? ".env" : undefined;
    console.log(
      mainRunArgs(config, { claudeEnvNames: claudeEnvNames(env), envFile })
        .join(" "),
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(
      "claude-telegram cannot start, the configuration is invalid:",
    );
    for (const problem of error.problems) console.error(`  - ${problem}`);
    console.error("See README.md, Configuration.");
    Deno.exit(1);
  }
}
