// Start-task launcher: validates the configuration, then prints the narrowest
// `deno run` arguments for main.ts, derived from that configuration.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";
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
const HELPER_BINARIES = ["ps", "kill"] as const;

/**
 * The `deno run` arguments (flags, script and script options) for main.ts.
 * @throws {ConfigError} when DATA_DIR or CLAUDE_BIN contains whitespace (the
 * task shell would split it) or a comma (Deno splits permission lists on it)
 * @throws {RangeError} when the path of main.ts contains whitespace
 */
export function mainRunArgs(
  config: Config,
  options: { claudeEnvNames: string[]; envFile?: string },
): string[] {
  const problems = [["DATA_DIR", config.dataDir], [
    "CLAUDE_BIN",
    config.claudeBin,
  ]].filter(([, path]) => /[\s,]/.test(path)).map(([name, path]) =>
    `${name} must not contain whitespace or commas: "${path}"`
  );
  if (problems.length > 0) throw new ConfigError(problems);
  const mainPath = fileURLToPath(new URL("./main.ts", import.meta.url));
  if (/\s/.test(mainPath)) {
    throw new RangeError(
      `Cannot start from "${mainPath}": move the bot to a path without whitespace`,
    );
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
    mainPath,
    `${CLAUDE_ENV_OPTION}${options.claudeEnvNames.join(",")}`,
  ];
}

/**
 * The environment main.ts will see when started with `--env-file`: the
 * file's variables under the process's own, which win as they do for Deno.
 * @param envFileText the file's text, or undefined when there is none
 */
export function withEnvFile(
  env: Record<string, string>,
  envFileText: string | undefined,
): Record<string, string> {
  if (envFileText === undefined) return env;
  const fromFile: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseEnv(envFileText))) {
    if (value !== undefined) fromFile[name] = value;
  }
  return { ...fromFile, ...env };
}

/** Names of the variables Claude inherits; odd names are dropped (Deno would refuse them as flags). */
export function claudeEnvNames(env: Record<string, string>): string[] {
  return Object.keys(claudeBaseEnvironment(env))
    .filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    .sort();
}

if (import.meta.main) {
  const envFile = existsSync(".env") ? ".env" : undefined;
  // main.ts gets the file through --env-file; this check must see it too.
  const env = withEnvFile(
    Deno.env.toObject(),
    envFile && Deno.readTextFileSync(envFile),
  );
  try {
    const config = parseConfig(env, Deno.cwd());
    console.log(
      mainRunArgs(config, { claudeEnvNames: claudeEnvNames(env), envFile })
        .join(" "),
    );
  } catch (error) {
    if (error instanceof RangeError) {
      console.error(`claude-telegram cannot start: ${error.message}`);
      Deno.exit(1);
    }
    if (!(error instanceof ConfigError)) throw error;
    console.error(
      "claude-telegram cannot start, the configuration is invalid:",
    );
    for (const problem of error.problems) console.error(`  - ${problem}`);
    console.error("See README.md, Configuration.");
    Deno.exit(1);
  }
}
