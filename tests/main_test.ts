// Tests for main.ts as a real OS process, started the way the start task
// starts it (the flags mainRunArgs computes, or `deno task start` itself),
// talking to the fake Bot API over 127.0.0.1 and spawning the fake claude.
import assert from "node:assert/strict";
import { join } from "node:path";
import { OWNER_ID, TEST_TOKEN } from "./fakes/bot_harness.ts";
import { sandboxEngines } from "./fakes/sandbox_engines.ts";
import { processes } from "./fakes/spare_process.ts";
import {
  BotProcess,
  GRACE_MS,
  Sandbox,
  WAIT_MS,
  waitUntil,
} from "./fakes/bot_process.ts";

/** main.ts's own bound after the grace (EXIT_MARGIN_MS). */
const EXIT_MARGIN_MS = 2_000;
/** Room for a loaded test machine on top of the bound main.ts promises. */
const SLACK_MS = 1_500;
/** main.ts's REPEATED_SIGNAL_MS plus a margin for the log line's trip. */
const REPEATED_SIGNAL_MS = 1_200;

async function isAlive(pid: number): Promise<boolean> {
  return await processes.startTime(pid) !== undefined;
}

/** What `ps -o <column>=` prints for `selection` (e.g. `-p <pid>`), trimmed. */
async function psColumn(column: string, selection: string[]): Promise<string> {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-o", `${column}=`, ...selection],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

/** The pid of the one child of `pid` (the bot under `deno task`). */
async function childPid(pid: number): Promise<number> {
  const pids = (await psColumn("pid", ["--ppid", String(pid)])).split(/\s+/);
  assert.equal(pids.length, 1, `children of ${pid}: ${pids.join(", ")}`);
  return Number(pids[0]);
}

/** The command line of `pid`, as `ps` shows it. */
function commandLine(pid: number): Promise<string> {
  return psColumn("args", ["-p", String(pid)]);
}

/**
 * Waits (bounded) for `process`, signalled to stop, to exit 0 saying it
 * stopped cleanly, with `pid` (the bot, or its Claude) gone too.
 */
async function assertStopsCleanly(
  process: BotProcess,
  pid: number,
): Promise<void> {
  const status = await process.exitWithin(
    GRACE_MS + EXIT_MARGIN_MS + SLACK_MS,
  );
  assert.equal(status.code, 0, process.output.join("\n"));
  assert.ok(
    process.output.some((line) => line.includes("Stopped cleanly")),
    process.output.join("\n"),
  );
  assert.equal(await isAlive(pid), false);
}

Deno.test("main.ts answers a message under the start task's scoped permissions", async () => {
  await using sandbox = await Sandbox.create();
  await using bot = sandbox.startBot();
  await bot.ready();

  const reply = await sandbox.ask("hello from a real process", /echo: hello/);

  assert.equal(reply.chat_id, OWNER_ID);
  const [start] = await sandbox.claudeStarts();
  assert.ok(start.marker?.endsWith(`:${OWNER_ID}/default`));
  assert.ok(!start.envKeys.some((name) => name.startsWith("TELEGRAM_")));
  assert.ok(!start.envKeys.includes("DATA_DIR"));
  assert.ok(start.envKeys.includes("FAKE_CLAUDE_LOG"));
  assert.ok(start.cwd.startsWith(sandbox.dataDir));
  assert.ok(
    !bot.output.some((line) => /NotCapable|PermissionDenied/.test(line)),
    bot.output.join("\n"),
  );
});

Deno.test("a second main.ts on the same DATA_DIR refuses to start, and the first keeps its Claude", async () => {
  await using sandbox = await Sandbox.create();
  await using first = sandbox.startBot();
  await first.ready();
  await sandbox.ask("keep me", /echo: keep me/);
  const [claude] = await sandbox.claudeStarts();

  await using second = sandbox.startBot();
  const status = await second.exitWithin(WAIT_MS);

  assert.equal(status.code, 1);
  assert.ok(
    second.output.some((line) =>
      /another claude-telegram \(pid \d+\) is running on this DATA_DIR/.test(
        line,
      )
    ),
    second.output.join("\n"),
  );
  assert.equal(await isAlive(claude.pid), true, "its Claude was not reaped");
  await sandbox.ask("still here", /echo: still here/);
});

Deno.test("main.ts on SIGTERM kills a stuck Claude after the grace, saves the session and exits 0", async () => {
  await using sandbox = await Sandbox.create({
    // Claude ignores SIGTERM and stdin EOF: it is stuck before the turn
    // starts, so the interrupt does not end it either. Only SIGKILL does.
    FAKE_CLAUDE_IGNORE_SIGTERM: "1",
    FAKE_CLAUDE_START_DELAY_MS: "60000",
  });
  await using bot = sandbox.startBot();
  await bot.ready();
  sandbox.api.sendText("!hang");
  await sandbox.claudeReceived("!hang");
  const [{ pid: claudePid }] = await sandbox.claudeStarts();
  const [running] = await waitUntil(
    async () => {
      const records = await sandbox.sessionRecords();
      return records[0]?.state === "live" && records;
    },
    () => "the session to be saved as live",
  );
  assert.equal(running.pid, claudePid);

  bot.signal("SIGTERM");
  await bot.waitForOutput(/Shutting down/);
  // A copy of the same request (deno task forwards what systemd or Ctrl-C
  // already sent the group) must not cut the shutdown short.
  bot.signal("SIGTERM");
  const status = await bot.exitWithin(GRACE_MS + EXIT_MARGIN_MS + SLACK_MS);

  assert.equal(status.code, 0, bot.output.join("\n"));
  assert.ok(
    bot.output.some((line) => line.includes("ignored SIGTERM")),
    bot.output.join("\n"),
  );
  assert.equal(await isAlive(claudePid), false);
  const [saved] = await sandbox.sessionRecords();
  assert.equal(saved.state, "suspended");
  assert.equal(saved.pid, undefined);
});

Deno.test("main.ts exits at once on a second signal during shutdown", async () => {
  await using sandbox = await Sandbox.create({
    FAKE_CLAUDE_IGNORE_SIGTERM: "1",
    FAKE_CLAUDE_START_DELAY_MS: "60000",
    // A long grace: only the second signal can end the bot this soon.
    SHUTDOWN_GRACE_SECONDS: "30",
  });
  await using bot = sandbox.startBot();
  await bot.ready();
  sandbox.api.sendText("!hang");
  await sandbox.claudeReceived("!hang");

  bot.signal("SIGTERM");
  await bot.waitForOutput(/Shutting down/);
  // Later than main.ts's window for a repeated copy of the first signal.
  await new Promise((resolve) => setTimeout(resolve, REPEATED_SIGNAL_MS));
  bot.signal("SIGINT");
  const status = await bot.exitWithin(EXIT_MARGIN_MS + SLACK_MS);

  assert.equal(status.code, 130);
  assert.ok(bot.output.some((line) => line.includes("Second signal")));
});

Deno.test("main.ts after kill -9 reaps the orphans at the next start and resumes the session", async () => {
  await using sandbox = await Sandbox.create();
  const unrelated = new Deno.Command("sleep", {
    args: ["60"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let sleepPid: number | undefined;
  try {
    await using first = sandbox.startBot();
    await first.ready();
    const started = await sandbox.ask("!tool-sleep 60", /started sleep \d+/);
    sleepPid = Number(/started sleep (\d+)/.exec(started.text)![1]);
    const [{ pid: claudePid }] = await sandbox.claudeStarts();
    const claudeSessionId = await waitUntil(
      async () => (await sandbox.sessionRecords())[0]?.claudeSessionId,
      () => "the Claude session id to be saved",
    );
    // A turn in flight keeps the orphaned Claude alive after its stdin closes.
    sandbox.api.sendText("!hang");
    await sandbox.claudeReceived("!hang");

    first.signal("SIGKILL");
    assert.equal((await first.exitWithin(WAIT_MS)).signal, "SIGKILL");
    assert.equal(await isAlive(claudePid), true, "Claude outlives the bot");
    assert.equal(await isAlive(sleepPid), true, "the tool outlives the bot");

    await using second = sandbox.startBot();
    await second.ready();
    const reaped = await second.waitForOutput(/Reaped \d+ orphaned/);
    const [, claude, tools] = /Reaped (\d+) orphaned Claude and (\d+) tool/
      .exec(reaped)!;
    // The fake's wrapper execs Deno, so only the recorded pid marks Claude.
    assert.deepEqual([claude, tools], ["1", "1"], reaped);
    assert.equal(await isAlive(claudePid), false);
    assert.equal(await isAlive(sleepPid), false);
    assert.equal(await isAlive(unrelated.pid), true);

    const history = await sandbox.ask("!history", /tool-sleep/);
    assert.match(history.text, /"!tool-sleep 60"/);
    const starts = await sandbox.claudeStarts();
    assert.equal(starts.length, 2);
    const resumeAt = starts[1].argv.indexOf("--resume");
    assert.equal(starts[1].argv[resumeAt + 1], claudeSessionId);
  } finally {
    unrelated.kill("SIGKILL");
    await unrelated.status;
    const startTime = sleepPid && await processes.startTime(sleepPid);
    if (sleepPid && startTime) {
      await processes.terminate([{ pid: sleepPid, startTime }], {
        graceMs: 0,
      });
    }
  }
});

Deno.test("main.ts exits 1 naming DATA_DIR when it is not a writable directory", async (t) => {
  await using sandbox = await Sandbox.create();
  const file = join(sandbox.dir, "a-file");
  await Deno.writeTextFile(file, "not a directory\n");
  const readOnly = join(sandbox.dir, "read-only");
  await Deno.mkdir(readOnly, { mode: 0o500 });
  // root writes through 0500, so that case only means something for others.
  const isReadOnlyEffective = await Deno.writeTextFile(
    join(readOnly, "probe"),
    "",
  ).then(() => false, () => true);
  const cases = [
    ["a file", file],
    ["a path below a file", join(file, "data")],
    ...(isReadOnlyEffective
      ? [["below a read-only dir", join(readOnly, "data")]]
      : []),
  ];
  for (const [label, dataDir] of cases) {
    await t.step(label, async () => {
      await using bot = sandbox.startBot({ DATA_DIR: dataDir });
      const status = await bot.exitWithin(WAIT_MS);
      assert.equal(status.code, 1, bot.output.join("\n"));
      const message = await bot.waitForOutput(/Cannot use DATA_DIR/);
      assert.ok(message.includes(`"${dataDir}"`), message);
      assert.match(message, /must be a writable directory/);
      assert.ok(!bot.output.some((line) => line.includes(TEST_TOKEN)));
    });
  }
});

Deno.test("main.ts exits 1 when Telegram refuses the token, without logging it", async () => {
  const otherToken = "654321:OTHER-token-abcdefghijklmnopqrstuvwxyz";
  await using sandbox = await Sandbox.create();
  await using bot = sandbox.startBot({ TELEGRAM_BOT_TOKEN: otherToken });

  const status = await bot.exitWithin(WAIT_MS);

  assert.equal(status.code, 1, bot.output.join("\n"));
  assert.ok(
    bot.output.some((line) => line.includes("refused TELEGRAM_BOT_TOKEN")),
    bot.output.join("\n"),
  );
  assert.ok(!bot.output.some((line) => line.includes(otherToken)));
});

Deno.test("deno task start without a token and without a terminal exits 1 naming TELEGRAM_BOT_TOKEN and deno task setup", async () => {
  await using sandbox = await Sandbox.create();
  const { TELEGRAM_BOT_TOKEN: _, ...env } = sandbox.env;
  await using task = BotProcess.spawn(["task", "start"], env);

  const status = await task.exitWithin(WAIT_MS);

  assert.equal(status.code, 1);
  // Issue 14: the one line now also names the wizard.
  assert.ok(
    task.output.some((line) =>
      line.includes("TELEGRAM_BOT_TOKEN") && line.includes("deno task setup")
    ),
    task.output.join("\n"),
  );
  assert.ok(!task.output.some((line) => /is polling/.test(line)));
});

Deno.test("deno task start runs the bot end to end and forwards SIGTERM to it", async () => {
  await using sandbox = await Sandbox.create();
  await using task = BotProcess.spawn(["task", "start"], sandbox.env);
  await task.ready();
  await sandbox.ask("hello through the task", /echo: hello through the task/);
  const mainPid = await childPid(task.pid);

  task.signal("SIGTERM");
  await assertStopsCleanly(task, mainPid);
});

Deno.test("deno task start shuts down once when SIGTERM reaches the whole process group", async () => {
  await using sandbox = await Sandbox.create();
  await using task = BotProcess.spawn(["task", "start"], sandbox.env);
  await task.ready();
  await sandbox.ask("hello", /echo: hello/);
  const [{ pid: claudePid }] = await sandbox.claudeStarts();

  // systemd (KillMode=control-group) and a terminal's Ctrl-C signal every
  // process of the group: the bot gets it directly and again from deno task.
  Deno.kill(-task.pid, "SIGTERM");
  await assertStopsCleanly(task, claudePid);
});

Deno.test("start.sh without a token and without a terminal exits 1 naming deno task setup", async () => {
  await using sandbox = await Sandbox.create();
  const { TELEGRAM_BOT_TOKEN: _, ...env } = sandbox.env;
  await using script = BotProcess.spawn([], { ...env, DENO: Deno.execPath() }, {
    program: "start.sh",
  });

  const status = await script.exitWithin(WAIT_MS);

  assert.equal(status.code, 1);
  assert.ok(
    script.output.some((line) => line.includes("deno task setup")),
    script.output.join("\n"),
  );
  assert.ok(!script.output.some((line) => /is polling/.test(line)));
});

Deno.test("start.sh replaces itself with the bot: one process, which answers and stops cleanly on SIGTERM", async () => {
  await using sandbox = await Sandbox.create();
  await using script = BotProcess.spawn([], {
    ...sandbox.env,
    DENO: Deno.execPath(),
  }, { program: "start.sh" });
  await script.ready();
  await sandbox.ask("hello through start.sh", /echo: hello through start.sh/);
  const [{ pid: claudePid }] = await sandbox.claudeStarts();

  // exec: the pid the script started with is now the bot's.
  assert.match(await commandLine(script.pid), /^\S+ run .*main\.ts/);
  script.signal("SIGTERM");
  await assertStopsCleanly(script, claudePid);
});

for (const { engine, env, skip } of await sandboxEngines()) {
  Deno.test({
    name:
      `main.ts under its scoped flags runs Claude in the sandbox (${engine}); after kill -9 nothing of it is left and the session resumes`,
    ignore: skip !== undefined,
    fn: async () => {
      await using sandbox = await Sandbox.create();
      // The fake's log and state, outside its working dir, must be writable.
      const log = sandbox.env.FAKE_CLAUDE_LOG;
      const state = sandbox.env.FAKE_CLAUDE_STATE_DIR;
      await Deno.writeTextFile(log, "");
      await Deno.mkdir(state);
      const sandboxed = {
        CLAUDE_SANDBOX: "on",
        CLAUDE_SANDBOX_WRITABLE: `${log},${state}`,
        ...env,
      };
      {
        await using first = sandbox.startBot(sandboxed);
        await first.ready();
        await sandbox.ask("!tool-sleep 60", /started sleep/);
        const [start] = await sandbox.claudeStarts();
        assert.ok(start.pid < 10, `pid ${start.pid}: its own pid namespace`);
        assert.ok(
          !first.output.some((line) =>
            /NotCapable|PermissionDenied/.test(line)
          ),
          first.output.join("\n"),
        );
        assert.ok((await processes.findMarked(start.marker!)).length > 0);
        // A turn in flight keeps Claude alive after its stdin closes.
        sandbox.api.sendText("!hang");
        await sandbox.claudeReceived("!hang");

        first.signal("SIGKILL");
        await first.exitWithin(WAIT_MS);
      }
      // bwrap dies with the bot and takes its sandbox along; srt outlives
      // it, and the next start reaps it by its marker.
      await using second = sandbox.startBot(sandboxed);
      await second.ready();
      const reaped = await second.waitForOutput(/Reaped \d+ orphaned/);
      // bwrap left nothing; of srt's tree only srt itself, the process the
      // bot recorded, counts as Claude (the fake's wrapper execs Deno), not
      // its socat relays or seccomp helper.
      const [, claude, tools] = /Reaped (\d+) orphaned Claude and (\d+) tool/
        .exec(reaped)!;
      if (engine === "bubblewrap") {
        assert.deepEqual([claude, tools], ["0", "0"]);
      } else assert.equal(claude, "1", reaped);
      const [start] = await sandbox.claudeStarts();
      assert.deepEqual(await processes.findMarked(start.marker!), []);

      const history = await sandbox.ask("!history", /tool-sleep/);
      assert.match(history.text, /"!tool-sleep 60"/);
      const starts = await sandbox.claudeStarts();
      assert.ok(starts[1].argv.includes("--resume"), "resumed, not anew");
    },
  });
}
