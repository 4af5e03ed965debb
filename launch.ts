// Start- and setup-task launcher: validates the configuration, then prints
// the narrowest `deno run` arguments for main.ts (or for the set-up wizard,
// setup.ts), derived from that configuration.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  BOT_ENV_VARS,
  claudeBaseEnvironment,
  type Config,
  ConfigError,
  parseConfig,
} from "./config.ts";
import {
  DEFAULT_API_ROOT,
  SETUP_DIR_OPTION,
  SETUP_ENV_VARS,
  SETUP_THEN_START_OPTION,
} from "./setup.ts";
import { claudeCredentialsPath } from "./setup_claude.ts";
import { envFileValues } from "./setup_env_file.ts";
import { loaderProblem } from "./preflight.ts";
import { SANDBOX_BIN } from "./sandbox_bwrap.ts";
import { type ClaudeConfigPaths, claudeConfigPaths } from "./sandbox_spec.ts";
import { isAbsolute, join } from "node:path";
import { SANDBOX_RUNTIME_BIN } from "./sandbox_runtime.ts";

/** The option of main.ts that names the variables it passes on to Claude. */
export const CLAUDE_ENV_OPTION = "--claude-env=";

/**
 * Binaries the bot runs besides Claude: procps `ps` and `kill`, and `git`
 * for projects (see README, Permissions).
 */
const HELPER_BINARIES = ["ps", "kill", "git"] as const;

/**
 * V8 flags of the bot: lite mode runs JavaScript without the optimizing
 * compilers, which saves about 10 MB of resident memory (BENCHMARKS.md); the
 * bot waits on the network and on Claude, not on JavaScript.
 */
export const BOT_V8_FLAGS = ["--lite-mode"] as const;

/**
 * The `deno run` arguments (flags, script and script options) for main.ts.
 * @throws {ConfigError} when DATA_DIR or CLAUDE_BIN contains whitespace (the
 * task shell would split it) or a comma (Deno splits permission lists on it)
 * @throws {RangeError} when the path of main.ts contains whitespace
 */
export function mainRunArgs(
  config: Config,
  options: {
    claudeEnvNames: string[];
    envFile?: string;
    /** Where the bot runs: its `.env` is hidden from a sandboxed Claude. */
    botDir: string;
    /** Claude's config, which a sandboxed Claude must be able to write. */
    claudeConfig?: ClaudeConfigPaths;
  },
): string[] {
  // The sandbox reads what it binds and masks, and creates Claude's config
  // when it is missing (Claude cannot in a read-only HOME).
  const isSandboxed = config.sandboxMode !== "off";
  // srt runs the sandbox when the network is restricted, bwrap otherwise.
  const engine = !isSandboxed
    ? undefined
    : config.sandboxNetwork.length > 0
    ? SANDBOX_RUNTIME_BIN
    : SANDBOX_BIN;
  const claudeConfig = isSandboxed && options.claudeConfig
    ? [options.claudeConfig.dir, options.claudeConfig.file].filter((p) =>
      p !== undefined
    )
    : [];
  const readable = [
    config.dataDir,
    ...claudeConfig,
    // Projects: the repositories (/get, /diff), and the conversations
    // Claude recorded (/resume).
    ...config.projectsDirs,
    ...(config.claudeConfigDir
      ? [join(config.claudeConfigDir, "projects")]
      : []),
    // The bwrap sandbox looks up what it binds and masks (srt does that
    // itself), and the program when it lies under /tmp.
    ...(engine === SANDBOX_BIN
      ? [
        join(options.botDir, ".env"),
        ...(isAbsolute(config.claudeBin) ? [config.claudeBin] : []),
        ...config.sandboxWritable,
        ...config.sandboxHide,
      ]
      : []),
  ];
  const writable = [config.dataDir, ...claudeConfig];
  // Each path once, under the first name it has.
  const named = new Map<string, string>();
  for (
    const [name, path] of [
      ["DATA_DIR", config.dataDir],
      ["CLAUDE_BIN", config.claudeBin],
      ...readable.map((path) => ["a path the bot reads", path]),
    ]
  ) if (!named.has(path)) named.set(path, name);
  const problems = [...named].filter(([path]) => /[\s,]/.test(path))
    .map(([path, name]) =>
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
  // The transcription host only when voice is configured; the bot token
  // never goes there (transcribe.ts sends only the audio and the model).
  const hosts = new Set([
    new URL(config.apiRoot).host,
    ...(config.transcription
      ? [new URL(config.transcription.apiUrl).host]
      : []),
  ]);
  return [
    "--no-prompt",
    `--v8-flags=${BOT_V8_FLAGS.join(",")}`,
    // Deno's cache of compiled code is a database mapped into memory (about
    // 3 MB resident); the bot's JavaScript compiles in milliseconds without it.
    "--no-code-cache",
    ...(options.envFile ? [`--env-file=${options.envFile}`] : []),
    `--allow-net=${[...hosts].join(",")}`,
    `--allow-read=${[...new Set(readable)].join(",")}`,
    `--allow-write=${[...new Set(writable)].join(",")}`,
    `--allow-env=${envNames.join(",")}`,
    `--allow-run=${
      [
        config.claudeBin,
        ...HELPER_BINARIES,
        ...(engine ? [engine] : []),
      ].join(",")
    }`,
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
  return { ...envFileValues(envFileText), ...env };
}

/** Names of the variables Claude inherits; odd names are dropped (Deno would refuse them as flags). */
export function claudeEnvNames(env: Record<string, string>): string[] {
  return Object.keys(claudeBaseEnvironment(env))
    .filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    .sort();
}

/** Launcher mode: print the set-up wizard's arguments (`deno task setup`). */
export const SETUP_MODE = "--setup";

/**
 * Launcher mode of the start task, before the bot: prints
 * {@linkcode CONFIGURED_OUTPUT} when a token is configured; the wizard's
 * arguments when there is none and stdin is a terminal; otherwise nothing on
 * stdout, one line on stderr naming `deno task setup`, and exit code 1.
 */
export const SETUP_IF_UNCONFIGURED_MODE = "--setup-if-unconfigured";

/**
 * What {@linkcode SETUP_IF_UNCONFIGURED_MODE} prints when no set-up is
 * needed. Never empty: the task shell ignores the exit code of `X=$(…)`, so
 * the start task reads an empty output as failure.
 */
export const CONFIGURED_OUTPUT = "configured";

/** What the start task says, on one line, when there is no token and no terminal to ask for one. */
export const NOT_SET_UP_MESSAGE =
  "claude-telegram is not set up (no TELEGRAM_BOT_TOKEN): run `deno task setup` in a terminal, or see README.md, Configuration";

/**
 * The `deno run` arguments for the set-up wizard, setup.ts: the Bot API host,
 * read and write in `dir` (.env and its temp file), read of Claude Code's
 * credentials file, the wizard's own variables, and CLAUDE_BIN for
 * `--version`.
 * @param options.dir where .env is written: the start task's cwd, next to deno.json
 * @param options.thenStart the start task runs the bot afterwards
 * @throws {ConfigError} when TELEGRAM_API_ROOT is not an http(s) URL, or
 *   CLAUDE_BIN contains whitespace or a comma
 * @throws {RangeError} when `dir` or the path of setup.ts contains whitespace
 *   or a comma
 */
export function setupRunArgs(
  env: Record<string, string | undefined>,
  options: { dir: string; thenStart?: boolean },
): string[] {
  const apiRoot = env.TELEGRAM_API_ROOT?.trim() || DEFAULT_API_ROOT;
  const claudeBin = env.CLAUDE_BIN?.trim() || "claude";
  const problems: string[] = [];
  const apiUrl = URL.parse(apiRoot);
  if (!apiUrl || !/^https?:$/.test(apiUrl.protocol)) {
    problems.push("TELEGRAM_API_ROOT must be an http(s) URL");
  }
  if (/[\s,]/.test(claudeBin)) {
    problems.push(
      `CLAUDE_BIN must not contain whitespace or commas: "${claudeBin}"`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const setupPath = fileURLToPath(new URL("./setup.ts", import.meta.url));
  for (const path of [options.dir, setupPath]) {
    if (/[\s,]/.test(path)) {
      throw new RangeError(
        `Cannot set up from "${path}": move the bot to a path without whitespace or commas`,
      );
    }
  }
  // A credentials path the flags cannot carry is left out: the wizard then
  // reports no login seen, which is only advice.
  const credentials = claudeCredentialsPath(env);
  const readable = credentials && !/[\s,]/.test(credentials)
    ? [options.dir, credentials]
    : [options.dir];
  return [
    // Deno's "Info Failed to resolve … for allow-run" when CLAUDE_BIN is
    // missing would only repeat what the wizard says.
    "--quiet",
    "--no-prompt",
    `--allow-net=${apiUrl!.host}`,
    `--allow-read=${readable.join(",")}`,
    `--allow-write=${options.dir}`,
    `--allow-env=${SETUP_ENV_VARS.join(",")}`,
    `--allow-run=${claudeBin}`,
    setupPath,
    `${SETUP_DIR_OPTION}${options.dir}`,
    ...(options.thenStart ? [SETUP_THEN_START_OPTION] : []),
  ];
}

/** The launcher: prints arguments for the task shell, or explains why not. */
function main(args: string[]): number {
  const [mode, ...rest] = args;
  if (
    rest.length > 0 ||
    ![undefined, SETUP_MODE, SETUP_IF_UNCONFIGURED_MODE].includes(mode)
  ) {
    console.error(
      `Usage: launch.ts [${SETUP_MODE} | ${SETUP_IF_UNCONFIGURED_MODE}]`,
    );
    return 2;
  }
  const envFile = existsSync(".env") ? ".env" : undefined;
  // main.ts gets the file through --env-file; this check must see it too.
  const env = withEnvFile(
    Deno.env.toObject(),
    envFile && Deno.readTextFileSync(envFile),
  );
  const action = mode === undefined ? "start" : "set up";
  try {
    if (mode === undefined) {
      const loader = loaderProblem(env);
      if (loader) {
        console.error(`claude-telegram cannot start: ${loader}`);
        return 1;
      }
      const config = parseConfig(env, Deno.cwd());
      console.log(
        mainRunArgs(config, {
          claudeEnvNames: claudeEnvNames(env),
          envFile,
          botDir: Deno.cwd(),
          claudeConfig: env.HOME || env.CLAUDE_CONFIG_DIR
            ? claudeConfigPaths(env)
            : undefined,
        }).join(" "),
      );
      return 0;
    }
    if (mode === SETUP_IF_UNCONFIGURED_MODE) {
      if (env.TELEGRAM_BOT_TOKEN?.trim()) {
        console.log(CONFIGURED_OUTPUT);
        return 0;
      }
      if (!Deno.stdin.isTerminal()) {
        console.error(NOT_SET_UP_MESSAGE);
        return 1;
      }
    }
    console.log(
      setupRunArgs(env, {
        dir: Deno.cwd(),
        thenStart: mode === SETUP_IF_UNCONFIGURED_MODE,
      }).join(" "),
    );
    return 0;
  } catch (error) {
    if (error instanceof RangeError) {
      console.error(`claude-telegram cannot ${action}: ${error.message}`);
      return 1;
    }
    if (!(error instanceof ConfigError)) throw error;
    console.error(
      `claude-telegram cannot ${action}, the configuration is invalid:`,
    );
    for (const problem of error.problems) console.error(`  - ${problem}`);
    console.error("See README.md, Configuration.");
    return 1;
  }
}

if (import.meta.main) Deno.exit(main(Deno.args));
