// Session lifecycle in virtual time with in-memory Claude processes: idle
// suspend, resume, races under the per-session lock, stale resume, restart.
import assert from "node:assert/strict";
import { SessionExistsError, SessionNameError } from "../session_errors.ts";
import { SessionManager } from "../sessions.ts";
import { SessionStore } from "../store.ts";
import type { TurnOutcome, TurnSink, TurnUpdate } from "../turn.ts";
import { ManualClock } from "./fakes/manual_clock.ts";
import { memoryClaudeStarter } from "./fakes/memory_claude.ts";

const CHAT = "1001";
const TIMEOUT_MS = 10 * 60_000;

class RecordingSink implements TurnSink {
  readonly updates: TurnUpdate[] = [];
  update(update: TurnUpdate): void {
    this.updates.push(update);
  }
  get texts(): string[] {
    return this.updates.flatMap((u) =>
      u.type === "event" && u.event.type === "text" ? [u.event.text] : []
    );
  }
  get outcome(): TurnOutcome | undefined {
    const done = this.updates.find((u) => u.type === "done");
    return done?.type === "done" ? done.outcome : undefined;
  }
}

async function setUp(
  dataDir?: string,
  options: { refuseResumes?: boolean } = {},
) {
  const dir = dataDir ?? await Deno.makeTempDir({ prefix: "ct-sessions-" });
  const store = new SessionStore({ dataDir: dir });
  await store.init();
  const clock = new ManualClock(1_000_000);
  const claude = memoryClaudeStarter(options);
  const sessions = new SessionManager({
    store,
    clock,
    startProcess: claude.start,
    claudeBin: "claude",
    claudeEnv: { PATH: "/usr/bin" },
    instanceId: "00000000-0000-4000-8000-000000000000",
    defaultIdleTimeoutMs: TIMEOUT_MS,
    permissionMode: "acceptEdits",
    allowedTools: [],
    graceMs: 1000,
  });
  await sessions.load();
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

/** Sends to the chat's active session, as commands.ts does. */
async function send(
  env: { sessions: SessionManager },
  input: { text: string },
  sink: TurnSink,
): Promise<TurnOutcome> {
  const view = await env.sessions.ensureActive(CHAT);
  return await env.sessions.send(CHAT, { session: view.name, input, sink });
}

/**
 * After one answered turn, starts a second whose answer Claude holds back:
 * the test decides when (or whether) it ends.
 */
async function holdTurn(
  env: Awaited<ReturnType<typeof setUp>>,
  texts: { first: string; held: string },
) {
  await send(env, { text: texts.first }, new RecordingSink());
  const [process] = env.claude.started;
  process.autoReply = false;
  const sink = new RecordingSink();
  const turn = send(env, { text: texts.held }, sink);
  await settle();
  return { process, sink, turn };
}

/** Lets pending promise callbacks (the lock, stop, persist) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
}

Deno.test("SessionManager suspends a session once idle after its turn and resumes it with history", async () => {
  await using env = await setUp();
  const first = new RecordingSink();
  await send(env, { text: "one" }, first);
  assert.deepEqual(first.texts, ["echo: one"]);
  const [process] = env.claude.started;
  env.clock.advance(TIMEOUT_MS - 1);
  await settle();
  assert.ok(process.isAlive, "not idle long enough yet");
  env.clock.advance(1);
  await settle();
  assert.ok(!process.isAlive, "suspended after the timeout");
  assert.equal(env.sessions.active(CHAT)!.state, "suspended");

  env.clock.advance(15 * 60_000);
  const second = new RecordingSink();
  await send(env, { text: "two" }, second);
  const resuming = second.updates[0];
  assert.deepEqual(resuming, {
    type: "resuming",
    idleMs: TIMEOUT_MS + 15 * 60_000,
  });
  const resumed = env.claude.started[1];
  assert.equal(resumed.options.settings.resumeSessionId !== undefined, true);
  assert.deepEqual(second.texts, ["echo: two"]);
});

Deno.test("SessionManager's idle timer counts from the end of a turn, not its start", async () => {
  await using env = await setUp();
  const { process, turn } = await holdTurn(env, {
    first: "warm up",
    held: "long job",
  });
  env.clock.advance(3 * TIMEOUT_MS);
  await settle();
  assert.ok(process.isAlive, "a long turn is never cut by the idle timeout");
  process.reply("done");
  await turn;
  env.clock.advance(TIMEOUT_MS - 1);
  await settle();
  assert.ok(process.isAlive);
  env.clock.advance(1);
  await settle();
  assert.ok(!process.isAlive);
});

Deno.test("SessionManager: timer fires while a message arrives", async (t) => {
  await t.step(
    "suspend holds the lock first: the message resumes, answered once",
    async () => {
      await using env = await setUp();
      await send(env, { text: "one" }, new RecordingSink());
      const [process] = env.claude.started;
      const gate = Promise.withResolvers<void>();
      process.stopGate = gate.promise;
      env.clock.advance(TIMEOUT_MS);
      const sink = new RecordingSink();
      const turn = send(env, { text: "two" }, sink);
      await settle();
      gate.resolve();
      await turn;
      assert.equal(env.claude.live().length, 1, "exactly one live process");
      assert.deepEqual(
        process.inputs,
        ["one"],
        "the stopped process never saw it",
      );
      assert.deepEqual(env.claude.started[1].inputs, ["two"]);
      assert.deepEqual(sink.texts, ["echo: two"]);
    },
  );

  await t.step(
    "the message holds the lock first: no suspend, answered once",
    async () => {
      await using env = await setUp();
      const { process, sink, turn } = await holdTurn(env, {
        first: "one",
        held: "two",
      });
      assert.deepEqual(process.inputs, ["one", "two"], "the turn has the lock");
      env.clock.advance(TIMEOUT_MS);
      await settle();
      process.reply("echo: two");
      await turn;
      await settle();
      assert.ok(process.isAlive, "the turn won; nothing was suspended");
      assert.equal(env.claude.started.length, 1);
      assert.deepEqual(sink.texts, ["echo: two"]);
    },
  );
});

Deno.test("SessionManager starts fresh when Claude refuses the resume, and keeps the message", async () => {
  await using env = await setUp(undefined, { refuseResumes: true });
  await send(env, { text: "one" }, new RecordingSink());
  env.clock.advance(TIMEOUT_MS);
  await settle();
  const sink = new RecordingSink();
  await send(env, { text: "two" }, sink);
  const resumed = env.claude.started[1];
  assert.ok(resumed.options.settings.resumeSessionId);
  assert.ok(!resumed.isAlive);
  const fresh = env.claude.started[2];
  assert.equal(fresh.options.settings.resumeSessionId, undefined);
  assert.ok(sink.updates.some((u) => u.type === "history_lost"));
  assert.deepEqual(fresh.inputs, ["two"]);
  assert.equal(sink.outcome?.kind, "completed");
});

Deno.test("SessionManager restores sessions, settings and the Claude id after a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ct-sessions-" });
  try {
    {
      await using env = await setUp(dir);
      await env.sessions.create(CHAT, "api", {
        name: "reviewer",
        prompt: "Review.",
      });
      await env.sessions.setIdleTimeout(CHAT, 42);
      await env.sessions.setModel(CHAT, "sonnet");
      await send(env, { text: "hello" }, new RecordingSink());
    }
    await using env = await setUp(dir);
    const view = env.sessions.active(CHAT)!;
    assert.equal(view.name, "api");
    assert.equal(view.idleTimeoutMs, 42 * 60_000);
    assert.equal(view.model, "sonnet");
    assert.equal(view.personaName, "reviewer");
    assert.equal(view.state, "suspended");
    assert.ok(view.totalCostUsd > 0);
    await send(env, { text: "again" }, new RecordingSink());
    const [process] = env.claude.started;
    assert.ok(process.options.settings.resumeSessionId);
    assert.equal(process.options.settings.model, "sonnet");
    assert.equal(process.options.settings.appendSystemPrompt, "Review.");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SessionManager validates names and refuses duplicates", async () => {
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

Deno.test("SessionManager: /timeout applies to the running countdown at once", async () => {
  await using env = await setUp();
  await send(env, { text: "one" }, new RecordingSink());
  const [process] = env.claude.started;
  env.clock.advance(2 * 60_000);
  await env.sessions.setIdleTimeout(CHAT, 1);
  await settle();
  env.clock.advance(0);
  await settle();
  assert.ok(!process.isAlive, "already idle longer than the new timeout");
  assert.throws(() => env.sessions.setIdleTimeout(CHAT, 0), RangeError);
  assert.throws(() => env.sessions.setIdleTimeout(CHAT, 121), RangeError);
  assert.throws(() => env.sessions.setIdleTimeout(CHAT, 5.5), RangeError);
});

Deno.test("SessionManager: switching leaves the old process on its own timer; archive stops it", async () => {
  await using env = await setUp();
  await send(env, { text: "in default" }, new RecordingSink());
  await env.sessions.create(CHAT, "other");
  const [first] = env.claude.started;
  assert.ok(first.isAlive, "switching away does not stop it");
  await send(env, { text: "in other" }, new RecordingSink());
  await env.sessions.archive(CHAT, "default");
  assert.ok(!first.isAlive, "archive stops it");
  assert.deepEqual(env.sessions.list(CHAT).map((v) => v.name), ["other"]);
});

Deno.test("SessionManager: a model change restarts the process at the next turn with resume", async () => {
  await using env = await setUp();
  await send(env, { text: "one" }, new RecordingSink());
  await env.sessions.setModel(CHAT, "haiku");
  assert.ok(
    env.claude.started[0].isAlive,
    "applies at the next turn, not at once",
  );
  const sink = new RecordingSink();
  await send(env, { text: "two" }, sink);
  const [old, next] = env.claude.started;
  assert.ok(!old.isAlive);
  assert.equal(next.options.settings.model, "haiku");
  assert.ok(next.options.settings.resumeSessionId);
  assert.ok(
    !sink.updates.some((u) => u.type === "resuming"),
    "no resume notice for a restart",
  );
});

Deno.test("SessionManager: per-turn cost is the difference of the CLI's cumulative totals", async () => {
  await using env = await setUp();
  for (const text of ["a", "b", "c"]) {
    await send(env, { text }, new RecordingSink());
  }
  const view = env.sessions.active(CHAT)!;
  assert.equal(view.turns, 3);
  assert.ok(Math.abs(view.lastTurnCostUsd - 0.01) < 1e-9);
  assert.ok(Math.abs(view.totalCostUsd - 0.03) < 1e-9);
});

Deno.test("SessionManager: a crash mid-turn ends the turn; the next message starts again", async () => {
  await using env = await setUp();
  const { process, turn } = await holdTurn(env, {
    first: "one",
    held: "two",
  });
  process.exit(3);
  assert.equal((await turn).kind, "crashed");
  await send(env, { text: "three" }, new RecordingSink());
  assert.equal(env.claude.live().length, 1);
  assert.equal(env.claude.started.length, 2);
});

Deno.test("SessionManager tells the sink once when a turn has been silent for stallMs", async () => {
  await using env = await setUp();
  const { process, sink, turn } = await holdTurn(env, {
    first: "warm up",
    held: "slow",
  });
  env.clock.advance(10 * 60_000 - 1);
  assert.ok(!sink.updates.some((u) => u.type === "stalled"));
  env.clock.advance(1);
  assert.deepEqual(sink.updates.filter((u) => u.type === "stalled"), [
    { type: "stalled", silentMs: 10 * 60_000 },
  ]);
  env.clock.advance(60 * 60_000);
  assert.equal(
    sink.updates.filter((u) => u.type === "stalled").length,
    1,
    "told once per silence",
  );
  process.reply("finally");
  await turn;
  assert.equal(env.clock.pending, 1, "only the idle timer is left");
});
