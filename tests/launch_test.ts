// Tests for launch.ts: the permission flags it computes for main.ts, the real
// launcher process, and a probe run under exactly those flags to show what
// they allow and deny.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BOT_ENV_VARS, ConfigError, parseConfig } from "../config.ts";
import {
  CLAUDE_ENV_OPTION,
  claudeEnvNames,
  mainRunArgs,
  withEnvFile,
} from "../launch.ts";

const REPO_DIR = fileURLToPath(new URL("..", import.meta.url));
const LAUNCH_PATH = join(REPO_DIR, "launch.ts");
const MAIN_PATH = join(REPO_DIR, "main.ts");
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
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    NO_COLOR: "1",
    DENO_DIR: JSON.parse(new TextDecoder().decode(stdout)).denoDir,
    ...extra,
  };
}

/** Runs the launcher the way the start task does, from `cwd` with exactly `env`. */
async function runLauncher(
  env: Record<string, string>,
  cwd: string,
  launchPath = LAUNCH_PATH,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      // The start task finds deno.json from the repository; a temp cwd does not.
      `--config=${join(REPO_DIR, "deno.json")}`,
      "--allow-env",
      "--allow-read=.env",
      launchPath,
    ],
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
  }, "/srv/bot");

  const args = mainRunArgs(config, { claudeEnvNames: ["HOME", "PATH"] });

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
    "/opt/claude/bin/claude,ps,kill",
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
      const args = mainRunArgs(config, { claudeEnvNames: [] });
      assert.equal(flagValue(args, "--allow-net"), expected);
    });
  }
});

Deno.test("mainRunArgs() passes an env file to main.ts", () => {
  const config = parseConfig(MINIMAL, "/srv/bot");

  const args = mainRunArgs(config, { claudeEnvNames: [], envFile: ".env" });

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
        () => mainRunArgs(config, { claudeEnvNames: [] }),
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
    });
    assert.equal(stdout.trim(), expected.join(" "));
    assert.equal(flagValue(expected, "--allow-write"), join(cwd, "state"));
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
    for (const file of ["launch.ts", "config.ts"]) {
      await Deno.copyFile(join(REPO_DIR, file), join(copy, file));
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
    });
    const flags = args.slice(0, args.indexOf(MAIN_PATH));

    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags,
        probePath,
        dataDir,
        outsideDir,
        apiRoot,
        // The same host on another port is another destination.
        `http://127.0.0.1:${api.addr.port + (api.addr.port < 65535 ? 1 : -1)}`,
      ],
      cwd: dir,
      clearEnv: true,
      env: { ...env, UNLISTED_SECRET: "not for the bot" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(15_000),
    }).output();

    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), {
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
