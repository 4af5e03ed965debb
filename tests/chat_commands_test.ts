// ChatCommands on a real SessionRegistry (temp store, in-memory Claude, manual
// clock): each command's argument checks, its effect on the chat's sessions
// and the HTML it answers with.
import assert from "node:assert/strict";
import { memorySessions } from "./fakes/memory_sessions.ts";
import { ChatCommands } from "../chat_commands.ts";
import { BUILT_IN_PERSONAS } from "../personas.ts";
import {
  SessionExistsError,
  SessionNameError,
  UnknownSessionError,
} from "../session_errors.ts";
import type { TurnOutcome } from "../turn.ts";
import { TurnRecording } from "./fakes/turn_recording.ts";
import { pollUntil, withDeadline } from "./fakes/wait.ts";

const CHAT = "1001";
const OTHER_CHAT = "2002";
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** 2026-01-01T12:00:00Z: a UTC day with hours left on both sides. */
const START_MS = Date.UTC(2026, 0, 1, 12);

/**
 * ChatCommands over a SessionRegistry on a temp store, with the in-memory
 * Claude; the one place that knows how sessions are built and sent to.
 */
async function setUp(options: { dailyBudgetUsd?: number } = {}) {
  const { dir, clock, claude, sessions } = await memorySessions({
    defaultIdleTimeoutMs: DEFAULT_TIMEOUT_MS,
    startMs: START_MS,
  });
  const commands = new ChatCommands({
    sessions,
    clock,
    personas: BUILT_IN_PERSONAS,
    defaultIdleTimeoutMs: DEFAULT_TIMEOUT_MS,
    dailyBudgetUsd: options.dailyBudgetUsd,
  });
  return {
    commands,
    sessions,
    claude,
    /** Sends `text` to the chat's active session, as the intake does. */
    async send(chatKey: string, text: string): Promise<TurnOutcome> {
      const view = await sessions.ensureActive(chatKey);
      const turn = new TurnRecording(
        sessions.send(chatKey, { session: view.name, input: { text } }),
      );
      return await turn.done;
    },
    async [Symbol.asyncDispose]() {
      await sessions.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("ChatCommands.help() lists every command", async () => {
  await using env = await setUp();
  const help = await env.commands.help();
  for (
    const command of [
      "/new",
      "/switch",
      "/sessions",
      "/archive",
      "/stop",
      "/model",
      "/persona",
      "/timeout",
      "/mode",
      "/permissions",
      "/usage",
      "/budget",
      "/retry",
    ]
  ) {
    assert.ok(help.includes(`${command} `), command);
  }
  assert.match(help, /\/timeout \[1–120\]/);
});

Deno.test("ChatCommands.new() creates a session and makes it active", async () => {
  await using env = await setUp();
  assert.equal(
    await env.commands.new(CHAT, "api"),
    "Created session <b>api</b> and switched to it.",
  );
  assert.equal(env.sessions.active(CHAT)?.name, "api");
  assert.deepEqual(env.sessions.list(OTHER_CHAT), [], "per chat");
});

Deno.test("ChatCommands.new() sets a named persona or a free-text prompt", async () => {
  await using env = await setUp();
  assert.equal(
    await env.commands.new(CHAT, "rev reviewer"),
    "Created session <b>rev</b> with persona reviewer and switched to it.",
  );
  const reviewer = BUILT_IN_PERSONAS.find((p) => p.name === "reviewer")!;
  assert.equal(env.sessions.active(CHAT)?.personaName, "reviewer");
  assert.equal(env.sessions.active(CHAT)?.systemPrompt, reviewer.prompt);
  const reply = await env.commands.new(CHAT, "web Answer <briefly> & kindly");
  assert.equal(
    reply,
    "Created session <b>web</b> with persona Answer &lt;briefly&gt; &amp; kindly and switched to it.",
  );
  assert.equal(
    env.sessions.active(CHAT)?.systemPrompt,
    "Answer <briefly> & kindly",
  );
});

Deno.test("ChatCommands.new() refuses a missing name, an unknown persona and a bad or taken name", async () => {
  await using env = await setUp();
  assert.equal(
    await env.commands.new(CHAT, ""),
    "Usage: /new &lt;name&gt; [persona]",
  );
  const unknown = await env.commands.new(CHAT, "x nosuchpersona");
  assert.match(unknown, /^No persona named "nosuchpersona"\. Defined: /);
  for (const persona of BUILT_IN_PERSONAS) {
    assert.ok(unknown.includes(persona.name), persona.name);
  }
  assert.deepEqual(env.sessions.list(CHAT), [], "nothing created");
  await assert.rejects(env.commands.new(CHAT, "../x"), SessionNameError);
  await assert.rejects(
    env.commands.new(CHAT, "n".repeat(200)),
    SessionNameError,
  );
  await env.commands.new(CHAT, "api");
  await assert.rejects(env.commands.new(CHAT, "api"), SessionExistsError);
  assert.equal(env.sessions.list(CHAT).length, 1);
});

Deno.test("ChatCommands.switch() changes the active session", async () => {
  await using env = await setUp();
  await env.commands.new(CHAT, "a");
  await env.commands.new(CHAT, "b");
  const reply = await env.commands.switch(CHAT, "a");
  assert.match(reply, /^Switched to <b>a<\/b> \(.+\)\.$/);
  assert.equal(env.sessions.active(CHAT)?.name, "a");
});

Deno.test("ChatCommands.switch() refuses a missing or spaced name and an unknown session", async () => {
  await using env = await setUp();
  await env.commands.new(CHAT, "a");
  assert.equal(
    await env.commands.switch(CHAT, ""),
    "Usage: /switch &lt;name&gt;",
  );
  assert.equal(
    await env.commands.switch(CHAT, "a b"),
    "Usage: /switch &lt;name&gt;",
  );
  await assert.rejects(env.commands.switch(CHAT, "nope"), UnknownSessionError);
  await assert.rejects(
    env.commands.switch(OTHER_CHAT, "a"),
    UnknownSessionError,
    "another chat's session",
  );
  assert.equal(env.sessions.active(CHAT)?.name, "a");
});

Deno.test("ChatCommands.sessions() and archive() list and hide sessions", async () => {
  await using env = await setUp();
  assert.equal(
    await env.commands.sessions(CHAT),
    "No sessions yet: send a message or use /new.",
  );
  await env.commands.new(CHAT, "a");
  await env.commands.new(CHAT, "b");
  const list = await env.commands.sessions(CHAT);
  assert.match(list, /▫️ <b>a<\/b> — /);
  assert.match(list, /▶️ <b>b<\/b> — /);
  assert.equal(
    await env.commands.archive(CHAT, "a"),
    "Archived <b>a</b>; its process is stopped.",
  );
  assert.match(
    await env.commands.archive(CHAT, ""),
    /^Archived <b>b<\/b>; its process is stopped\. No session is active now/,
  );
  assert.match(
    await env.commands.sessions(CHAT),
    /No sessions yet[\s\S]*2 archived session\(s\) hidden/,
  );
  assert.equal(
    await env.commands.archive(CHAT, "a b"),
    "Usage: /archive [name]",
  );
  await assert.rejects(env.commands.archive(CHAT, "a"), UnknownSessionError);
});

Deno.test("ChatCommands.timeout() shows the default and sets whole minutes from 1 to 120", async () => {
  await using env = await setUp();
  assert.equal(
    await env.commands.timeout(CHAT, ""),
    "Idle timeout of <b>default</b>: 10 min. Set with /timeout &lt;1–120 minutes&gt;.",
  );
  assert.equal(
    await env.commands.timeout(CHAT, "30"),
    "Idle timeout of <b>default</b>: 30 min.",
  );
  assert.equal(env.sessions.active(CHAT)?.idleTimeoutMs, 30 * 60_000);
  assert.equal(
    await env.commands.timeout(CHAT, "120"),
    "Idle timeout of <b>default</b>: 2 hours.",
  );
  assert.equal(
    await env.commands.timeout(CHAT, "1"),
    "Idle timeout of <b>default</b>: 1 min.",
  );
  assert.match(await env.commands.timeout(CHAT, ""), /: 1 min\./);
});

Deno.test("ChatCommands.timeout() refuses anything but a whole number of minutes in range", async (t) => {
  await using env = await setUp();
  await env.commands.timeout(CHAT, "30");
  for (const args of ["0", "121", "abc", "5.5", "-1", "1e2", "30 min"]) {
    await t.step(args, async () => {
      assert.equal(
        await env.commands.timeout(CHAT, args),
        `The timeout must be a whole number of minutes from 1–120; "${args}" is not.`,
      );
    });
  }
  assert.equal(
    env.sessions.active(CHAT)?.idleTimeoutMs,
    30 * 60_000,
    "unchanged",
  );
  const long = await env.commands.timeout(CHAT, `<b>${"9".repeat(40)}`);
  assert.ok(long.includes('"&lt;b&gt;999'), long);
  assert.ok(!long.includes("9".repeat(20)), "the argument is shortened");
});

Deno.test("ChatCommands.mode() shows, sets and refuses output modes", async () => {
  await using env = await setUp();
  assert.equal(
    await env.commands.mode(CHAT, ""),
    "Output mode: <b>normal</b>. Choices: verbose, normal, quiet.",
  );
  assert.equal(
    await env.commands.mode(CHAT, "quiet"),
    "Output mode of <b>default</b>: <b>quiet</b>.",
  );
  assert.equal(env.sessions.active(CHAT)?.outputMode, "quiet");
  assert.equal(
    await env.commands.mode(CHAT, "loud"),
    "Usage: /mode [verbose|normal|quiet]",
  );
  assert.equal(
    await env.commands.mode(CHAT, "Quiet"),
    "Usage: /mode [verbose|normal|quiet]",
  );
  assert.equal(env.sessions.active(CHAT)?.outputMode, "quiet");
});

Deno.test("ChatCommands.model() shows, sets, resets and refuses model names", async () => {
  await using env = await setUp();
  assert.match(await env.commands.model(CHAT, ""), /^Model: <b>default<\/b>\./);
  assert.equal(
    await env.commands.model(CHAT, "claude-opus-4-1[1m]"),
    "Model of <b>default</b>: <b>claude-opus-4-1[1m]</b>. It applies from the next message (history is kept).",
  );
  assert.equal(env.sessions.active(CHAT)?.model, "claude-opus-4-1[1m]");
  for (const bad of ["a b", "haiku;rm -rf", "<b>", "x".repeat(101)]) {
    assert.equal(
      await env.commands.model(CHAT, bad),
      "Usage: /model &lt;name&gt; — e.g. sonnet, opus, haiku or a full model id.",
      bad,
    );
  }
  assert.equal(env.sessions.active(CHAT)?.model, "claude-opus-4-1[1m]");
  await env.commands.model(CHAT, "default");
  assert.equal(env.sessions.active(CHAT)?.model, undefined);
  assert.match(await env.commands.model(CHAT, ""), /^Model: <b>default<\/b>\./);
});

Deno.test("ChatCommands.persona() lists, sets, clears and refuses personas", async () => {
  await using env = await setUp();
  const list = await env.commands.persona(CHAT, "");
  assert.match(list, /^Persona of <b>default<\/b>: none/);
  for (const persona of BUILT_IN_PERSONAS) {
    assert.ok(list.includes(`• <b>${persona.name}</b> — `), persona.name);
  }
  assert.equal(
    await env.commands.persona(CHAT, "teacher"),
    "Persona of <b>default</b>: teacher. It applies from the next message (history is kept).",
  );
  assert.equal(env.sessions.active(CHAT)?.personaName, "teacher");
  assert.match(
    await env.commands.persona(CHAT, "typo"),
    /^No persona named "typo"/,
  );
  assert.equal(env.sessions.active(CHAT)?.personaName, "teacher");
  assert.match(
    await env.commands.persona(CHAT, "Be <very> brief"),
    /^Persona of <b>default<\/b>: Be &lt;very&gt; brief\./,
  );
  assert.equal(env.sessions.active(CHAT)?.systemPrompt, "Be <very> brief");
  assert.match(
    await env.commands.persona(CHAT, "none"),
    /^Persona of <b>default<\/b>: none\./,
  );
  assert.equal(env.sessions.active(CHAT)?.systemPrompt, undefined);
});

Deno.test("ChatCommands.permissions() shows, sets and refuses permission modes", async () => {
  await using env = await setUp();
  assert.match(
    await env.commands.permissions(CHAT, ""),
    /^Permission mode of <b>default<\/b>: <b>.+<\/b>\.\nChoices: ask, /,
  );
  assert.match(
    await env.commands.permissions(CHAT, "plan"),
    /^Permission mode of <b>default<\/b>: <b>plan<\/b>\./,
  );
  assert.equal(env.sessions.active(CHAT)?.permissionMode, "plan");
  assert.match(
    await env.commands.permissions(CHAT, "yolo"),
    /^Usage: \/permissions \[ask\|/,
  );
  assert.equal(env.sessions.active(CHAT)?.permissionMode, "plan");
});

Deno.test("ChatCommands.budget() shows, sets, clears and refuses a session's budget", async () => {
  await using env = await setUp();
  assert.match(
    await env.commands.budget(CHAT, ""),
    /^Budget of <b>default<\/b>: none per Claude process/,
  );
  assert.equal(
    await env.commands.budget(CHAT, "2.5"),
    "Budget of <b>default</b>: $2.50. It applies from the next message.",
  );
  assert.equal(env.sessions.active(CHAT)?.maxBudgetUsd, 2.5);
  for (const bad of ["-1", "0", "0.00", "abc", "1e3", "$5", "5 usd"]) {
    assert.equal(
      await env.commands.budget(CHAT, bad),
      "Usage: /budget &lt;usd&gt; (e.g. 2.50) or /budget off",
      bad,
    );
  }
  assert.equal(env.sessions.active(CHAT)?.maxBudgetUsd, 2.5, "unchanged");
  assert.equal(
    await env.commands.budget(CHAT, "off"),
    "Budget of <b>default</b>: none. It applies from the next message.",
  );
  assert.equal(env.sessions.active(CHAT)?.maxBudgetUsd, undefined);
});

Deno.test("ChatCommands.stop() when nothing runs says so and starts nothing", async () => {
  await using env = await setUp();
  assert.equal(await env.commands.stop(CHAT), "Nothing is running.");
  await env.send(CHAT, "hello");
  assert.equal(await env.commands.stop(CHAT), "Nothing is running.");
  const [process] = env.claude.started;
  assert.ok(process.isAlive, "an idle process is left alone");
  assert.deepEqual(process.inputs, ["hello"]);
});

Deno.test("ChatCommands.stop() interrupts the running turn and drops the queued ones", async () => {
  await using env = await setUp();
  await env.send(CHAT, "warm up");
  const [process] = env.claude.started;
  process.autoReply = false;
  const held = env.send(CHAT, "long job");
  const queued = env.send(CHAT, "behind it");
  await pollUntil(() => env.sessions.active(CHAT)?.queued === 1, {
    description: "the second message to wait behind the first",
  });
  assert.equal(
    await env.commands.stop(CHAT),
    "Stopping… 1 queued message(s) dropped.",
  );
  await withDeadline(Promise.allSettled([held, queued]), {
    what: "both turns to end",
    ms: 5_000,
  });
  assert.deepEqual(process.inputs, ["warm up", "long job"]);
  assert.ok(process.isAlive, "the process survives an interrupt");
  assert.equal(await env.commands.stop(CHAT), "Nothing is running.");
});

Deno.test("ChatCommands.usage() reports the chat's sessions, all sessions and the daily budget", async () => {
  await using env = await setUp({ dailyBudgetUsd: 5 });
  assert.equal(
    await env.commands.usage(CHAT),
    [
      "<b>Usage</b> (UTC day 2026-01-01)",
      "No sessions in this chat yet.",
      "",
      "All sessions: today $0.0000 · last 7 days $0.0000",
      "Daily budget: $0.0000 of $5.00 spent.",
    ].join("\n"),
  );
  await env.send(CHAT, "one");
  await env.send(CHAT, "two");
  await env.send(OTHER_CHAT, "elsewhere");
  const report = await env.commands.usage(CHAT);
  assert.match(report, /• <b>default<\/b>: today \$0\.0200 .* 2 turns/);
  assert.match(report, /All sessions: today \$0\.0300 · last 7 days \$0\.0300/);
  assert.match(report, /Daily budget: \$0\.0300 of \$5\.00 spent\./);
  assert.equal(report.match(/^• /gm)?.length, 1, "this chat's sessions only");
});

Deno.test("ChatCommands.usage() without a daily budget says there is none", async () => {
  await using env = await setUp();
  assert.match(
    await env.commands.usage(CHAT),
    /\nNo daily budget \(DAILY_BUDGET_USD\)\.$/,
  );
});
