// Tests for the sandbox (sandbox.ts and its engines, sandbox_bwrap.ts and
// sandbox_runtime.ts): the command lines, a fake `claude` that tries every way
// out (in each engine and without one, so the test can fail), and
// ClaudeProcess, the marker and the clean stop through each engine.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { systemClock } from "../clock.ts";
import { ProcessTable } from "../process_tree.ts";
import { detectSandbox, sandboxWrapper } from "../sandbox.ts";
import {
  type PathInfo,
  SANDBOX_BIN,
  sandboxCommand,
} from "../sandbox_bwrap.ts";
import {
  claudeConfigPaths,
  type SandboxEngine,
  type SandboxSpec,
  SandboxUnavailableError,
} from "../sandbox_spec.ts";
import {
  runtimeCommand,
  runtimeFiles,
  runtimeSettings,
  SANDBOX_RUNTIME_BIN,
} from "../sandbox_runtime.ts";
import { type SpawnFn, systemSpawn } from "../spawner.ts";
import type { ClaudeEvent } from "../stream_json.ts";
import {
  type ClaudeExit,
  ClaudeProcess,
  type ClaudeSettings,
} from "../subprocess.ts";
import { createFakeClaudeBin } from "./fakes/claude_bin.ts";
import {
  bwrapProblem,
  runtimeProblem,
  TEST_DOMAINS,
} from "./fakes/sandbox_engines.ts";
import { pollUntil, withDeadline } from "./fakes/wait.ts";

const ESCAPE_CLAUDE = fileURLToPath(
  new URL("./fakes/escape_claude.sh", import.meta.url),
);
const FAKE_TOKEN = "123456:FAKE-TOKEN-only-for-the-sandbox-test";
const WAIT_MS = 20_000;

const NO_SANDBOX = await bwrapProblem();
if (NO_SANDBOX) console.warn(`\n!!! SKIPPING sandbox tests: ${NO_SANDBOX}\n`);
const NO_RUNTIME = await runtimeProblem() ?? await curlProblem();
if (NO_RUNTIME) {
  console.warn(`\n!!! SKIPPING sandbox-runtime tests: ${NO_RUNTIME}\n`);
}

/** The escape fake's network ways out use curl. */
async function curlProblem(): Promise<string | undefined> {
  const curl = await systemSpawn("curl", {
    args: ["--version"],
    stdout: "null",
    stderr: "null",
  }).status.catch(() => undefined);
  return curl?.success ? undefined : "curl is not installed";
}

/** Each engine and why its tests are skipped here, if they are. */
const ENGINES: { engine: SandboxEngine; skip?: string }[] = [
  { engine: "bubblewrap", skip: NO_SANDBOX },
  { engine: "sandbox-runtime", skip: NO_RUNTIME },
];

const processes = new ProcessTable({ spawn: systemSpawn, clock: systemClock });

/**
 * A bot's world on disk: DATA_DIR with state, a journal and two sessions'
 * folders, the bot's folder with its .env, hidden paths, a HOME. It lives
 * under /var/tmp, not /tmp: the sandbox gives Claude a /tmp of its own.
 */
class World implements AsyncDisposable {
  readonly root: string;
  readonly spec: SandboxSpec;
  readonly tmpProbe = `sandbox-test-${crypto.randomUUID()}`;

  private constructor(root: string) {
    this.root = root;
    const dataDir = join(root, "data");
    this.spec = {
      workDir: join(dataDir, "work", "mine"),
      uploadDir: join(dataDir, "uploads", "mine"),
      claudeConfig: claudeConfigPaths({ HOME: join(root, "home") }),
      dataDir,
      botDir: join(root, "bot"),
      writable: [],
      hide: [join(root, "secrets", "bot.env"), join(root, "keys")],
      // The fakes live in the checkout, which may lie under /tmp.
      readable: [fileURLToPath(new URL("..", import.meta.url))],
    };
  }

  static async create(): Promise<World> {
    const world = new World(
      await Deno.makeTempDir({ dir: "/var/tmp", prefix: "sandbox_test_" }),
    );
    const { spec } = world;
    const files: [string, string][] = [
      [join(spec.dataDir, "state", "sessions.json"), "STATE-SECRET"],
      [join(spec.dataDir, "journal", "entry.json"), "JOURNAL-SECRET"],
      [join(spec.dataDir, "work", "other", "notes.txt"), "OTHER-SECRET"],
      [join(spec.dataDir, "uploads", "other", "photo.txt"), "OTHER-SECRET"],
      [join(spec.workDir, "readme.txt"), "WORK-NOTE"],
      [join(spec.botDir, ".env"), `TELEGRAM_BOT_TOKEN=${FAKE_TOKEN}\n`],
      [spec.hide[0], `TELEGRAM_BOT_TOKEN=${FAKE_TOKEN}\nHIDDEN-SECRET\n`],
      [join(spec.hide[1], "key.pem"), "HIDDEN-SECRET"],
      [world.elsewhere, "untouched"],
    ];
    for (const [path, text] of files) {
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeTextFile(path, text);
    }
    await Deno.writeTextFile(world.botScript, BOT_SCRIPT);
    return world;
  }

  get home(): string {
    return join(this.root, "home");
  }
  get elsewhere(): string {
    return join(this.root, "elsewhere.txt");
  }
  get botScript(): string {
    return join(this.spec.botDir, "escape_bot.sh");
  }
  get signalFile(): string {
    return join(this.root, "bot-was-signalled");
  }

  /** The spec for `engine`: sandbox-runtime is chosen by a network list. */
  specFor(engine: SandboxEngine): SandboxSpec {
    return engine === "sandbox-runtime"
      ? { ...this.spec, network: TEST_DOMAINS }
      : this.spec;
  }

  /**
   * Runs the escape fake as the bot would run Claude: from a parent whose
   * environment holds the token and whose cwd holds the .env, with a web
   * server on the host's 127.0.0.1. Returns the fake's report: way or
   * ability → its verdict.
   * @param engine the sandbox to run it in; none when undefined
   */
  async escape(engine?: SandboxEngine): Promise<Map<string, string>> {
    const plain = { bin: "/bin/sh", args: [ESCAPE_CLAUDE] };
    const { bin, args } = engine
      ? sandboxWrapper(this.specFor(engine))(plain)
      : plain;
    await using web = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response("NET-OK"),
    );
    const { spec } = this;
    const child = systemSpawn("/bin/sh", {
      args: [this.botScript, bin, ...args],
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        TELEGRAM_BOT_TOKEN: FAKE_TOKEN,
        HOME: this.home,
        ESCAPE_WORK_DIR: spec.workDir,
        ESCAPE_UPLOAD_DIR: spec.uploadDir,
        ESCAPE_DATA_DIR: spec.dataDir,
        ESCAPE_BOT_DIR: spec.botDir,
        ESCAPE_HIDDEN_FILE: spec.hide[0],
        ESCAPE_HIDDEN_DIR: spec.hide[1],
        ESCAPE_TMP_PROBE: this.tmpProbe,
        ESCAPE_ELSEWHERE: this.elsewhere,
        ESCAPE_SIGNAL_FILE: this.signalFile,
        ESCAPE_NET_PORT: String(web.addr.port),
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(WAIT_MS),
    });
    const output = await child.output();
    const text = new TextDecoder().decode(output.stdout);
    assert.match(
      text,
      /^DONE$/m,
      `the fake ran to its end: ${new TextDecoder().decode(output.stderr)}`,
    );
    return new Map(
      text.trim().split("\n").filter((line) => line !== "DONE").map((line) => {
        const [verdict, name] = line.split(" ");
        return [name, verdict];
      }),
    );
  }

  async exists(path: string): Promise<boolean> {
    return await Deno.lstat(path).then(() => true, () => false);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
    await Deno.remove(join("/tmp", this.tmpProbe)).catch(() => {
      // Created only by a run without the sandbox.
    });
  }
}

/**
 * The stand-in for the bot: the token in its environment, its cwd at the
 * .env, a USR1 trap that records a signal; it runs its child with the token
 * removed, as the bot does.
 */
const BOT_SCRIPT = `#!/bin/sh
trap 'echo signalled > "$ESCAPE_SIGNAL_FILE"' USR1
ESCAPE_BOT_PID=$$
export ESCAPE_BOT_PID
cd "$ESCAPE_BOT_DIR" || exit 98
env -u TELEGRAM_BOT_TOKEN "$@"
`;

const WAYS_OUT = [
  "parent-environ",
  "any-process-environ",
  "ps-environment",
  "parent-cwd-env",
  "bot-pid-environ",
  "bot-pid-visible",
  "state-read",
  "journal-read",
  "state-listing",
  "other-session-read",
  "other-upload-read",
  "bot-dotenv",
  "hidden-file",
  "hidden-dir",
  "state-write",
  "journal-write",
  "signal-bot",
];

/** Ways out of the network that only the allow-list closes. */
const NETWORK_WAYS_OUT = ["net-direct", "net-unlisted"];

for (const { engine, skip } of ENGINES) {
  Deno.test({
    name:
      `sandbox (${engine}): a fake claude that tries every way out finds and changes nothing`,
    ignore: skip !== undefined,
    fn: async () => {
      await using world = await World.create();
      const report = await world.escape(engine);
      for (const way of WAYS_OUT) assert.equal(report.get(way), "SAFE", way);
      const abilities = [
        "read-workdir",
        "write-workdir",
        "write-uploads",
        "write-tmp",
        "write-claude-config",
        "reach-listed-domain",
      ];
      for (const ability of abilities) {
        assert.equal(report.get(ability), "CAN", ability);
      }
      // The network is restricted only with a list (sandbox-runtime).
      const network = engine === "sandbox-runtime" ? "SAFE" : "LEAK";
      for (const way of NETWORK_WAYS_OUT) {
        assert.equal(report.get(way), network, way);
      }
      assert.equal(report.get("write-elsewhere"), "CANNOT");
      const { dataDir, workDir, uploadDir } = world.spec;
      assert.ok(!await world.exists(join(dataDir, "state", "planted.json")));
      assert.ok(!await world.exists(join(dataDir, "journal", "planted.json")));
      assert.ok(!await world.exists(world.signalFile), "the bot got no signal");
      assert.ok(!await world.exists(join("/tmp", world.tmpProbe)), "own /tmp");
      assert.equal(await Deno.readTextFile(world.elsewhere), "untouched");
      assert.ok(await world.exists(join(workDir, "written-by-claude")));
      assert.ok(await world.exists(join(uploadDir, "written-by-claude")));
      assert.ok(
        await world.exists(join(world.home, ".claude", "written-by-claude")),
      );
    },
  });
}

Deno.test("sandbox: without it, the same fake reaches every way out (the test can fail)", async () => {
  await using world = await World.create();
  const report = await world.escape();
  for (const way of [...WAYS_OUT, ...NETWORK_WAYS_OUT]) {
    assert.equal(report.get(way), "LEAK", way);
  }
  assert.equal(report.get("write-elsewhere"), "CAN");
  assert.ok(
    await world.exists(join(world.spec.dataDir, "state", "planted.json")),
  );
  assert.ok(await world.exists(world.signalFile), "the bot was signalled");
  assert.ok(await world.exists(join("/tmp", world.tmpProbe)), "the host /tmp");
});

/** A path probe over a fixed table, for command-line tests. */
function tableProbe(table: Record<string, PathInfo>) {
  return (path: string): PathInfo => table[path] ?? { kind: "missing" };
}

Deno.test("sandboxCommand() layers read-only root, binds, DATA_DIR mask and secret masks in that order", () => {
  const spec: SandboxSpec = {
    workDir: "/data/work/s1",
    uploadDir: "/data/uploads/s1",
    claudeConfig: { dir: "/home/u/.claude", file: "/home/u/.claude.json" },
    dataDir: "/data",
    botDir: "/srv/bot",
    writable: ["/home/u/.cache", "/data/state", "/nowhere"],
    hide: ["/etc/bot.env", "/home/u/keys", "/absent"],
  };
  const dir = (realPath: string): PathInfo => ({ kind: "dir", realPath });
  const file = (realPath: string): PathInfo => ({ kind: "file", realPath });
  const { bin, args } = sandboxCommand(
    spec,
    { bin: "claude", args: ["-p", "--verbose"] },
    tableProbe({
      // DATA_DIR is a symlink: everything is masked and bound where it leads.
      "/data": dir("/mnt/data"),
      "/data/work/s1": dir("/mnt/data/work/s1"),
      "/data/uploads/s1": dir("/mnt/data/uploads/s1"),
      "/data/state": dir("/mnt/data/state"),
      "/home/u/.claude": dir("/home/u/.claude"),
      "/home/u/.claude.json": file("/home/u/.claude.json"),
      "/home/u/.cache": dir("/home/u/.cache"),
      "/srv/bot/.env": file("/srv/bot/.env"),
      "/etc/bot.env": file("/etc/bot.env"),
      "/home/u/keys": dir("/home/u/keys"),
    }),
  );
  assert.equal(bin, SANDBOX_BIN);
  const text = args.join(" ");
  assert.ok(
    text.startsWith(
      "--die-with-parent --new-session --unshare-pid --unshare-ipc " +
        "--cap-drop ALL --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp ",
    ),
    text,
  );
  const position = (part: string) => {
    const index = text.indexOf(part);
    assert.ok(index >= 0, `"${part}" in ${text}`);
    return index;
  };
  const masked = position("--tmpfs /mnt/data ");
  for (
    const path of [
      "/home/u/.cache",
      "/home/u/.claude",
      "/home/u/.claude.json",
      "/mnt/data/state",
    ]
  ) {
    assert.ok(position(`--bind ${path} ${path} `) < masked, path);
  }
  // Only the session's own folders come back inside DATA_DIR, after the mask.
  assert.equal(
    text.indexOf("--bind /mnt/data/state"),
    text.lastIndexOf("--bind /mnt/data/state"),
  );
  const rebound = position(
    "--tmpfs /mnt/data --bind /mnt/data/uploads/s1 /mnt/data/uploads/s1 " +
      "--bind /mnt/data/work/s1 /mnt/data/work/s1 --ro-bind",
  );
  const masks = [
    "--ro-bind /dev/null /srv/bot/.env",
    "--ro-bind /dev/null /etc/bot.env",
    "--tmpfs /home/u/keys --remount-ro /home/u/keys",
    "--remount-ro /mnt/data --chdir /data/work/s1 -- claude -p --verbose",
  ].map(position);
  assert.ok(masks[0] > rebound);
  assert.deepEqual(masks, [...masks].sort((a, b) => a - b), text);
  assert.ok(!text.includes("/nowhere") && !text.includes("/absent"), text);
  assert.ok(text.endsWith("-- claude -p --verbose"));
});

Deno.test("sandboxWrapper() refuses relative paths and DATA_DIR as a working dir", () => {
  const spec: SandboxSpec = {
    workDir: "/data/work/s1",
    uploadDir: "/data/uploads/s1",
    claudeConfig: { dir: "/home/u/.claude" },
    dataDir: "/data",
    botDir: "/srv/bot",
    writable: [],
    hide: [],
  };
  assert.throws(
    () => sandboxWrapper({ ...spec, hide: ["relative/path"] }),
    TypeError,
  );
  assert.throws(() => sandboxWrapper({ ...spec, workDir: "/data/" }), {
    name: "TypeError",
    message: /"\/data\/" is DATA_DIR itself/,
  });
});

Deno.test("claudeConfigPaths() follows CLAUDE_CONFIG_DIR, else HOME", () => {
  assert.deepEqual(claudeConfigPaths({ HOME: "/home/u" }), {
    dir: "/home/u/.claude",
    file: "/home/u/.claude.json",
  });
  assert.deepEqual(
    claudeConfigPaths({ HOME: "/home/u", CLAUDE_CONFIG_DIR: "/etc/claude" }),
    { dir: "/etc/claude" },
  );
  assert.throws(() => claudeConfigPaths({}), { name: "SandboxSetupError" });
});

/** A SpawnFn whose every spawn fails like a missing or forbidden binary. */
function failingSpawn(error: Error): SpawnFn {
  return () => {
    throw error;
  };
}

Deno.test("detectSandbox() per mode: off, a missing bwrap in auto and in on", async () => {
  const missing = failingSpawn(new Deno.errors.NotFound("bwrap"));
  assert.deepEqual(await detectSandbox("off", { spawn: missing }), {
    isActive: false,
    reason: "off",
  });
  const auto = await detectSandbox("auto", { spawn: missing });
  assert.equal(auto.isActive, false);
  assert.match(
    auto.isActive ? "" : auto.problem ?? "",
    /bwrap is not installed: install the "bubblewrap" package/,
  );
  const refused = await detectSandbox("on", { spawn: missing }).then(
    () => assert.fail("on mode started without bwrap"),
    (error: unknown) => error,
  );
  assert.ok(refused instanceof SandboxUnavailableError);
  assert.match(refused.message, /sandbox: bwrap is not installed.*apt-get/);
  const forbidden = await detectSandbox("auto", {
    spawn: failingSpawn(new Deno.errors.NotCapable("run")),
  });
  assert.match(
    forbidden.isActive ? "" : forbidden.problem ?? "",
    /add it to --allow-run/,
  );
});

/** A ClaudeProcess on the fake claude, run through the sandbox. */
class SandboxedClaude implements AsyncDisposable {
  readonly events: ClaudeEvent[] = [];
  readonly process: ClaudeProcess;
  readonly marker = `sandbox-test-${crypto.randomUUID()}`;
  readonly #reading: Promise<void>;

  constructor(
    world: World,
    bin: string,
    options: {
      engine: SandboxEngine;
      env?: Record<string, string>;
      settings?: ClaudeSettings;
    },
  ) {
    this.process = ClaudeProcess.start({
      bin,
      cwd: world.spec.workDir,
      env: {
        HOME: world.home,
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        FAKE_CLAUDE_STATE_DIR: join(world.spec.claudeConfig.dir, "fake"),
        ...options.env,
      },
      settings: options.settings ?? {},
      marker: this.marker,
      spawn: systemSpawn,
      clock: systemClock,
      processes,
      wrap: sandboxWrapper(world.specFor(options.engine)),
    });
    const { events } = this.process;
    this.#reading = (async () => {
      for await (const event of events) this.events.push(event);
    })();
  }

  /** Sends `text` and waits for the turn's result; returns the turn's texts. */
  async turn(text: string): Promise<string[]> {
    const from = this.events.length;
    await this.process.sendUserMessage(text);
    await pollUntil(
      () => this.events.slice(from).some((e) => e.type === "result"),
      { description: `the result of "${text}"`, timeoutMs: WAIT_MS },
    );
    return this.events.slice(from).flatMap((e) =>
      e.type === "text" ? [e.text] : []
    );
  }

  async stop(graceMs: number): Promise<ClaudeExit> {
    const exit = await withDeadline(this.process.stop({ graceMs }), {
      what: "the sandboxed claude to stop",
      ms: WAIT_MS,
    });
    await this.#reading;
    return exit;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.process.isAlive) await this.stop(1_000);
    await this.#reading;
  }
}

for (const { engine, skip } of ENGINES) {
  Deno.test({
    name:
      `sandbox (${engine}): ClaudeProcess answers a turn, carries its marker and stops on stdin EOF`,
    ignore: skip !== undefined,
    fn: async () => {
      await using world = await World.create();
      const bin = await createFakeClaudeBin(
        await Deno.makeTempDir({ dir: world.root }),
      );
      await using claude = new SandboxedClaude(world, bin, { engine });
      assert.deepEqual(await claude.turn("hello"), ["echo: hello"]);
      const marked = await processes.findMarked(claude.marker);
      assert.ok(
        marked.some((p) => p.pid === claude.process.pid),
        "the pid the bot spawned (bwrap, or srt) carries the marker",
      );
      assert.ok(
        marked.some((p) =>
          p.pid !== claude.process.pid && /fake_claude/.test(p.args)
        ),
        `the host sees the sandboxed claude with its marker: ${
          JSON.stringify(marked)
        }`,
      );
      const exit = await claude.stop(5_000);
      assert.deepEqual([exit.code, exit.signal], [0, null], exit.stderrTail);
      assert.deepEqual(await processes.findMarked(claude.marker), []);
    },
  });

  Deno.test({
    name:
      `sandbox (${engine}): a claude that ignores EOF and SIGTERM goes down with its tool processes`,
    ignore: skip !== undefined,
    fn: async () => {
      await using world = await World.create();
      const bin = await createFakeClaudeBin(
        await Deno.makeTempDir({ dir: world.root }),
      );
      await using claude = new SandboxedClaude(world, bin, {
        engine,
        env: { FAKE_CLAUDE_IGNORE_SIGTERM: "1" },
      });
      await claude.turn("!tool-sleep 300");
      await pollUntil(
        async () =>
          (await processes.findMarked(claude.marker)).some((p) =>
            p.args.startsWith("sleep 300")
          ),
        { description: "the tool's sleep, marked", timeoutMs: WAIT_MS },
      );
      // A turn that never ends: stdin EOF alone cannot stop it.
      await claude.process.sendUserMessage("!hang");
      const exit = await claude.stop(1_000);
      // bwrap does not forward SIGTERM: it dies of it and takes the sandbox
      // along. srt passes it on to its own bwrap, which does the same.
      if (engine === "bubblewrap") assert.equal(exit.signal, "SIGTERM");
      assert.deepEqual(await processes.findMarked(claude.marker), []);
    },
  });
}

for (const { engine, skip } of ENGINES) {
  Deno.test({
    name:
      `sandbox (${engine}): Claude gets its arguments exactly, however they are quoted`,
    ignore: skip !== undefined,
    fn: async () => {
      await using world = await World.create();
      const bin = await createFakeClaudeBin(
        await Deno.makeTempDir({ dir: world.root }),
      );
      // srt joins argv into one shell command line: quotes, $( ), ; and
      // newlines in a persona must arrive as they were, and run nothing.
      const persona = `It's "quoted" $(touch pwned) \`id\`; echo \\ *\n` +
        "second line\ttab 'single' \u00e9";
      const log = join(world.spec.workDir, "claude.log");
      await using claude = new SandboxedClaude(world, bin, {
        engine,
        env: { FAKE_CLAUDE_LOG: log },
        settings: {
          appendSystemPrompt: persona,
          allowedTools: ["Bash(git status:*)", "Read"],
        },
      });
      await claude.turn("hello");
      const [start] = (await Deno.readTextFile(log)).split("\n")
        .filter(Boolean).map((line) => JSON.parse(line))
        .filter((line) => "argv" in line);
      const argv: string[] = start.argv;
      assert.equal(argv[argv.indexOf("--append-system-prompt") + 1], persona);
      assert.ok(argv.includes("Bash(git status:*)"), argv.join(" "));
      assert.ok(!await world.exists(join(world.spec.workDir, "pwned")));
    },
  });
}

Deno.test("detectSandbox() with CLAUDE_SANDBOX_NETWORK: refused when off or when srt is missing, never unrestricted", async () => {
  const network = { domains: ["api.anthropic.com"], dataDir: "/nonexistent" };
  await assert.rejects(
    detectSandbox("off", { spawn: systemSpawn, network }),
    { name: "SandboxUnavailableError", message: /CLAUDE_SANDBOX is off/ },
  );
  const dataDir = await Deno.makeTempDir({ prefix: "sandbox_probe_" });
  try {
    for (const mode of ["auto", "on"] as const) {
      await assert.rejects(
        detectSandbox(mode, {
          spawn: failingSpawn(new Deno.errors.NotFound("srt")),
          network: { ...network, dataDir },
        }),
        {
          name: "SandboxUnavailableError",
          message: /sandbox-runtime \(srt\) is not installed.*npm ci/,
        },
      );
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test({
  name:
    "detectSandbox() with CLAUDE_SANDBOX_NETWORK runs sandbox-runtime, refuses a list srt refuses, and clears the last run's temp folders",
  ignore: NO_RUNTIME !== undefined,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "sandbox_probe_" });
    try {
      // A folder Claude left without write permission is removed too.
      const leftover = join(dataDir, "sandbox", "tmp", "old", "locked");
      await Deno.mkdir(leftover, { recursive: true });
      await Deno.writeTextFile(join(leftover, "f"), "x");
      await Deno.chmod(leftover, 0o500);
      assert.deepEqual(
        await detectSandbox("auto", {
          spawn: systemSpawn,
          network: { domains: TEST_DOMAINS, dataDir },
        }),
        { isActive: true, engine: "sandbox-runtime" },
      );
      assert.deepEqual(
        [...Deno.readDirSync(join(dataDir, "sandbox"))].map((e) => e.name),
        ["probe.json"],
      );
      // Our config lets "*.com" through; srt does not, and says why.
      await assert.rejects(
        detectSandbox("auto", {
          spawn: systemSpawn,
          network: { domains: ["*.com"], dataDir },
        }),
        {
          name: "SandboxUnavailableError",
          message: /srt\) cannot run .*Invalid domain pattern/,
        },
      );
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test("runtimeSettings() says the bwrap rules in srt's terms: DATA_DIR hidden but the session's folders, writes only where allowed", () => {
  const paths = {
    workDir: "/data/work/1001/s1",
    uploadDir: "/data/uploads/1001/s1",
    claudeConfig: { dir: "/home/u/.claude", file: "/home/u/.claude.json" },
    dataDir: "/data",
    botDir: "/srv/bot",
    writable: ["/home/u/.cache", "/data/state"],
    hide: ["/etc/bot.env"],
  };
  const files = runtimeFiles(paths);
  // One short name per upload folder (a session's own), stable across runs.
  const [, key] = /^\/data\/sandbox\/([0-9a-f]{14})\.json$/.exec(
    files.settings,
  ) ?? assert.fail(files.settings);
  assert.equal(files.tmpDir, `/data/sandbox/tmp/${key}`);
  assert.deepEqual(runtimeFiles({ ...paths }), files);
  const other = runtimeFiles({ ...paths, uploadDir: "/data/uploads/1001/s2" });
  assert.notEqual(other.tmpDir, files.tmpDir);
  assert.deepEqual(runtimeSettings(paths, ["api.anthropic.com"]), {
    network: {
      allowedDomains: ["api.anthropic.com"],
      deniedDomains: [],
      strictAllowlist: true,
    },
    filesystem: {
      denyRead: ["/data", "/srv/bot/.env", "/etc/bot.env"],
      allowRead: [paths.workDir, paths.uploadDir, files.tmpDir],
      // Inside DATA_DIR only the session's own folders: /data/state is not.
      allowWrite: [
        paths.workDir,
        paths.uploadDir,
        files.tmpDir,
        "/home/u/.claude",
        "/home/u/.claude.json",
        "/home/u/.cache",
      ],
      denyWrite: [],
    },
  });
  const { bin, args } = runtimeCommand({ bin: "claude", args: ["-p"] }, files);
  assert.equal(bin, SANDBOX_RUNTIME_BIN);
  assert.deepEqual(args, [
    "--settings",
    files.settings,
    "--",
    "env",
    "-u",
    "NO_PROXY",
    "-u",
    "no_proxy",
    `TMPDIR=${files.tmpDir}`,
    "claude",
    "-p",
  ]);
});
