// Tests for launch.ts: the permission flags it computes for main.ts, the real
// launcher process, and a probe run under exactly those flags to show what
// they allow and deny.
import assert from "node:assert/strict";
import { denoDir } from "./fakes/bot_process.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BOT_ENV_VARS, ConfigError, parseConfig } from "../config.ts";
import { SANDBOX_RUNTIME_BIN } from "../sandbox_runtime.ts";
import {
  CLAUDE_ENV_OPTION,
  claudeEnvNames,
  CONFIGURED_OUTPUT,
  mainRunArgs,
  NOT_SET_UP_MESSAGE,
  SETUP_IF_UNCONFIGURED_MODE,
  SETUP_MODE,
  setupRunArgs,
  withEnvFile,
} from "../launch.ts";
import { SETUP_ENV_VARS } from "../setup.ts";

const REPO_DIR = fileURLToPath(new URL("..", import.meta.url));
const LAUNCH_PATH = join(REPO_DIR, "launch.ts");
const MAIN_PATH = join(REPO_DIR, "main.ts");
const SETUP_PATH = join(REPO_DIR, "setup.ts");
const TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz";
const MINIMAL = { TELEGRAM_BOT_TOKEN: TOKEN, ALLOWED_USER_IDS: "1001" };
const SCOPED_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
];

/** The value of `--flag=value` in `args`, or undefined. */
function flagValue(args: string[], flag: string): string | undefined {
  return args.find((arg) => arg.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

/** PATH, NO_COLOR and Deno's cache (HOME may move) plus `extra`. */
async function launcherEnv(
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    NO_COLOR: "1",
    DENO_DIR: await denoDir(),
    ...extra,
  };
}

/** The launcher's `deno run` arguments as the tasks give them. */
function launcherArgs(launchPath: string, mode?: string): string[] {
  return [
    "run",
    "--quiet",
    // The start task finds deno.json from the repository; a temp cwd does not.
    `--config=${join(REPO_DIR, "deno.json")}`,
    "--allow-env",
    "--allow-read=.env",
    launchPath,
    ...(mode === undefined ? [] : [mode]),
  ];
}

/** Runs the launcher the way the start task does, from `cwd` with exactly `env`. */
async function runLauncher(
  env: Record<string, string>,
  cwd: string,
  launchPath = LAUNCH_PATH,
  mode?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: launcherArgs(launchPath, mode),
    cwd,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000),
  }).output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

Deno.test("mainRunArgs() scopes every permission and never grants all", () => {
  const config = parseConfig({
    ...MINIMAL,
    TELEGRAM_API_ROOT: "http://127.0.0.1:8081",
    DATA_DIR: "/srv/bot/data",
    CLAUDE_BIN: "/opt/claude/bin/claude",
    CLAUDE_SANDBOX: "off",
  }, "/srv/bot");

  const args = mainRunArgs(config, {
    claudeEnvNames: ["HOME", "PATH"],
    botDir: "/srv/bot",
  });

  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
  for (const arg of args.filter((a) => a.startsWith("--allow-"))) {
    const [flag, value] = arg.split(/=(.*)/s);
    assert.ok(SCOPED_FLAGS.includes(flag), `unexpected ${arg}`);
    assert.ok(value, `${flag} is unscoped`);
  }
  for (const flag of SCOPED_FLAGS) {
    assert.equal(
      args.filter((a) => a === flag || a.startsWith(`${flag}=`)).length,
      1,
      `${flag} appears once`,
    );
  }
  assert.ok(args.includes("--no-prompt"));
  assert.equal(flagValue(args, "--allow-net"), "127.0.0.1:8081");
  assert.equal(flagValue(args, "--allow-read"), "/srv/bot/data");
  assert.equal(flagValue(args, "--allow-write"), "/srv/bot/data");
  assert.equal(
    flagValue(args, "--allow-run"),
    "/opt/claude/bin/claude,ps,kill,git",
  );
  assert.deepEqual(
    flagValue(args, "--allow-env")?.split(","),
    [...BOT_ENV_VARS, "HOME", "PATH"],
  );
  assert.deepEqual(args.slice(-2), [
    MAIN_PATH,
    `${CLAUDE_ENV_OPTION}HOME,PATH`,
  ]);
  assert.ok(!args.some((arg) => arg.startsWith("--env-file")));
});

Deno.test("mainRunArgs() lets a sandboxed Claude's wrapper run bwrap, read what it masks and create Claude's config", () => {
  const config = parseConfig({
    ...MINIMAL,
    DATA_DIR: "/srv/bot/data",
    CLAUDE_SANDBOX_HIDE: "/etc/bot.env",
    CLAUDE_SANDBOX_WRITABLE: "/home/u/.cache",
  }, "/srv/bot");
  const args = mainRunArgs(config, {
    claudeEnvNames: [],
    botDir: "/srv/bot",
    claudeConfig: { dir: "/home/u/.claude", file: "/home/u/.claude.json" },
  });
  assert.equal(flagValue(args, "--allow-run"), "claude,ps,kill,git,bwrap");
  assert.deepEqual(flagValue(args, "--allow-read")?.split(","), [
    "/srv/bot/data",
    "/home/u/.claude",
    "/home/u/.claude.json",
    "/srv/bot/.env",
    "/home/u/.cache",
    "/etc/bot.env",
  ]);
  assert.deepEqual(flagValue(args, "--allow-write")?.split(","), [
    "/srv/bot/data",
    "/home/u/.claude",
    "/home/u/.claude.json",
  ]);
});

Deno.test("mainRunArgs() with CLAUDE_SANDBOX_NETWORK lets the bot run sandbox-runtime instead of bwrap, and read no more than it needs", () => {
  const config = parseConfig({
    ...MINIMAL,
    DATA_DIR: "/srv/bot/data",
    CLAUDE_BIN: "/opt/claude/bin/claude",
    CLAUDE_SANDBOX_NETWORK: "api.anthropic.com",
  }, "/srv/bot");
  const args = mainRunArgs(config, {
    claudeEnvNames: [],
    botDir: "/srv/bot",
    claudeConfig: { dir: "/home/u/.claude" },
  });
  assert.deepEqual(flagValue(args, "--allow-run")?.split(","), [
    "/opt/claude/bin/claude",
    "ps",
    "kill",
    "git",
    SANDBOX_RUNTIME_BIN,
  ]);
  // srt looks its paths up itself: the bot reads only its own and Claude's.
  assert.deepEqual(flagValue(args, "--allow-read")?.split(","), [
    "/srv/bot/data",
    "/home/u/.claude",
  ]);
  const off = mainRunArgs(
    parseConfig({ ...MINIMAL, CLAUDE_SANDBOX: "off" }, "/srv/bot"),
    { claudeEnvNames: [], botDir: "/srv/bot" },
  );
  assert.ok(!flagValue(off, "--allow-run")?.includes(SANDBOX_RUNTIME_BIN));
});

Deno.test("mainRunArgs() lets the bot read PROJECTS_DIRS and Claude's recorded conversations, and run git", () => {
  const config = parseConfig({
    ...MINIMAL,
    DATA_DIR: "/srv/bot/data",
    PROJECTS_DIRS: "/home/u/code, /srv/repos/api",
    CLAUDE_CONFIG_DIR: "/home/u/.claude-alt",
    CLAUDE_SANDBOX: "off",
  }, "/srv/bot");

  const args = mainRunArgs(config, { claudeEnvNames: [], botDir: "/srv/bot" });

  assert.deepEqual(flagValue(args, "--allow-read")?.split(","), [
    "/srv/bot/data",
    "/home/u/code",
    "/srv/repos/api",
    "/home/u/.claude-alt/projects",
  ]);
  assert.equal(flagValue(args, "--allow-write"), "/srv/bot/data");
  assert.ok(flagValue(args, "--allow-run")?.split(",").includes("git"));

  const withHome = parseConfig({
    ...MINIMAL,
    DATA_DIR: "/srv/bot/data",
    HOME: "/home/u",
    CLAUDE_SANDBOX: "off",
  }, "/srv/bot");
  assert.deepEqual(
    flagValue(
      mainRunArgs(withHome, { claudeEnvNames: [], botDir: "/srv/bot" }),
      "--allow-read",
    )?.split(","),
    ["/srv/bot/data", "/home/u/.claude/projects"],
    "without CLAUDE_CONFIG_DIR, Claude records under ~/.claude",
  );
});

Deno.test("mainRunArgs() refuses a PROJECTS_DIRS folder the flags would split", () => {
  const config = parseConfig({
    ...MINIMAL,
    PROJECTS_DIRS: "/home/u/my code",
    CLAUDE_SANDBOX: "off",
  }, "/srv/bot");
  assert.throws(
    () => mainRunArgs(config, { claudeEnvNames: [], botDir: "/srv/bot" }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.some((p) => p.includes('"/home/u/my code"')),
  );
});

Deno.test("the launcher refuses to start, in one line, when LD_LIBRARY_PATH would stop every spawn", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "ct-launch-" });
  try {
    const result = await runLauncher(
      await launcherEnv({ ...MINIMAL, LD_LIBRARY_PATH: "/opt/lib" }),
      cwd,
    );
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /LD_LIBRARY_PATH is set in the bot's environment/,
    );
    assert.equal(result.stderr.trim().split("\n").length, 1, "one line");
    assert.equal(result.stdout, "");
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("mainRunArgs() allows exactly the Bot API host and port", async (t) => {
  for (
    const [apiRoot, expected] of [
      [undefined, "api.telegram.org"],
      ["http://127.0.0.1:8081", "127.0.0.1:8081"],
      ["https://tg.example.org:8443/bot-api/", "tg.example.org:8443"],
    ]
  ) {
    await t.step(apiRoot ?? "default", () => {
      const config = parseConfig(
        { ...MINIMAL, TELEGRAM_API_ROOT: apiRoot },
        "/srv/bot",
      );
      const args = mainRunArgs(config, {
        claudeEnvNames: [],
        botDir: "/srv/bot",
      });
      assert.equal(flagValue(args, "--allow-net"), expected);
    });
  }
});

Deno.test("mainRunArgs() adds the transcription host to --allow-net only when it is configured", async (t) => {
  for (
    const [env, expected] of [
      [{}, "api.telegram.org"],
      [
        { TRANSCRIBE_API_URL: "https://api.openai.com/v1/" },
        "api.telegram.org,api.openai.com",
      ],
      [
        {
          TRANSCRIBE_API_URL: "http://127.0.0.1:9000/v1",
          TRANSCRIBE_MODEL: "",
        },
        "api.telegram.org,127.0.0.1:9000",
      ],
      [
        {
          TELEGRAM_API_ROOT: "http://127.0.0.1:8081",
          TRANSCRIBE_API_URL: "http://127.0.0.1:8081/whisper",
        },
        "127.0.0.1:8081",
      ],
      [
        { TRANSCRIBE_API_KEY: "sk-x", TRANSCRIBE_MODEL: "m" },
        "api.telegram.org",
      ],
    ] as const
  ) {
    await t.step(JSON.stringify(env), () => {
      const config = parseConfig({ ...MINIMAL, ...env }, "/srv/bot");
      const args = mainRunArgs(config, {
        claudeEnvNames: [],
        botDir: "/srv/bot",
      });
      assert.equal(flagValue(args, "--allow-net"), expected);
    });
  }
});

Deno.test("parseConfig() reads TRANSCRIBE_* as Config.transcription", () => {
  assert.equal(parseConfig(MINIMAL, "/srv/bot").transcription, undefined);
  assert.deepEqual(
    parseConfig({
      ...MINIMAL,
      TRANSCRIBE_API_URL: "https://api.openai.com/v1/",
    }, "/srv/bot").transcription,
    {
      apiUrl: "https://api.openai.com/v1",
      apiKey: undefined,
      model: "whisper-1",
    },
  );
  assert.deepEqual(
    parseConfig({
      ...MINIMAL,
      TRANSCRIBE_API_URL: "http://127.0.0.1:9000",
      TRANSCRIBE_API_KEY: " sk-test ",
      TRANSCRIBE_MODEL: "large-v3",
    }, "/srv/bot").transcription,
    { apiUrl: "http://127.0.0.1:9000", apiKey: "sk-test", model: "large-v3" },
  );
  assert.throws(
    () => parseConfig({ ...MINIMAL, TRANSCRIBE_API_URL: "ftp://x" }, "/srv"),
    (error) =>
      error instanceof ConfigError &&
      error.problems[0] === "TRANSCRIBE_API_URL must be an http(s) URL",
  );
  // Its key is the bot's, not Claude's.
  assert.ok(!claudeEnvNames({ TRANSCRIBE_API_KEY: "sk" }).length);
});

Deno.test("setupRunArgs() scopes the wizard to the API host, its directory, its variables and CLAUDE_BIN", () => {
  const args = setupRunArgs({
    TELEGRAM_API_ROOT: "http://127.0.0.1:8081/",
    CLAUDE_BIN: "/opt/claude/bin/claude",
    HOME: "/home/bot",
  }, { dir: "/srv/bot" });

  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
  for (const arg of args.filter((a) => a.startsWith("--allow-"))) {
    const [flag, value] = arg.split(/=(.*)/s);
    assert.ok(SCOPED_FLAGS.includes(flag), `unexpected ${arg}`);
    assert.ok(value, `${flag} is unscoped`);
  }
  assert.ok(args.includes("--no-prompt"));
  assert.equal(flagValue(args, "--allow-net"), "127.0.0.1:8081");
  assert.equal(
    flagValue(args, "--allow-read"),
    "/srv/bot,/home/bot/.claude/.credentials.json",
  );
  assert.equal(flagValue(args, "--allow-write"), "/srv/bot");
  assert.deepEqual(flagValue(args, "--allow-env")?.split(","), [
    ...SETUP_ENV_VARS,
  ]);
  assert.equal(flagValue(args, "--allow-run"), "/opt/claude/bin/claude");
  assert.deepEqual(args.slice(-2), [SETUP_PATH, "--dir=/srv/bot"]);

  const fromStart = setupRunArgs({ CLAUDE_CONFIG_DIR: "/etc/claude" }, {
    dir: "/srv/bot",
    thenStart: true,
  });
  assert.equal(flagValue(fromStart, "--allow-net"), "api.telegram.org");
  assert.equal(
    flagValue(fromStart, "--allow-read"),
    "/srv/bot,/etc/claude/.credentials.json",
  );
  assert.equal(flagValue(fromStart, "--allow-run"), "claude");
  assert.equal(fromStart.at(-1), "--then-start");
});

Deno.test("setupRunArgs() refuses what the flags cannot carry", () => {
  assert.throws(
    () => setupRunArgs({ TELEGRAM_API_ROOT: "ftp://x" }, { dir: "/srv/bot" }),
    (error) =>
      error instanceof ConfigError &&
      error.problems[0] === "TELEGRAM_API_ROOT must be an http(s) URL",
  );
  assert.throws(
    () => setupRunArgs({ CLAUDE_BIN: "/opt/my claude" }, { dir: "/srv/bot" }),
    (error) =>
      error instanceof ConfigError &&
      error.problems[0].startsWith("CLAUDE_BIN must not contain whitespace"),
  );
  assert.throws(
    () => setupRunArgs({}, { dir: "/srv/my bot" }),
    RangeError,
  );
  // A credentials path with a space is left out, not fatal.
  const args = setupRunArgs({ HOME: "/home/my bot" }, { dir: "/srv/bot" });
  assert.equal(flagValue(args, "--allow-read"), "/srv/bot");
});

Deno.test("mainRunArgs() passes an env file to main.ts", () => {
  const config = parseConfig(MINIMAL, "/srv/bot");

  const args = mainRunArgs(config, {
    claudeEnvNames: [],
    envFile: ".env",
    botDir: "/srv/bot",
  });

  assert.ok(args.indexOf("--env-file=.env") < args.indexOf(MAIN_PATH));
});

Deno.test("mainRunArgs() refuses a DATA_DIR or CLAUDE_BIN the flags would split", async (t) => {
  for (
    const [name, value] of [
      ["DATA_DIR", "/srv/my bot/data"],
      ["DATA_DIR", "/srv/bot\tdata"],
      ["DATA_DIR", "/srv/a,b"],
      ["CLAUDE_BIN", "/opt/my claude/claude"],
      ["CLAUDE_BIN", "/opt/a,b/claude"],
    ]
  ) {
    await t.step(`${name} ${JSON.stringify(value)}`, () => {
      const config = parseConfig({ ...MINIMAL, [name]: value }, "/srv/bot");
      assert.throws(
        () =>
          mainRunArgs(config, {
            claudeEnvNames: [],
            botDir: "/srv/bot",
          }),
        (error) =>
          error instanceof ConfigError && error.problems.length === 1 &&
          error.problems[0].startsWith(`${name} must not contain whitespace`),
      );
    });
  }
});

Deno.test("claudeEnvNames() lists what Claude inherits, sorted, without odd names", () => {
  const names = claudeEnvNames({
    ...MINIMAL,
    PATH: "/bin",
    HOME: "/home/bot",
    ANTHROPIC_API_KEY: "sk",
    TELEGRAM_OTHER: "x",
    "odd-name": "x",
    "ProgramFiles(x86)": "x",
  });

  assert.deepEqual(names, ["ANTHROPIC_API_KEY", "HOME", "PATH"]);
});

Deno.test("withEnvFile() reads .env beneath the environment, which wins", () => {
  const env = withEnvFile(
    { DATA_DIR: "/from/env" },
    "# settings\nDATA_DIR=/from/file\nexport ALLOWED_USER_IDS=1001\n" +
      'CLAUDE_MODEL="sonnet"\n',
  );

  assert.deepEqual(env, {
    DATA_DIR: "/from/env",
    ALLOWED_USER_IDS: "1001",
    CLAUDE_MODEL: "sonnet",
  });
  assert.deepEqual(withEnvFile({ A: "1" }, undefined), { A: "1" });
});

Deno.test("launch.ts prints main.ts's arguments for the configuration it is given", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "ct-launch-" });
  try {
    const env = await launcherEnv({
      ...MINIMAL,
      HOME: "/home/bot",
      ANTHROPIC_API_KEY: "sk-ant-test",
      TELEGRAM_API_ROOT: "http://127.0.0.1:8081",
      DATA_DIR: "state",
    });

    const { code, stdout, stderr } = await runLauncher(env, cwd);

    assert.equal(code, 0, stderr);
    const expected = mainRunArgs(parseConfig(env, cwd), {
      claudeEnvNames: claudeEnvNames(env),
      botDir: cwd,
      claudeConfig: {
        dir: "/home/bot/.claude",
        file: "/home/bot/.claude.json",
      },
    });
    assert.equal(stdout.trim(), expected.join(" "));
    // The sandbox (CLAUDE_SANDBOX=auto) may create Claude's config.
    assert.deepEqual(flagValue(expected, "--allow-write")?.split(","), [
      join(cwd, "state"),
      "/home/bot/.claude",
      "/home/bot/.claude.json",
    ]);
    assert.equal(
      expected.at(-1),
      `${CLAUDE_ENV_OPTION}ANTHROPIC_API_KEY,DENO_DIR,HOME,NO_COLOR,PATH`,
    );
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("launch.ts reads .env from its cwd and hands it to main.ts", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "ct-launch-" });
  try {
    await Deno.writeTextFile(
      join(cwd, ".env"),
      `TELEGRAM_BOT_TOKEN=${TOKEN}\nALLOWED_USER_IDS=1001\n` +
        "DATA_DIR=./from-file\nANTHROPIC_API_KEY=sk-ant-test\n",
    );

    const { code, stdout, stderr } = await runLauncher(
      await launcherEnv({ DATA_DIR: "from-env" }),
      cwd,
    );

    assert.equal(code, 0, stderr);
    const args = stdout.trim().split(" ");
    assert.ok(args.includes("--env-file=.env"));
    assert.equal(flagValue(args, "--allow-write"), join(cwd, "from-env"));
    assert.ok(
      flagValue(args, "--allow-env")?.split(",").includes(
        "ANTHROPIC_API_KEY",
      ),
    );
    assert.equal(
      args.at(-1),
      `${CLAUDE_ENV_OPTION}ANTHROPIC_API_KEY,DENO_DIR,NO_COLOR,PATH`,
    );
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("launch.ts exits 1 naming each bad variable and prints no arguments", async (t) => {
  const cwd = await Deno.makeTempDir({ prefix: "ct-launch-" });
  try {
    for (
      const [env, expected] of [
        [{ ALLOWED_USER_IDS: "1001" }, "TELEGRAM_BOT_TOKEN is required"],
        [
          { ...MINIMAL, IDLE_TIMEOUT_SECONDS: "abc" },
          "IDLE_TIMEOUT_SECONDS must be a whole number",
        ],
        [
          { ...MINIMAL, DATA_DIR: "/srv/my bot" },
          "DATA_DIR must not contain whitespace",
        ],
      ] as const
    ) {
      await t.step(expected, async () => {
        const { code, stdout, stderr } = await runLauncher(
          await launcherEnv(env),
          cwd,
        );
        assert.equal(code, 1);
        assert.equal(stdout, "");
        assert.ok(stderr.includes(expected), stderr);
      });
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("launch.ts refuses to start from a path with whitespace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ct-launch-" });
  try {
    const copy = join(dir, "claude telegram");
    await Deno.mkdir(copy);
    // launch.ts and every module it imports.
    for await (const entry of Deno.readDir(REPO_DIR)) {
      if (entry.isFile && entry.name.endsWith(".ts")) {
        await Deno.copyFile(join(REPO_DIR, entry.name), join(copy, entry.name));
      }
    }

    const { code, stdout, stderr } = await runLauncher(
      await launcherEnv(MINIMAL),
      dir,
      join(copy, "launch.ts"),
    );

    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.ok(
      stderr.includes(`Cannot start from "${join(copy, "main.ts")}"`),
      stderr,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Tries each capability main.ts might want; prints a JSON map of name → "ok" or the error's name. */
const PROBE_SCRIPT = `
const [dataDir, outsideDir, apiUrl, otherUrl] = Deno.args;
async function attempt(action) {
  try {
    await action();
    return "ok";
  } catch (error) {
    return error.name;
  }
}
const results = {
  writeDataDir: await attempt(() => Deno.writeTextFile(dataDir + "/probe", "x")),
  readDataDir: await attempt(() => Deno.readTextFile(dataDir + "/probe")),
  writeOutside: await attempt(() => Deno.writeTextFile(outsideDir + "/probe", "x")),
  readOutside: await attempt(() => Deno.readDir(outsideDir)[Symbol.asyncIterator]().next()),
  readPasswd: await attempt(() => Deno.readTextFile("/etc/passwd")),
  fetchApi: await attempt(async () => await (await fetch(apiUrl)).text()),
  fetchOtherPort: await attempt(() => fetch(otherUrl)),
  fetchOtherHost: await attempt(() => fetch("http://example.com/")),
  envToken: await attempt(() => Deno.env.get("TELEGRAM_BOT_TOKEN")),
  envUnlisted: await attempt(() => Deno.env.get("UNLISTED_SECRET")),
  runPs: await attempt(() => new Deno.Command("ps", { args: ["-p", String(Deno.pid)], stdout: "null" }).output()),
  runSh: await attempt(() => new Deno.Command("sh", { args: ["-c", "true"] }).output()),
  killOther: await attempt(() => Deno.kill(1, "SIGCONT")),
};
console.log(JSON.stringify(results));
`;

/** Runs `deno run <args>` (flags, probe script, its arguments) and returns the probe's JSON report. */
async function runProbe(
  args: string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<unknown> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...args],
    cwd: options.cwd,
    clearEnv: true,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000),
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test("main.ts's flags allow DATA_DIR, the API, ps and its own variables, and deny the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ct-probe-" });
  const api = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok"),
  );
  try {
    const dataDir = join(dir, "data");
    const outsideDir = join(dir, "outside");
    await Deno.mkdir(dataDir);
    await Deno.mkdir(outsideDir);
    const probePath = join(dir, "probe.js");
    await Deno.writeTextFile(probePath, PROBE_SCRIPT);
    const apiRoot = `http://127.0.0.1:${api.addr.port}`;
    const env = {
      ...MINIMAL,
      TELEGRAM_API_ROOT: apiRoot,
      DATA_DIR: dataDir,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    };
    const args = mainRunArgs(parseConfig(env, dir), {
      claudeEnvNames: claudeEnvNames(env),
      botDir: dir,
    });
    const flags = args.slice(0, args.indexOf(MAIN_PATH));

    const results = await runProbe([
      ...flags,
      probePath,
      dataDir,
      outsideDir,
      apiRoot,
      // The same host on another port is another destination.
      `http://127.0.0.1:${api.addr.port + (api.addr.port < 65535 ? 1 : -1)}`,
    ], {
      cwd: dir,
      env: { ...env, UNLISTED_SECRET: "not for the bot" },
    });

    assert.deepEqual(results, {
      writeDataDir: "ok",
      readDataDir: "ok",
      writeOutside: "NotCapable",
      readOutside: "NotCapable",
      readPasswd: "NotCapable",
      fetchApi: "ok",
      fetchOtherPort: "NotCapable",
      fetchOtherHost: "NotCapable",
      envToken: "ok",
      envUnlisted: "NotCapable",
      runPs: "ok",
      runSh: "NotCapable",
      killOther: "NotCapable",
    });
    assert.deepEqual([...Deno.readDirSync(outsideDir)], []);
  } finally {
    await api.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Tries what the project commands need, and their neighbours; prints name → "ok" or the error's name. */
const PROJECTS_PROBE_SCRIPT = `
const [projectsDir, outsideDir, configDir] = Deno.args;
async function attempt(action) {
  try {
    await action();
    return "ok";
  } catch (error) {
    return error.name;
  }
}
const results = {
  readProject: await attempt(() => Deno.readTextFile(projectsDir + "/api/README.md")),
  writeProject: await attempt(() => Deno.writeTextFile(projectsDir + "/api/x", "x")),
  readOutside: await attempt(() => Deno.readTextFile(outsideDir + "/secret")),
  readConversations: await attempt(() => Deno.readDir(configDir + "/projects")[Symbol.asyncIterator]().next()),
  readCredentials: await attempt(() => Deno.readTextFile(configDir + "/.credentials.json")),
  runGit: await attempt(() => new Deno.Command("git", { args: ["--version"], stdout: "null" }).output()),
};
console.log(JSON.stringify(results));
`;

Deno.test("main.ts's flags let the bot read projects and Claude's conversations and run git, nothing more", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ct-probe-" });
  try {
    const dataDir = join(dir, "data");
    const projectsDir = join(dir, "code");
    const outsideDir = join(dir, "outside");
    const configDir = join(dir, "claude-config");
    for (
      const folder of [
        dataDir,
        join(projectsDir, "api"),
        outsideDir,
        join(configDir, "projects"),
      ]
    ) {
      await Deno.mkdir(folder, { recursive: true });
    }
    await Deno.writeTextFile(join(projectsDir, "api", "README.md"), "hi\n");
    await Deno.writeTextFile(join(outsideDir, "secret"), "no\n");
    await Deno.writeTextFile(join(configDir, ".credentials.json"), "{}\n");
    const probePath = join(dir, "probe.js");
    await Deno.writeTextFile(probePath, PROJECTS_PROBE_SCRIPT);
    const env = {
      ...MINIMAL,
      DATA_DIR: dataDir,
      PROJECTS_DIRS: projectsDir,
      CLAUDE_CONFIG_DIR: configDir,
      CLAUDE_SANDBOX: "off",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    };
    const args = mainRunArgs(parseConfig(env, dir), {
      claudeEnvNames: claudeEnvNames(env),
      botDir: dir,
    });
    const flags = args.slice(0, args.indexOf(MAIN_PATH));

    const results = await runProbe([
      ...flags,
      probePath,
      projectsDir,
      outsideDir,
      configDir,
    ], {
      cwd: dir,
      env: env,
    });

    assert.deepEqual(results, {
      readProject: "ok",
      writeProject: "NotCapable",
      readOutside: "NotCapable",
      readConversations: "ok",
      readCredentials: "NotCapable",
      runGit: "ok",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the wizard's flags allow its directory, the API and its variables, and deny the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ct-probe-" });
  const api = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok"),
  );
  try {
    const setupDir = join(dir, "bot");
    const outsideDir = join(dir, "outside");
    await Deno.mkdir(setupDir);
    await Deno.mkdir(outsideDir);
    const probePath = join(dir, "probe.js");
    await Deno.writeTextFile(probePath, PROBE_SCRIPT);
    const apiRoot = `http://127.0.0.1:${api.addr.port}`;
    const env = {
      TELEGRAM_API_ROOT: apiRoot,
      TELEGRAM_BOT_TOKEN: TOKEN,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    };
    const args = setupRunArgs(env, { dir: setupDir });
    const flags = args.slice(0, args.indexOf(SETUP_PATH));

    const results = await runProbe([
      ...flags,
      probePath,
      setupDir,
      outsideDir,
      apiRoot,
      `http://127.0.0.1:${api.addr.port + (api.addr.port < 65535 ? 1 : -1)}`,
    ], {
      cwd: dir,
      env: { ...env, UNLISTED_SECRET: "not for the wizard" },
    });

    assert.deepEqual(results, {
      writeDataDir: "ok",
      readDataDir: "ok",
      writeOutside: "NotCapable",
      readOutside: "NotCapable",
      readPasswd: "NotCapable",
      fetchApi: "ok",
      fetchOtherPort: "NotCapable",
      fetchOtherHost: "NotCapable",
      envToken: "ok",
      envUnlisted: "NotCapable",
      runPs: "NotCapable",
      runSh: "NotCapable",
      killOther: "NotCapable",
    });
  } finally {
    await api.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch.ts --setup prints the wizard's arguments for the configuration in .env", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "ct-launch-" });
  try {
    await Deno.writeTextFile(
      join(cwd, ".env"),
      "TELEGRAM_API_ROOT=http://127.0.0.1:8081\n",
    );
    const env = await launcherEnv({ HOME: "/home/bot" });

    const { code, stdout, stderr } = await runLauncher(
      env,
      cwd,
      LAUNCH_PATH,
      SETUP_MODE,
    );

    assert.equal(code, 0, stderr);
    assert.equal(
      stdout.trim(),
      setupRunArgs({ ...env, TELEGRAM_API_ROOT: "http://127.0.0.1:8081" }, {
        dir: cwd,
      }).join(" "),
    );
    assert.equal(
      flagValue(stdout.trim().split(" "), "--allow-net"),
      "127.0.0.1:8081",
    );
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("launch.ts --setup-if-unconfigured: configured, or no token without a terminal", async (t) => {
  const cwd = await Deno.makeTempDir({ prefix: "ct-launch-" });
  try {
    await t.step("a token in the environment: go on", async () => {
      const { code, stdout } = await runLauncher(
        await launcherEnv({ TELEGRAM_BOT_TOKEN: TOKEN }),
        cwd,
        LAUNCH_PATH,
        SETUP_IF_UNCONFIGURED_MODE,
      );
      assert.equal(code, 0);
      assert.equal(stdout, `${CONFIGURED_OUTPUT}\n`);
    });

    await t.step(
      "no token and stdin not a terminal: one line, exit 1",
      async () => {
        const { code, stdout, stderr } = await runLauncher(
          await launcherEnv({ ALLOWED_USER_IDS: "1001" }),
          cwd,
          LAUNCH_PATH,
          SETUP_IF_UNCONFIGURED_MODE,
        );
        assert.equal(code, 1);
        assert.equal(stdout, "");
        assert.equal(stderr, `${NOT_SET_UP_MESSAGE}\n`);
        assert.match(stderr, /`deno task setup`/);
      },
    );

    await t.step("a token in .env: go on", async () => {
      await Deno.writeTextFile(
        join(cwd, ".env"),
        `TELEGRAM_BOT_TOKEN=${TOKEN}\n`,
      );
      const { code, stdout } = await runLauncher(
        await launcherEnv(),
        cwd,
        LAUNCH_PATH,
        SETUP_IF_UNCONFIGURED_MODE,
      );
      assert.equal(code, 0);
      assert.equal(stdout, `${CONFIGURED_OUTPUT}\n`);
    });
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
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
  name:
    "launch.ts --setup-if-unconfigured: no token with stdin a terminal prints the wizard's arguments",
  ignore: SCRIPT_BIN === undefined,
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "ct-launch-" });
    try {
      const env = await launcherEnv({ HOME: "/home/bot", SHELL: "/bin/sh" });
      const command = [
        Deno.execPath(),
        ...launcherArgs(LAUNCH_PATH, SETUP_IF_UNCONFIGURED_MODE),
      ]
        .map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");

      const { code, stdout } = await new Deno.Command(SCRIPT_BIN!, {
        args: ["--quiet", "--return", "--command", command, "/dev/null"],
        cwd,
        clearEnv: true,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(15_000),
      }).output();

      assert.equal(code, 0);
      const printed = new TextDecoder().decode(stdout).trim();
      assert.equal(
        printed,
        setupRunArgs(env, { dir: cwd, thenStart: true }).join(" "),
      );
    } finally {
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
