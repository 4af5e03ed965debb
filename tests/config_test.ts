// Tests for config.ts: defaults, one problem per bad variable, and what
// reaches Claude's environment.
import assert from "node:assert/strict";
import {
  BOT_ENV_VARS,
  claudeBaseEnvironment,
  ConfigError,
  parseConfig,
} from "../config.ts";

const TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz";
const MINIMAL = { TELEGRAM_BOT_TOKEN: TOKEN, ALLOWED_USER_IDS: "1001" };

/** The problems parseConfig reports for `env`; fails when it accepts it. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    parseConfig(env, "/srv/bot");
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return [...error.problems];
  }
  assert.fail(`parseConfig accepted ${JSON.stringify(env)}`);
}

Deno.test("parseConfig() needs only the token and the users, the rest has defaults", () => {
  const config = parseConfig(MINIMAL, "/srv/bot");

  assert.equal(config.botToken, TOKEN);
  assert.deepEqual(config.allowedUserIds, new Set([1001]));
  assert.deepEqual(config.allowedChatIds, new Set());
  assert.equal(config.apiRoot, "https://api.telegram.org");
  assert.equal(config.claudeBin, "claude");
  assert.equal(config.dataDir, "/srv/bot/data");
  assert.equal(config.idleTimeoutMs, 600_000);
  assert.equal(config.shutdownGraceMs, 10_000);
  assert.equal(config.permissionMode, "ask");
  assert.equal(config.defaultModel, undefined);
  assert.deepEqual(config.allowedTools, []);
  assert.equal(config.maxUploadBytes, 20 * 1024 * 1024);
  assert.equal(config.hungTurnMs, 10 * 60_000);
  assert.equal(config.approvalTimeoutMs, 600_000);
  assert.equal(config.dailyBudgetUsd, undefined);
});

Deno.test("parseConfig() reads lists, numbers and URLs", () => {
  const config = parseConfig({
    ...MINIMAL,
    ALLOWED_USER_IDS: " 1001, 42 ,,",
    ALLOWED_CHAT_IDS: "-1001234567890",
    TELEGRAM_API_ROOT: "http://127.0.0.1:8081/",
    IDLE_TIMEOUT_SECONDS: " 90 ",
    SHUTDOWN_GRACE_SECONDS: "0",
    CLAUDE_PERMISSION_MODE: "plan",
    CLAUDE_MODEL: "sonnet",
    CLAUDE_ALLOWED_TOOLS: "Read, Bash(git log:*) ,",
    MAX_UPLOAD_MB: "5",
  }, "/srv/bot");

  assert.deepEqual(config.allowedUserIds, new Set([1001, 42]));
  assert.deepEqual(config.allowedChatIds, new Set([-1001234567890]));
  assert.equal(config.apiRoot, "http://127.0.0.1:8081");
  assert.equal(config.idleTimeoutMs, 90_000);
  assert.equal(config.shutdownGraceMs, 0);
  assert.equal(config.permissionMode, "plan");
  assert.equal(config.defaultModel, "sonnet");
  assert.deepEqual(config.allowedTools, ["Read", "Bash(git log:*)"]);
  assert.equal(config.maxUploadBytes, 5 * 1024 * 1024);
});

Deno.test("parseConfig() names the variable of each bad value", async (t) => {
  const cases: [string, Record<string, string | undefined>, RegExp][] = [
    ["TELEGRAM_BOT_TOKEN", { TELEGRAM_BOT_TOKEN: undefined }, /is required/],
    ["TELEGRAM_BOT_TOKEN", { TELEGRAM_BOT_TOKEN: "   " }, /is required/],
    ["TELEGRAM_BOT_TOKEN", { TELEGRAM_BOT_TOKEN: "12345" }, /bot token/],
    ["ALLOWED_USER_IDS", { ALLOWED_USER_IDS: undefined }, /is required/],
    ["ALLOWED_USER_IDS", { ALLOWED_USER_IDS: "" }, /is required/],
    ["ALLOWED_USER_IDS", { ALLOWED_USER_IDS: " , " }, /at least one/],
    ["ALLOWED_USER_IDS", { ALLOWED_USER_IDS: "1001,bob" }, /"bob" is not/],
    ["ALLOWED_CHAT_IDS", { ALLOWED_CHAT_IDS: "chat" }, /"chat" is not/],
    ["TELEGRAM_API_ROOT", { TELEGRAM_API_ROOT: "api.telegram.org" }, /URL/],
    ["TELEGRAM_API_ROOT", { TELEGRAM_API_ROOT: "ftp://example.org" }, /URL/],
    ["IDLE_TIMEOUT_SECONDS", { IDLE_TIMEOUT_SECONDS: "0" }, /at least 1/],
    ["IDLE_TIMEOUT_SECONDS", { IDLE_TIMEOUT_SECONDS: "abc" }, /whole number/],
    ["IDLE_TIMEOUT_SECONDS", { IDLE_TIMEOUT_SECONDS: "1.5" }, /whole number/],
    ["SHUTDOWN_GRACE_SECONDS", { SHUTDOWN_GRACE_SECONDS: "601" }, /at most/],
    ["CLAUDE_PERMISSION_MODE", { CLAUDE_PERMISSION_MODE: "yolo" }, /one of/],
    ["MAX_UPLOAD_MB", { MAX_UPLOAD_MB: "-1" }, /whole number/],
  ];
  for (const [name, override, detail] of cases) {
    const value = Object.values(override)[0];
    const label = value === undefined ? "unset" : JSON.stringify(value);
    await t.step(`${name} ${label}`, () => {
      const problems = problemsOf({ ...MINIMAL, ...override });
      assert.equal(problems.length, 1, problems.join("; "));
      assert.ok(problems[0].startsWith(`${name} `), problems[0]);
      assert.match(problems[0], detail);
    });
  }
});

Deno.test("parseConfig() reports every bad variable at once", () => {
  const problems = problemsOf({
    TELEGRAM_BOT_TOKEN: "nope",
    IDLE_TIMEOUT_SECONDS: "soon",
  });

  assert.deepEqual(
    problems.map((problem) => problem.split(" ")[0]).sort(),
    ["ALLOWED_USER_IDS", "IDLE_TIMEOUT_SECONDS", "TELEGRAM_BOT_TOKEN"],
  );
});

Deno.test("ConfigError carries its problems and names them in the message", () => {
  const error = new ConfigError(["A is required", "B must be a whole number"]);

  assert.equal(error.name, "ConfigError");
  assert.deepEqual(error.problems, [
    "A is required",
    "B must be a whole number",
  ]);
  assert.match(error.message, /A is required; B must be a whole number/);
});

Deno.test("parseConfig() resolves a relative DATA_DIR against cwd", async (t) => {
  for (
    const [dataDir, expected] of [
      ["./state", "/srv/bot/state"],
      ["state/bot", "/srv/bot/state/bot"],
      ["../shared", "/srv/shared"],
      ["/var/lib/claude-telegram", "/var/lib/claude-telegram"],
    ]
  ) {
    await t.step(dataDir, () => {
      const config = parseConfig({ ...MINIMAL, DATA_DIR: dataDir }, "/srv/bot");
      assert.equal(config.dataDir, expected);
    });
  }
});

Deno.test("claudeBaseEnvironment() drops the bot's variables and keeps Claude's", () => {
  const botVariables = Object.fromEntries(
    BOT_ENV_VARS.map((name) => [name, `value of ${name}`]),
  );
  const claudeVariables = {
    PATH: "/usr/bin:/bin",
    HOME: "/home/bot",
    ANTHROPIC_API_KEY: "sk-ant-test",
    ANTHROPIC_BASE_URL: "http://127.0.0.1:9",
    CLAUDE_CODE_USE_BEDROCK: "1",
    AWS_REGION: "eu-west-1",
    AWS_PROFILE: "bedrock",
    HTTPS_PROXY: "http://proxy:3128",
    IS_SANDBOX: "1",
  };

  const env = claudeBaseEnvironment({
    ...botVariables,
    ...claudeVariables,
    TELEGRAM_SOMETHING_ELSE: "secret",
    UNSET: undefined,
  });

  assert.deepEqual(env, claudeVariables);
});

Deno.test("parseConfig() reads PROJECTS_DIRS and Claude's config dir", async (t) => {
  await t.step("unset: no projects; Claude's dir under HOME", () => {
    const config = parseConfig({ ...MINIMAL, HOME: "/home/me" }, "/srv/bot");
    assert.deepEqual(config.projectsDirs, []);
    assert.equal(config.claudeConfigDir, "/home/me/.claude");
  });
  await t.step("a list of absolute folders, normalised", () => {
    const config = parseConfig({
      ...MINIMAL,
      PROJECTS_DIRS: " /home/me/code/ , /srv/repos/api,,",
      CLAUDE_CONFIG_DIR: "/etc/claude",
      HOME: "/home/me",
    }, "/srv/bot");
    assert.deepEqual(config.projectsDirs, ["/home/me/code", "/srv/repos/api"]);
    assert.equal(config.claudeConfigDir, "/etc/claude");
  });
  await t.step("a relative folder is named", () => {
    const [problem] = problemsOf({
      ...MINIMAL,
      PROJECTS_DIRS: "/home/me/code,code/api",
    });
    assert.match(problem, /^PROJECTS_DIRS .*"code\/api" is relative/);
  });
  await t.step("a relative CLAUDE_CONFIG_DIR is refused", () => {
    const [problem] = problemsOf({ ...MINIMAL, CLAUDE_CONFIG_DIR: "claude" });
    assert.match(problem, /^CLAUDE_CONFIG_DIR .*"claude" is relative/);
  });
  await t.step("neither CLAUDE_CONFIG_DIR nor HOME: unknown", () => {
    assert.equal(parseConfig(MINIMAL, "/srv/bot").claudeConfigDir, undefined);
  });
  await t.step(
    "PROJECTS_DIRS does not reach Claude; CLAUDE_CONFIG_DIR does",
    () => {
      const env = claudeBaseEnvironment({
        PROJECTS_DIRS: "/home/me/code",
        CLAUDE_CONFIG_DIR: "/etc/claude",
      });
      assert.deepEqual(env, { CLAUDE_CONFIG_DIR: "/etc/claude" });
    },
  );
});

Deno.test("parseConfig() reads the CLAUDE_SANDBOX variables", async (t) => {
  await t.step("defaults: auto, nothing extra, any network", () => {
    const config = parseConfig(MINIMAL, "/srv/bot");
    assert.equal(config.sandboxMode, "auto");
    assert.deepEqual(
      [config.sandboxWritable, config.sandboxHide, config.sandboxNetwork],
      [[], [], []],
    );
  });

  await t.step("lists, with ~/ expanded against HOME", () => {
    const config = parseConfig({
      ...MINIMAL,
      HOME: "/home/bot",
      CLAUDE_SANDBOX: "on",
      CLAUDE_SANDBOX_WRITABLE: "~/.cache, /var/cache/npm",
      CLAUDE_SANDBOX_HIDE: "/etc/claude-telegram.env,~/secrets/",
      CLAUDE_SANDBOX_NETWORK: "api.anthropic.com, *.npmjs.org,localhost:8080",
    }, "/srv/bot");
    assert.equal(config.sandboxMode, "on");
    assert.deepEqual(config.sandboxWritable, [
      "/home/bot/.cache",
      "/var/cache/npm",
    ]);
    assert.deepEqual(config.sandboxHide, [
      "/etc/claude-telegram.env",
      "/home/bot/secrets",
    ]);
    assert.deepEqual(config.sandboxNetwork, [
      "api.anthropic.com",
      "*.npmjs.org",
      "localhost:8080",
    ]);
  });

  await t.step("bad values name their variable", () => {
    assert.deepEqual(
      problemsOf({
        ...MINIMAL,
        CLAUDE_SANDBOX: "yes",
        CLAUDE_SANDBOX_WRITABLE: "cache",
        CLAUDE_SANDBOX_NETWORK: "https://api.anthropic.com",
      }).map((problem) => problem.split(" ")[0]),
      ["CLAUDE_SANDBOX", "CLAUDE_SANDBOX_WRITABLE", "CLAUDE_SANDBOX_NETWORK"],
    );
    assert.deepEqual(
      problemsOf({ ...MINIMAL, CLAUDE_SANDBOX_HIDE: "~/x" }),
      ["CLAUDE_SANDBOX_HIDE uses ~/ but HOME is not an absolute path"],
    );
  });
});
