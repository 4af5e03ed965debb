// The sandbox through the whole bot: with CLAUDE_SANDBOX=on (bubblewrap) and
// with CLAUDE_SANDBOX_NETWORK (sandbox-runtime), a turn is answered, a
// suspended session resumes with its history, the marker finds Claude and its
// tools, and archive stops everything. Each is skipped (ignored, with the
// reason) where its engine cannot run.
import assert from "node:assert/strict";
import { join } from "node:path";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import type { ManualClock } from "./fakes/manual_clock.ts";
import { sandboxEngines } from "./fakes/sandbox_engines.ts";
import { processes } from "./fakes/spare_process.ts";

for (const { engine, env, skip } of await sandboxEngines()) {
  Deno.test({
    name:
      `a sandboxed session (${engine}) answers, suspends, resumes with history and leaves nothing behind`,
    ignore: skip !== undefined,
    fn: async () => {
      await using bot = await BotHarness.start({
        isSandboxed: true,
        env: { IDLE_TIMEOUT_SECONDS: "60", ...env },
      });
      assert.equal(
        bot.app.sandbox.isActive && bot.app.sandbox.engine,
        engine,
      );
      await bot.ask("first words", /echo: first words/);
      const [start] = await bot.claudeStarts();
      // Inside its own pid namespace, Claude sees itself as a low pid.
      assert.ok(start.pid < 10, `pid ${start.pid} inside the sandbox`);
      assert.equal(
        start.cwd,
        join(bot.dataDir, "work", String(OWNER_ID), "default"),
      );
      const marker = `${bot.app.instanceId}:${OWNER_ID}/default`;
      const marked = await processes.findMarked(marker);
      assert.ok(marked.length > 0, "the marker finds the sandboxed processes");

      await bot.idle();
      (bot.clock as ManualClock).advance(60_000);
      await bot.until(
        () => bot.app.sessions.active(String(OWNER_ID))?.state === "suspended",
        "the idle session to be suspended",
      );
      assert.deepEqual(await processes.findMarked(marker), [], "nothing left");

      const history = await bot.ask("!history", /first words/);
      assert.match(history.text, /first words/);
      const starts = await bot.claudeStarts();
      assert.equal(starts.length, 2);
      assert.ok(
        starts[1].argv.includes("--resume"),
        "resumed, not started anew",
      );

      await bot.ask("!tool-sleep 60", /started sleep/);
      assert.ok((await processes.findMarked(marker)).length > 0);
      await bot.ask("/archive", /Archived/);
      assert.deepEqual(await processes.findMarked(marker), []);
    },
  });
}
