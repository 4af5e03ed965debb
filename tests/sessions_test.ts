// Session lifecycle in virtual time with in-memory Claude processes: idle
// suspend, resume, races under the per-session lock, stale resume, restart.
// Tests wait for facts (a process's input, its exit, a recorded update),
// never for a number of ticks.
import assert from "node:assert/strict";
import { memorySessions } from "./fakes/memory_sessions.ts";
import { SessionExistsError, SessionNameError } from "../session_errors.ts";
import * as setting from "../session_settings.ts";
import type { TurnInput } from "../turn.ts";
import type { MemoryClaude } from "./fakes/memory_claude.ts";
import { TurnRecording } from "./fakes/turn_recording.ts";
import { pollUntil } from "./fakes/wait.ts";

const CHAT = "1001";
const TIMEOUT_MS = 10 * 60_000;

async function setUp(
  dataDir?: string,
  options: { refuseResumes?: boolean } = {},
) {
  const { dir, clock, claude, sessions } = await memorySessions({
    defaultIdleTimeoutMs: TIMEOUT_MS,
    startMs: 1_000_000,
    dataDir,
    refuseResumes: options.refuseResumes,
  });
  return {
    dir,
    clock,
    claude,
    sessions,
    async [Symbol.asyncDispose]() {
      await sessions.shutdown();
      if (!dataDir) await Deno.remove(dir, { recursive: true });
    },
  };
}

type Env = Awaited<ReturnType<typeof setUp>>;

/** Starts a turn on the chat's active session, as the intake does; the recording pulls it. */
async function start(env: Env, input: TurnInput): Promise<TurnRecording> {
  const view = await env.sessions.ensureActive(CHAT);
  return new TurnRecording(
    env.sessions.send(CHAT, { session: view.name, input }),
  );
}

/** Runs a whole turn on the chat's active session. */
async function send(env: Env, input: TurnInput): Promise<TurnRecording> {
  const turn = await start(env, input);
  await turn.done;
  return turn;
}

/** Resolves once the process has exited (a suspend or a stop went through). */
function exitOf(process: MemoryClaude): Promise<unknown> {
  return process.exited;
}

/**
 * After one answered turn, starts a second whose answer Claude holds back:
 * the test decides when (or whether) it ends.
 */
async function holdTurn(env: Env, texts: { first: string; held: string }) {
  await send(env, { text: texts.first });
  const [process] = env.claude.started;
  process.autoReply = false;
  const turn = await start(env, { text: texts.held });
  await pollUntil(() => process.inputs.includes(texts.held), {
    description: "Claude to get the held message",
  });
  return { process, turn };
}

Deno.test("SessionRegistry suspends a session once idle after its turn and resumes it with history", async () => {
  await using env = await setUp();
  const first = await send(env, { text: "one" });
  assert.deepEqual(first.texts, ["echo: one"]);
  const [process] = env.claude.started;
  env.clock.advance(TIMEOUT_MS - 1);
  // Nothing was due: no suspend is under way.
  assert.ok(process.isAlive, "not idle long enough yet");
  env.clock.advance(1);
  await exitOf(process);
  await pollUntil(() => env.sessions.active(CHAT)!.state === "suspended", {
    description: "the session to show suspended",
  });

  env.clock.advance(15 * 60_000);
  const second = await send(env, { text: "two" });
  assert.deepEqual(second.updates[0], {
    type: "resuming",
    idleMs: TIMEOUT_MS + 15 * 60_000,
  });
  const resumed = env.claude.started[1];
  assert.ok(resumed.options.settings.resumeSessionId !== undefined);
  assert.deepEqual(second.texts, ["echo: two"]);
});

Deno.test("SessionRegistry's idle timer counts from the end of a turn, not its start", async () => {
  await using env = await setUp();
  const { process, turn } = await holdTurn(env, {
    first: "warm up",
    held: "long job",
  });
  env.clock.advance(3 * TIMEOUT_MS);
  assert.ok(process.isAlive, "a long turn is never cut by the idle timeout");
  process.reply("done");
  await turn.done;
  await pollUntil(() => env.sessions.active(CHAT)!.state === "live", {
    description: "the turn's end to arm the idle timer",
  });
  env.clock.advance(TIMEOUT_MS - 1);
  assert.ok(process.isAlive);
  env.clock.advance(1);
  await exitOf(process);
  assert.ok(!process.isAlive);
});

Deno.test("SessionRegistry: timer fires while a message arrives", async (t) => {
  await t.step(
    "suspend holds the lock first: the message resumes, answered once",
    async () => {
      await using env = await setUp();
      await send(env, { text: "one" });
      const [process] = env.claude.started;
      const gate = Promise.withResolvers<void>();
      process.stopGate = gate.promise;
      env.clock.advance(TIMEOUT_MS);
      const turn = await start(env, { text: "two" });
      gate.resolve();
      await turn.done;
      assert.equal(env.claude.live().length, 1, "exactly one live process");
      assert.deepEqual(
        process.inputs,
        ["one"],
        "the stopped process never saw it",
      );
      assert.deepEqual(env.claude.started[1].inputs, ["two"]);
      assert.deepEqual(turn.texts, ["echo: two"]);
    },
  );

  await t.step(
    "the message holds the lock first: no suspend, answered once",
    async () => {
      await using env = await setUp();
      const { process, turn } = await holdTurn(env, {
        first: "one",
        held: "two",
      });
      assert.deepEqual(process.inputs, ["one", "two"], "the turn has the lock");
      env.clock.advance(TIMEOUT_MS);
      process.reply("echo: two");
      await turn.done;
      assert.ok(process.isAlive, "the turn won; nothing was suspended");
      assert.equal(env.claude.started.length, 1);
      assert.deepEqual(turn.texts, ["echo: two"]);
    },
  );
});

Deno.test("SessionRegistry starts fresh when Claude refuses the resume, and keeps the message", async () => {
  await using env = await setUp(undefined, { refuseResumes: true });
  await send(env, { text: "one" });
  env.clock.advance(TIMEOUT_MS);
  await exitOf(env.claude.started[0]);
  const turn = await send(env, { text: "two" });
  const resumed = env.claude.started[1];
  assert.ok(resumed.options.settings.resumeSessionId);
  assert.ok(!resumed.isAlive);
  const fresh = env.claude.started[2];
  assert.equal(fresh.options.settings.resumeSessionId, undefined);
  assert.equal(fresh.options.cwd, resumed.options.cwd, "in the same folder");
  assert.ok(turn.updates.some((u) => u.type === "history_lost"));
  assert.deepEqual(fresh.inputs, ["two"]);
  assert.equal(turn.outcome?.kind, "completed");
});

Deno.test("SessionRegistry restores sessions, settings and the Claude id after a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ct-sessions-" });
  try {
    let firstId: string | undefined;
    let firstCwd: string;
    {
      await using env = await setUp(dir);
      await env.sessions.create(CHAT, "api", {
        name: "reviewer",
        prompt: "Review.",
      });
      await env.sessions.configure(CHAT, setting.idleTimeout(42));
      await env.sessions.configure(CHAT, setting.model("sonnet"));
      await send(env, { text: "hello" });
      firstId = env.sessions.active(CHAT)!.claudeSessionId;
      firstCwd = env.claude.started[0].options.cwd;
    }
    await using env = await setUp(dir);
    const view = env.sessions.active(CHAT)!;
    assert.equal(view.name, "api");
    assert.equal(view.idleTimeoutMs, 42 * 60_000);
    assert.equal(view.model, "sonnet");
    assert.equal(view.personaName, "reviewer");
    assert.equal(view.state, "suspended");
    assert.ok(view.totalCostUsd > 0);
    await send(env, { text: "again" });
    const [process] = env.claude.started;
    assert.ok(firstId);
    assert.equal(process.options.settings.resumeSessionId, firstId);
    assert.equal(process.options.cwd, firstCwd, "resumed in the same folder");
    assert.equal(process.options.settings.model, "sonnet");
    assert.equal(process.options.settings.appendSystemPrompt, "Review.");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SessionRegistry resumes in its working dir recreated after it was removed", async () => {
  await using env = await setUp();
  await send(env, { text: "one" });
  const [first] = env.claude.started;
  env.clock.advance(TIMEOUT_MS);
  await exitOf(first);
  await Deno.remove(first.options.cwd, { recursive: true });
  await send(env, { text: "two" });
  const resumed = env.claude.started[1];
  assert.equal(resumed.options.cwd, first.options.cwd);
  assert.ok(resumed.options.settings.resumeSessionId);
  assert.ok((await Deno.stat(resumed.options.cwd)).isDirectory);
});

Deno.test("SessionRegistry validates names and refuses duplicates", async () => {
  await using env = await setUp();
  for (const bad of ["../x", "", "a".repeat(33), "🙂", "a/b", ".."]) {
    assert.throws(() => env.sessions.create(CHAT, bad), SessionNameError);
  }
  await env.sessions.create(CHAT, "ok_name-1");
  await assert.rejects(
    env.sessions.create(CHAT, "ok_name-1"),
    SessionExistsError,
  );
});

Deno.test("SessionRegistry: /timeout applies to the running countdown at once", async () => {
  await using env = await setUp();
  await send(env, { text: "one" });
  const [process] = env.claude.started;
  env.clock.advance(2 * 60_000);
  await env.sessions.configure(CHAT, setting.idleTimeout(1));
  env.clock.advance(0);
  await exitOf(process);
  assert.ok(!process.isAlive, "already idle longer than the new timeout");
  assert.throws(() => setting.idleTimeout(0), RangeError);
  assert.throws(() => setting.idleTimeout(121), RangeError);
  assert.throws(() => setting.idleTimeout(5.5), RangeError);
});

Deno.test("SessionRegistry: switching leaves the old process on its own timer; archive stops it", async () => {
  await using env = await setUp();
  await send(env, { text: "in default" });
  await env.sessions.create(CHAT, "other");
  const [first] = env.claude.started;
  assert.ok(first.isAlive, "switching away does not stop it");
  await send(env, { text: "in other" });
  await env.sessions.archive(CHAT, "default");
  assert.ok(!first.isAlive, "archive stops it");
  assert.deepEqual(env.sessions.list(CHAT).map((v) => v.name), ["other"]);
});

Deno.test("SessionRegistry: a model change restarts the process at the next turn with resume", async () => {
  await using env = await setUp();
  await send(env, { text: "one" });
  await env.sessions.configure(CHAT, setting.model("haiku"));
  assert.ok(
    env.claude.started[0].isAlive,
    "applies at the next turn, not at once",
  );
  const turn = await send(env, { text: "two" });
  const [old, next] = env.claude.started;
  assert.ok(!old.isAlive);
  assert.equal(next.options.settings.model, "haiku");
  assert.ok(next.options.settings.resumeSessionId);
  assert.ok(
    !turn.updates.some((u) => u.type === "resuming"),
    "no resume notice for a restart",
  );
});

Deno.test("SessionRegistry: per-turn cost is the difference of the CLI's cumulative totals", async () => {
  await using env = await setUp();
  for (const text of ["a", "b", "c"]) await send(env, { text });
  const view = env.sessions.active(CHAT)!;
  assert.equal(view.turns, 3);
  assert.ok(Math.abs(view.lastTurnCostUsd - 0.01) < 1e-9);
  assert.ok(Math.abs(view.totalCostUsd - 0.03) < 1e-9);
});

Deno.test("SessionRegistry: a crash mid-turn ends the turn; the next message starts again", async () => {
  await using env = await setUp();
  const { process, turn } = await holdTurn(env, {
    first: "one",
    held: "two",
  });
  process.exit(3);
  assert.equal((await turn.done).kind, "crashed");
  await send(env, { text: "three" });
  assert.equal(env.claude.live().length, 1);
  assert.equal(env.claude.started.length, 2);
});

Deno.test("SessionRegistry tells the chat once when a turn has been silent for stallMs", async () => {
  await using env = await setUp();
  const { process, turn } = await holdTurn(env, {
    first: "warm up",
    held: "slow",
  });
  env.clock.advance(10 * 60_000 - 1);
  assert.deepEqual(turn.ofType("stalled"), []);
  env.clock.advance(1);
  await pollUntil(() => turn.ofType("stalled").length > 0, {
    description: "the stall notice",
  });
  assert.deepEqual(turn.ofType("stalled"), [
    { type: "stalled", silentMs: 10 * 60_000 },
  ]);
  env.clock.advance(60 * 60_000);
  assert.equal(env.clock.pending, 0, "no second stall watch is armed");
  assert.equal(turn.ofType("stalled").length, 1, "told once per silence");
  process.reply("finally");
  await turn.done;
  await pollUntil(() => env.clock.pending === 1, {
    description: "the idle timer, and nothing else, to be armed",
  });
});

Deno.test("SessionRegistry: /stop interrupts the running turn and drops the queued ones", async () => {
  await using env = await setUp();
  const { process, turn } = await holdTurn(env, { first: "one", held: "two" });
  const queued = await start(env, { text: "three" });
  assert.equal(env.sessions.active(CHAT)!.queued, 1);
  assert.deepEqual(await env.sessions.find(CHAT)!.interrupt(), {
    wasBusy: true,
    dropped: 1,
  });
  assert.equal((await turn.done).kind, "interrupted");
  assert.equal((await queued.done).kind, "cancelled");
  assert.deepEqual(
    process.inputs,
    ["one", "two"],
    "three never reached Claude",
  );
  assert.ok(process.isAlive, "the process stays for the next message");
});

Deno.test("SessionRegistry: a process that ignores /stop is stopped after the grace", async () => {
  await using env = await setUp();
  const { process, turn } = await holdTurn(env, { first: "one", held: "two" });
  process.interrupt = () => Promise.resolve();
  await env.sessions.find(CHAT)!.interrupt();
  env.clock.advance(4_999);
  assert.ok(process.isAlive);
  env.clock.advance(1);
  assert.equal((await turn.done).kind, "interrupted");
  assert.ok(!process.isAlive);
});
