// The set-up wizard (`deno task setup`): checks Claude Code, asks for the bot
// token, pairs the owner's chat with a one-time code and writes .env.
import { fileURLToPath } from "node:url";
import { AtomicWriteError } from "./atomic_file.ts";
import { type Clock, systemClock } from "./clock.ts";
import {
  checkClaude,
  CLAUDE_CHECK_VARS,
  CLAUDE_INSTALL_COMMAND,
  type ClaudeCheck,
} from "./setup_claude.ts";
import {
  envFileValues,
  readEnvFile,
  WIZARD_WRITES,
  writeWizardEnv,
} from "./setup_env_file.ts";
import {
  type LineSource,
  pipedLineSource,
  secretLineSource,
  SetupCancelledError,
} from "./setup_input.ts";
import {
  BotCallError,
  type BotIdentity,
  type IgnoredUpdate,
  PAIRING_TIMEOUT_MS,
  pairingCode,
  PairingTimeoutError,
  SetupBotApi,
} from "./setup_telegram.ts";
import { type SpawnFn, systemSpawn } from "./spawner.ts";

/** Every variable the wizard reads; launch.ts grants exactly these. */
export const SETUP_ENV_VARS = [
  "TELEGRAM_API_ROOT",
  ...WIZARD_WRITES,
  ...CLAUDE_CHECK_VARS,
] as const;

/** Script option: the directory whose .env the wizard writes (default: next to deno.json). */
export const SETUP_DIR_OPTION = "--dir=";

/** Script option: the start task runs the bot once the wizard is done. */
export const SETUP_THEN_START_OPTION = "--then-start";

/** The Bot API when TELEGRAM_API_ROOT is unset (as in config.ts). */
export const DEFAULT_API_ROOT = "https://api.telegram.org";
/** The shape config.ts accepts for TELEGRAM_BOT_TOKEN. */
const TOKEN_PATTERN = /^\d+:[\w-]{20,}$/;
const PAIRED_TEXT = "Paired ✓";

/** The set-up stopped without writing .env; `message` is for the terminal. */
class SetupFailedError extends Error {
  override name = "SetupFailedError";
}

interface SetupOptions {
  /** The wizard's variables: the process's over those in .env. */
  env: Record<string, string | undefined>;
  /** Where .env is written. */
  dir: string;
  answers: LineSource;
  print: (line: string) => void;
  clock: Clock;
  spawn: SpawnFn;
  /** Set in the process's environment, so they override what .env says. */
  overriddenByEnv: string[];
  thenStart: boolean;
}

async function runSetup(options: SetupOptions): Promise<void> {
  const { print } = options;
  print("claude-telegram set-up");
  print("");
  print("[1/4] Claude Code");
  describeClaude(await checkClaude(options.env, options), print);
  print("");
  print("[2/4] Telegram bot token");
  const { token, api, bot } = await askToken(options);
  print("");
  print("[3/4] Pairing");
  const code = pairingCode();
  print(`Pairing code: ${code}`);
  print(
    `Send this code to @${bot.username} in a private chat ` +
      `(https://t.me/${bot.username}) within ${
        PAIRING_TIMEOUT_MS / 60_000
      } minutes.`,
  );
  print("Waiting for it… (Ctrl-C cancels)");
  const paired = await api.pair(code, {
    timeoutMs: PAIRING_TIMEOUT_MS,
    onIgnored: (update) => print(ignoredLine(update)),
  });
  print(`✓ Paired with Telegram user ${paired.userId}.`);
  print("");
  print("[4/4] Saving");
  const written = await writeWizardEnv(options.dir, {
    token,
    userId: paired.userId,
  });
  print(`Wrote ${written.path} (mode 0600):`);
  for (const line of written.shown) print(`  ${line}`);
  for (const name of options.overriddenByEnv) {
    print(
      `! ${name} is also set in the environment, which wins over .env: ` +
        "unset it or give it the value above.",
    );
  }
  try {
    await api.sendMessage(paired.chatId, PAIRED_TEXT);
  } catch (error) {
    if (!(error instanceof BotCallError)) throw error;
    // .env is written and the pairing stands; only the courtesy is lost.
    print(`! Could not send "${PAIRED_TEXT}" to the chat: ${error.message}`);
  }
  print("");
  print(
    options.thenStart
      ? "Set-up complete. Starting the bot…"
      : "Set-up complete. Start the bot with: deno task start",
  );
}

function describeClaude(check: ClaudeCheck, print: (line: string) => void) {
  const { cli, login } = check;
  if (cli.kind === "found") print(`✓ ${check.bin}: ${cli.version}`);
  else if (cli.kind === "missing") {
    print(`✗ Claude Code was not found ("${check.bin}" is not on PATH).`);
  } else print(`✗ Claude Code does not work: ${cli.detail}`);
  if (login.kind === "key") print(`✓ Logged in: ${login.variable} is set.`);
  else if (login.kind === "credentials") {
    print(`✓ Looks logged in (${login.path}).`);
  } else {
    print(
      `✗ Does not look logged in (no ${login.path ?? "credentials file"}, ` +
        "no ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN).",
    );
  }
  if (cli.kind !== "found") {
    print(`  Install it: ${CLAUDE_INSTALL_COMMAND}`);
  }
  if (cli.kind !== "found" || login.kind === "none") {
    print("  Then run `claude` and type /login. (On macOS the login lives in");
    print("  the Keychain: if `claude` works in this terminal, you are set.)");
    print("  The set-up goes on; the bot needs Claude Code before it answers.");
  }
}

async function askToken(
  options: SetupOptions,
): Promise<{ token: string; api: SetupBotApi; bot: BotIdentity }> {
  const { print } = options;
  const apiRoot = options.env.TELEGRAM_API_ROOT?.trim() || DEFAULT_API_ROOT;
  print("Create a bot with @BotFather (/newbot) and paste its token.");
  while (true) {
    print("Token (not shown as you type), then Enter:");
    const answer = await options.answers.readLine();
    if (answer === undefined) {
      throw new SetupFailedError("Set-up stopped: no token given");
    }
    const token = answer.trim();
    if (!TOKEN_PATTERN.test(token)) {
      print(
        "✗ That does not look like a bot token (123456789:AA…). Try again.",
      );
      continue;
    }
    const api = new SetupBotApi({ apiRoot, token, clock: options.clock });
    try {
      const bot = await api.getMe();
      print(`✓ Token accepted: this is @${bot.username}.`);
      return { token, api, bot };
    } catch (error) {
      if (!(error instanceof BotCallError)) throw error;
      print(
        error.status === 401 || error.status === 404
          ? "✗ Telegram refused this token (401 Unauthorized): copy it again " +
            "from @BotFather (/token) and try again."
          : `✗ ${error.message}. Try again.`,
      );
    }
  }
}

function ignoredLine(update: IgnoredUpdate): string {
  const who = update.userId === undefined ? "" : ` from user ${update.userId}`;
  const why = {
    not_private_text: "not a text message in a private chat",
    wrong_code: "not the pairing code",
    too_many_attempts: "too many wrong codes from this user",
  }[update.why];
  return `  Ignored an update${who}: ${why}.`;
}

/** The wizard's variables: .env's under the process's, which win as they do for Deno. */
async function setupEnv(
  dir: string,
): Promise<{ env: Record<string, string | undefined>; fromProcess: string[] }> {
  const fromFile = envFileValues(await readEnvFile(dir));
  const env: Record<string, string | undefined> = {};
  const fromProcess: string[] = [];
  for (const name of SETUP_ENV_VARS) {
    const value = Deno.env.get(name);
    if (value?.trim()) fromProcess.push(name);
    env[name] = value ?? fromFile[name];
  }
  return { env, fromProcess };
}

async function main(args: string[]): Promise<number> {
  const unknown = args.filter((arg) =>
    !arg.startsWith(SETUP_DIR_OPTION) && arg !== SETUP_THEN_START_OPTION
  );
  if (unknown.length > 0) {
    console.error(
      `Usage: setup.ts [${SETUP_DIR_OPTION}<directory of .env>] [${SETUP_THEN_START_OPTION}]`,
    );
    return 2;
  }
  const dir = args.findLast((arg) => arg.startsWith(SETUP_DIR_OPTION))
    ?.slice(SETUP_DIR_OPTION.length) ??
    fileURLToPath(new URL(".", import.meta.url));
  try {
    const { env, fromProcess } = await setupEnv(dir);
    await runSetup({
      env,
      dir,
      answers: Deno.stdin.isTerminal()
        ? secretLineSource(Deno.stdin)
        : pipedLineSource(Deno.stdin.readable),
      print: (line) => console.log(line),
      clock: systemClock,
      spawn: systemSpawn,
      overriddenByEnv: fromProcess.filter((name) =>
        (WIZARD_WRITES as readonly string[]).includes(name)
      ),
      thenStart: args.includes(SETUP_THEN_START_OPTION),
    });
    return 0;
  } catch (error) {
    if (error instanceof SetupCancelledError) {
      console.error("\nSet-up cancelled; nothing was written.");
      return 130;
    }
    if (
      error instanceof SetupFailedError || error instanceof BotCallError ||
      error instanceof PairingTimeoutError || error instanceof AtomicWriteError
    ) {
      console.error(`${error.message}. Nothing else was changed.`);
      if (error instanceof BotCallError && error.status === 409) {
        console.error(
          "Is the bot, or another program with this token, running? " +
            "Stop it and run the set-up again.",
        );
      }
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
