// Every bad input gets a clear answer and the bot keeps serving: one row per
// input, each followed by a message that must still be answered.
import assert from "node:assert/strict";
import { join } from "node:path";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";

const chat = { id: OWNER_ID, type: "private", first_name: "Owner" };
const from = { id: OWNER_ID, is_bot: false, first_name: "Owner" };

/** Pushes a raw message of some kind from the owner. */
function pushMessage(bot: BotHarness, content: Record<string, unknown>) {
  bot.api.pushUpdate({
    message: {
      message_id: 5000 + bot.api.calls.length,
      date: 0,
      chat,
      from,
      ...content,
    },
  });
}

interface Row {
  name: string;
  send: (bot: BotHarness) => void | Promise<void>;
  expected: RegExp;
}

const rows: Row[] = [
  {
    name: "session name with ..",
    send: (b) => void b.api.sendText("/new ../x"),
    expected: /not a valid session name/,
  },
  {
    name: "empty session name",
    send: (b) => void b.api.sendText("/new"),
    expected: /Usage: \/new/,
  },
  {
    name: "200-character name",
    send: (b) => void b.api.sendText(`/new ${"n".repeat(200)}`),
    expected: /not a valid session name/,
  },
  {
    name: "emoji name",
    send: (b) => void b.api.sendText("/new 🚀"),
    expected: /not a valid session name/,
  },
  {
    name: "name with /",
    send: (b) => void b.api.sendText("/new a/b"),
    expected: /not a valid session name/,
  },
  {
    name: "unknown command",
    send: (b) => void b.api.sendText("/launch_missiles now"),
    expected: /Unknown command \/launch_missiles/,
  },
  {
    name: "/timeout with words",
    send: (b) => void b.api.sendText("/timeout ten"),
    expected: /from 1–120/,
  },
  {
    name: "/model with a space",
    send: (b) => void b.api.sendText("/model a b"),
    expected: /Usage: \/model/,
  },
  {
    name: "/permissions unknown",
    send: (b) => void b.api.sendText("/permissions yolo"),
    expected: /Usage: \/permissions/,
  },
  {
    name: "/budget negative",
    send: (b) => void b.api.sendText("/budget -1"),
    expected: /Usage: \/budget/,
  },
  {
    name: "sticker",
    send: (b) =>
      pushMessage(b, {
        sticker: {
          file_id: "s",
          file_unique_id: "s",
          type: "regular",
          width: 1,
          height: 1,
          is_animated: false,
          is_video: false,
        },
      }),
    expected: /sticker messages are not supported yet/,
  },
  {
    name: "voice without TRANSCRIBE_API_URL",
    send: (b) =>
      pushMessage(b, {
        voice: { file_id: "v", file_unique_id: "v", duration: 2 },
      }),
    expected: /Voice notes are off: no transcription service is set up/,
  },
  {
    name: "location",
    send: (b) => pushMessage(b, { location: { latitude: 1, longitude: 2 } }),
    expected: /location messages are not supported yet/,
  },
  {
    name: "poll",
    send: (b) =>
      pushMessage(b, {
        poll: {
          id: "p",
          question: "?",
          options: [],
          total_voter_count: 0,
          is_closed: false,
          is_anonymous: true,
          type: "regular",
          allows_multiple_answers: false,
        },
      }),
    expected: /poll messages are not supported yet/,
  },
  {
    name: "whitespace-only message",
    send: (b) => void b.api.sendText("   "),
    expected: /That message is empty/,
  },
  {
    name: "100 KB message",
    send: (b) => void b.api.sendText("x".repeat(100_000)),
    expected: /full answer .* is attached as answer\.md/,
  },
  {
    name: "document over the limit",
    send: (b) =>
      void b.api.sendDocument("huge.iso", new Uint8Array(4), {
        fileSize: 3 * 1024 * 1024,
      }),
    expected: /That file is too large/,
  },
  {
    name: "document with a path in its name",
    send: (b) =>
      void b.api.sendDocument(
        "../../../etc/cron.d/evil",
        new TextEncoder().encode("x"),
      ),
    expected: /saved as inbox\/evil \(1 bytes\)/,
  },
  {
    name: "malformed and unknown stream-json lines",
    send: (b) => void b.api.sendText("!garbage"),
    expected: /echo: !garbage/,
  },
  {
    name: "Claude crashing with garbage on stderr",
    send: (b) => void b.api.sendText("!crash"),
    expected: /Claude stopped unexpectedly \(exit code 3\)/,
  },
  {
    name: "unknown model name",
    send: (b) => void b.api.sendText("/model totally-made-up-model"),
    expected: /Model of default: totally-made-up-model/,
  },
  {
    name: "an edited message",
    send: (b) =>
      void b.api.pushUpdate({
        edited_message: {
          message_id: 1,
          date: 0,
          edit_date: 1,
          chat,
          from,
          text: "edited",
        },
      }),
    expected: /Edits are not sent to Claude/,
  },
];

Deno.test("bad input: every row gets a clear answer and the bot keeps serving", async (t) => {
  await using bot = await BotHarness.start({ env: { MAX_UPLOAD_MB: "1" } });
  let n = 0;
  for (const row of rows) {
    await t.step(row.name, async () => {
      const before = bot.api.messages().length;
      await row.send(bot);
      const answer = await bot.waitForMessage(row.expected, { after: before });
      await bot.idle();
      const pong = await bot.ask(`ping ${++n}`, new RegExp(`echo: ping ${n}$`));
      assert.ok(pong.message_id > answer.message_id, "answered in order");
      const since = bot.api.messages().slice(before);
      assert.equal(
        since.filter((m) => row.expected.test(m.text)).length,
        1,
        "answered once",
      );
      for (const message of since) {
        assert.ok(!message.text.includes(bot.dir), "no host path in the chat");
        assert.doesNotMatch(message.text, /\n\s+at /, "no stack in the chat");
      }
    });
  }
});

Deno.test("bad input: Claude exiting at start is reported; a fixed binary works again", async () => {
  const dir = await Deno.makeTempDir();
  const bin = join(dir, "claude");
  await Deno.writeTextFile(bin, "#!/bin/sh\nexit 1\n");
  await Deno.chmod(bin, 0o755);
  try {
    await using bot = await BotHarness.start({ env: { CLAUDE_BIN: bin } });
    await bot.ask("hello", /Claude stopped unexpectedly \(exit code 1\)/);
    await bot.ask("/sessions", /default — IDLE/);
    // The owner repairs the install behind the same path; no restart needed.
    const fixed = join(dir, "claude.new");
    await Deno.writeTextFile(
      fixed,
      `#!/bin/sh\nexec '${bot.claudeBin}' "$@"\n`,
    );
    await Deno.chmod(fixed, 0o755);
    await Deno.rename(fixed, bin);
    await bot.ask("hello again", /echo: hello again$/);
    assert.equal((await bot.claudeStarts()).length, 1, "the fixed one ran");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input: a non-executable CLAUDE_BIN is reported as not startable", async () => {
  const dir = await Deno.makeTempDir();
  const bin = join(dir, "claude");
  await Deno.writeTextFile(bin, "#!/bin/sh\n", { mode: 0o644 });
  try {
    await using bot = await BotHarness.start({ env: { CLAUDE_BIN: bin } });
    await bot.ask("hello", /could not be started .*permission denied/);
    assert.deepEqual(
      bot.app.sessions.list(String(OWNER_ID)).map((v) => [v.state, v.queued]),
      [["suspended", 0]],
      "the session is left ready for the next try",
    );
    await bot.ask("/sessions", /default — IDLE/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input: a corrupt session file at start is quarantined and the others load", async () => {
  await using bot = await BotHarness.start({
    seed: async (dataDir) => {
      await Deno.mkdir(join(dataDir, "sessions"), { recursive: true });
      await Deno.writeTextFile(
        join(dataDir, "sessions", "1001--broken.json"),
        "{not json",
      );
    },
  });
  assert.ok(
    bot.logs.some((l) => /Corrupt session file moved to .*quarantine/.test(l)),
    bot.logs.join("\n"),
  );
  await bot.ask("works", /echo: works/);
});

Deno.test("bad input: a session whose working dir vanished resumes in a recreated dir", async () => {
  await using bot = await BotHarness.start();
  await bot.ask("before", /echo: before/);
  await bot.ask("/archive", /Archived/);
  await bot.ask("/new keep", /Created session keep/);
  await bot.ask("first", /echo: first/);
  await bot.idle();
  await bot.restart();
  await Deno.remove(join(bot.dataDir, "work", String(OWNER_ID), "keep"), {
    recursive: true,
  });
  await bot.ask("after", /echo: after/);
  const workDir = join(bot.dataDir, "work", String(OWNER_ID), "keep");
  assert.ok((await Deno.stat(workDir)).isDirectory, "the dir is recreated");
  const starts = await bot.claudeStarts();
  assert.equal(starts.at(-1)!.cwd, workDir);
  assert.ok(starts.at(-1)!.argv.includes("--resume"), "resumed, not fresh");
  await bot.ask("!history", /\["first","after"\]/);
});

Deno.test("bad input: 50 messages in a burst are all answered, in order, once", async () => {
  await using bot = await BotHarness.start();
  for (let i = 1; i <= 50; i++) bot.api.sendText(`burst ${i}`);
  await bot.waitForMessage(/echo: burst 50$/, { timeoutMs: 30_000 });
  await bot.idle();
  const answers = bot.api.messages().map((m) => m.text).filter((t) =>
    t.startsWith("echo: burst")
  );
  assert.deepEqual(
    answers,
    Array.from({ length: 50 }, (_, i) => `echo: burst ${i + 1}`),
  );
});
