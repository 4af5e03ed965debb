// End-to-end tests of the set-up wizard: `deno task setup` and `deno task
// start` run as real processes in a temp copy of the repository, with stdin
// piped (or a terminal from `script`), against the fake Bot API.
import assert from "node:assert/strict";
import { denoDir } from "./fakes/bot_process.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setupRunArgs } from "../launch.ts";
import { createFakeClaudeBin } from "./fakes/claude_bin.ts";
import { FakeBotApi } from "./fakes/fake_bot_api.ts";
import { pollUntil, withDeadline } from "./fakes/wait.ts";

const REPO_DIR = fileURLToPath(new URL("..", import.meta.url));
const TOKEN = "123456789:AAFakeTokenForSetupTests_x";
/** Bounds each wait for the wizard: starting Deno takes a second or two. */
const WAIT_MS = 20_000;
const OWNER = 1001;
const STRANGER = 3003;
const PAIRING_LINE = /^Pairing code: (\d{6})$/m;

/** PATH, NO_COLOR and Deno's cache (HOME moves to the temp dir) plus `extra`. */
async function wizardEnv(
  dir: string,
  extra: Record<string, string>,
): Promise<Record<string, string>> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    NO_COLOR: "1",
    DENO_DIR: await denoDir(),
    HOME: join(dir, "home"),
    // An absolute path that does not exist: Claude Code is "not installed".
    CLAUDE_BIN: join(dir, "no-claude"),
    ...extra,
  };
}

/**
 * A temp copy of the repository's top-level modules, deno.json and
 * deno.lock, so a task may write .env there; the fake Bot API beside it.
 */
class Checkout implements AsyncDisposable {
  private constructor(readonly dir: string, readonly api: FakeBotApi) {}

  static async create(): Promise<Checkout> {
    const dir = await Deno.makeTempDir({ prefix: "ct-setup-" });
    const api = await FakeBotApi.start({ token: TOKEN });
    await Deno.mkdir(join(dir, "home"));
    for await (const entry of Deno.readDir(REPO_DIR)) {
      if (
        entry.isFile &&
        (entry.name.endsWith(".ts") ||
          ["deno.json", "deno.lock"].includes(entry.name))
      ) {
        await Deno.copyFile(join(REPO_DIR, entry.name), join(dir, entry.name));
      }
    }
    return new Checkout(dir, api);
  }

  get envPath(): string {
    return join(this.dir, ".env");
  }

  /** Runs `deno task <task>` here with stdin piped and exactly `env`. */
  async task(task: string, extraEnv: Record<string, string> = {}) {
    const env = await wizardEnv(this.dir, {
      TELEGRAM_API_ROOT: this.api.apiRoot,
      ...extraEnv,
    });
    return Wizard.spawn(Deno.execPath(), ["task", task], this.dir, env);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.api.close();
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** A running wizard: its output collected as it comes, stdin open for answers. */
class Wizard implements AsyncDisposable {
  #stdout = "";
  #stderr = "";
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #drained: Promise<void>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#drained = Promise.all([
      this.#collect(child.stdout, (text) => this.#stdout += text),
      this.#collect(child.stderr, (text) => this.#stderr += text),
    ]).then(() => {});
  }

  static spawn(
    bin: string,
    args: string[],
    cwd: string,
    env: Record<string, string>,
  ): Wizard {
    return new Wizard(
      new Deno.Command(bin, {
        args,
        cwd,
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
    );
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Writes `text` to the wizard's stdin. */
  async write(text: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(text));
  }

  /** Resolves with the first match of `pattern` in stdout; fails after WAIT_MS. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    return pollUntil(() => this.#stdout.match(pattern), {
      description: () =>
        `${pattern} in the output:\n${this.#stdout}\n${this.#stderr}`,
      timeoutMs: WAIT_MS,
    });
  }

  /** The exit code, once stdin is closed and the process ended; fails after WAIT_MS. */
  async exit(): Promise<number> {
    await this.#stdin.close().catch(() => {
      // Already closed by a previous call, or the process is gone.
    });
    const status = await withDeadline(this.#child.status, {
      what:
        `the wizard's exit; output so far:\n${this.#stdout}\n${this.#stderr}`,
      ms: WAIT_MS,
    });
    await this.#drained;
    return status.code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch (error) {
      // It has exited already: nothing to kill.
      if (!(error instanceof TypeError)) throw error;
    }
    await this.#stdin.close().catch(() => {
      // Closed before, or the pipe broke with the process.
    });
    await this.#child.status;
    await this.#drained;
  }

  async #collect(
    stream: ReadableStream<Uint8Array>,
    append: (text: string) => void,
  ): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      append(text);
    }
  }
}

/** The mode bits of a file's permissions. */
async function modeOf(path: string): Promise<number | null> {
  const info = await Deno.stat(path);
  return info.mode === null ? null : info.mode & 0o777;
}

Deno.test("deno task setup: a piped token, the code from the owner, .env written 0600 with the rest kept", async () => {
  await using checkout = await Checkout.create();
  const { api } = checkout;
  await Deno.writeTextFile(
    checkout.envPath,
    "# my settings\nDATA_DIR=./state\nALLOWED_USER_IDS=2002,1001\n",
    { mode: 0o644 },
  );
  await using wizard = await checkout.task("setup");

  await wizard.write(`${TOKEN}\n`);
  const code = (await wizard.waitFor(PAIRING_LINE))[1];
  api.sendText(code, { userId: OWNER });

  assert.equal(await wizard.exit(), 0, wizard.stderr);
  assert.equal(
    await Deno.readTextFile(checkout.envPath),
    "# my settings\nDATA_DIR=./state\nALLOWED_USER_IDS=1001,2002\n" +
      `TELEGRAM_BOT_TOKEN=${TOKEN}\n`,
  );
  assert.equal(await modeOf(checkout.envPath), 0o600);
  assert.deepEqual(
    api.messages().map((m) => [m.chat_id, m.text]),
    [[OWNER, "Paired ✓"]],
  );
  const output = wizard.stdout;
  assert.match(output, /@fake_test_bot/);
  assert.equal(output.match(/^Pairing code: .*$/gm)?.length, 1);
  assert.match(output, /TELEGRAM_BOT_TOKEN=123456789:AA…_x$/m);
  assert.match(output, /^ {2}ALLOWED_USER_IDS=1001,2002$/m);
  assert.ok(!output.includes(TOKEN), "the token is printed masked only");
  assert.ok(!wizard.stderr.includes(TOKEN));
  // Updates the wizard read are confirmed, so the bot will not replay them.
  assert.equal(api.confirmedUpdateId, 1);
});

Deno.test("deno task setup: Claude Code missing does not stop it, and it says how to install", async () => {
  await using checkout = await Checkout.create();
  await using wizard = await checkout.task("setup");

  const hint = await wizard.waitFor(/not found[^]*Install it: (.*)$/m);
  await wizard.waitFor(/^\[2\/4\] Telegram bot token$/m);

  assert.equal(hint[1], "npm install -g @anthropic-ai/claude-code");
  assert.match(wizard.stdout, /run `claude` and type \/login/);
  assert.match(wizard.stdout, /Does not look logged in/);
});

Deno.test("deno task setup: a wrong token is refused and asked again, then a good one is accepted", async () => {
  await using checkout = await Checkout.create();
  await using wizard = await checkout.task("setup");

  await wizard.write("not a token\n");
  await wizard.waitFor(/does not look like a bot token/);
  await wizard.write("123456789:AAWrongTokenWrongTokenWrong\n");
  await wizard.waitFor(/Telegram refused this token/);
  await wizard.write(`${TOKEN}\n`);
  await wizard.waitFor(/Token accepted: this is @fake_test_bot/);
  const code = (await wizard.waitFor(PAIRING_LINE))[1];
  checkout.api.sendText(code, { userId: OWNER });

  assert.equal(await wizard.exit(), 0, wizard.stderr);
  assert.match(await Deno.readTextFile(checkout.envPath), /AAFakeToken/);
  assert.equal(wizard.stdout.match(/Token \(not shown/g)?.length, 3);
});

Deno.test("deno task setup: a refused token and the end of stdin exit non-zero and write nothing", async () => {
  await using checkout = await Checkout.create();
  await using wizard = await checkout.task("setup");

  await wizard.write("123456789:AAWrongTokenWrongTokenWrong\n");
  await wizard.waitFor(/Telegram refused this token/);

  assert.equal(await wizard.exit(), 1);
  assert.match(wizard.stderr, /no token given/);
  await assert.rejects(Deno.stat(checkout.envPath), Deno.errors.NotFound);
});

Deno.test("setup.ts: strangers and wrong codes are ignored in silence; the owner's code pairs (--dir)", async () => {
  await using api = await FakeBotApi.start({ token: TOKEN });
  const dir = await Deno.makeTempDir({ prefix: "ct-setup-dir-" });
  try {
    await Deno.mkdir(join(dir, "home"));
    const env = await wizardEnv(dir, {
      TELEGRAM_API_ROOT: api.apiRoot,
      // Set in the environment, it would win over .env: the wizard warns.
      ALLOWED_USER_IDS: "5",
    });
    await using wizard = Wizard.spawn(
      Deno.execPath(),
      ["run", ...setupRunArgs(env, { dir })],
      dir,
      env,
    );
    await wizard.write(`${TOKEN}\n`);
    const code = (await wizard.waitFor(PAIRING_LINE))[1];
    const wrong = code === "000000" ? "000001" : "000000";

    api.sendText(wrong, { userId: STRANGER });
    api.sendText(`${code} `, { userId: STRANGER });
    api.sendText(code, { userId: STRANGER, chatType: "group" });
    api.sendText(wrong, { userId: OWNER });
    await wizard.waitFor(/(?:^ {2}Ignored .*\n){4}/m);
    const ownersCode = api.sendText(code, { userId: OWNER });

    assert.equal(await wizard.exit(), 0, wizard.stderr);
    assert.match(
      await Deno.readTextFile(join(dir, ".env")),
      new RegExp(`^ALLOWED_USER_IDS=${OWNER}$`, "m"),
    );
    assert.equal(await modeOf(join(dir, ".env")), 0o600);
    assert.deepEqual(
      api.messages().map((m) => [m.chat_id, m.text]),
      [[OWNER, "Paired ✓"]],
    );
    assert.equal(api.confirmedUpdateId, ownersCode);
    assert.match(
      wizard.stdout,
      new RegExp(`from user ${STRANGER}: not the pairing code`),
    );
    assert.match(wizard.stdout, /not a text message in a private chat/);
    assert.match(
      wizard.stdout,
      /^! ALLOWED_USER_IDS is also set in the environment, which wins over \.env/m,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task start: no token and no terminal exits non-zero with one line naming deno task setup", async () => {
  await using checkout = await Checkout.create();
  await using start = await checkout.task("start", {
    ALLOWED_USER_IDS: String(OWNER),
  });

  assert.equal(await start.exit(), 1);
  assert.equal(start.stdout, "");
  // `deno task` itself first echoes the task's command line.
  const lines = start.stderr.split("\n").filter((line) =>
    line !== "" && !line.startsWith("Task start ")
  );
  assert.equal(lines.length, 1, start.stderr);
  assert.match(lines[0], /`deno task setup`/);
  assert.deepEqual(checkout.api.calls, []);
});

/** util-linux `script`, which gives a command a terminal; tests needing one skip without it. */
const SCRIPT_BIN = ["/usr/bin/script", "/bin/script"].find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    // Not there: look at the next candidate.
    return false;
  }
});

Deno.test({
  name: "setup.ts in a terminal: the token is read without echo",
  ignore: SCRIPT_BIN === undefined,
  async fn() {
    await using api = await FakeBotApi.start({ token: TOKEN });
    const dir = await Deno.makeTempDir({ prefix: "ct-setup-tty-" });
    try {
      await Deno.mkdir(join(dir, "home"));
      const env = await wizardEnv(dir, {
        TELEGRAM_API_ROOT: api.apiRoot,
        SHELL: "/bin/sh",
      });
      const command = [
        Deno.execPath(),
        "run",
        ...setupRunArgs(env, { dir }),
      ].map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
      await using wizard = Wizard.spawn(
        SCRIPT_BIN!,
        ["--quiet", "--return", "--command", command, "/dev/null"],
        dir,
        env,
      );

      await wizard.waitFor(/Token \(not shown as you type\), then Enter:/);
      // A typo fixed with backspace, as a person would.
      await wizard.write(`${TOKEN}x\x7f\r`);
      await wizard.waitFor(/Token accepted: this is @fake_test_bot/);
      const code = (await wizard.waitFor(/Pairing code: (\d{6})/))[1];
      api.sendText(code, { userId: OWNER });

      assert.equal(await wizard.exit(), 0, wizard.stdout);
      assert.ok(!wizard.stdout.includes(TOKEN.slice(12)), wizard.stdout);
      assert.match(
        await Deno.readTextFile(join(dir, ".env")),
        new RegExp(`^TELEGRAM_BOT_TOKEN=${TOKEN}$`, "m"),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "deno task start in a terminal without a token: the wizard, then the bot serves the paired user",
  ignore: SCRIPT_BIN === undefined,
  async fn() {
    await using checkout = await Checkout.create();
    const { api } = checkout;
    const env = await wizardEnv(checkout.dir, {
      TELEGRAM_API_ROOT: api.apiRoot,
      CLAUDE_BIN: await createFakeClaudeBin(checkout.dir),
      SHUTDOWN_GRACE_SECONDS: "1",
      SHELL: "/bin/sh",
    });
    const command = `'${Deno.execPath()}' task start`;
    await using start = Wizard.spawn(
      SCRIPT_BIN!,
      ["--quiet", "--return", "--command", command, "/dev/null"],
      checkout.dir,
      env,
    );

    await start.waitFor(/Token \(not shown as you type\), then Enter:/);
    await start.write(`${TOKEN}\r`);
    const code = (await start.waitFor(/Pairing code: (\d{6})/))[1];
    api.sendText(code, { userId: OWNER });
    await start.waitFor(/Set-up complete\. Starting the bot/);
    // The bot (not the wizard) starts polling: grammY first drops any webhook.
    await api.waitFor(
      () => api.calls.some((call) => call.method === "deleteWebhook"),
      { timeoutMs: WAIT_MS, description: "the bot's start" },
    );
    api.sendText("/help", { userId: OWNER });
    await api.waitFor(
      () => api.messages(OWNER).find((m) => m.text !== "Paired ✓"),
      { timeoutMs: WAIT_MS, description: "the bot's answer to /help" },
    );
    // Ctrl-C in the terminal: SIGINT to the task and the bot, which stop.
    await start.write("\x03");

    // 130 when the task shell reports the signal itself.
    assert.ok([0, 130].includes(await start.exit()), start.stdout);
    assert.match(
      await Deno.readTextFile(checkout.envPath),
      new RegExp(`^ALLOWED_USER_IDS=${OWNER}$`, "m"),
    );
    assert.ok(!start.stdout.includes(TOKEN.slice(12)), start.stdout);
  },
});
