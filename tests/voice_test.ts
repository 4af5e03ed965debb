// Voice notes end to end: the fake Bot API delivers a voice note, the bot
// transcribes it on a fake transcription API, shows the 🎤 quote and hands
// the transcript to the fake claude; failures offer Retry and run no turn.
import assert from "node:assert/strict";
import { join } from "node:path";
import { transcriptHtml, voiceInput } from "../voice.ts";
import { BotHarness, TEST_TOKEN } from "./fakes/bot_harness.ts";
import { FakeTranscriber } from "./fakes/fake_transcriber.ts";
import { parseTelegramHtml } from "./fakes/telegram_html.ts";

const AUDIO = new Uint8Array([0x4f, 0x67, 0x67, 0x53, 0, 2, 4, 8]);
const KEY = "sk-test-voice-key";

function voiceEnv(fake: FakeTranscriber): Record<string, string> {
  return {
    TRANSCRIBE_API_URL: fake.apiUrl,
    TRANSCRIBE_API_KEY: KEY,
    TRANSCRIBE_MODEL: "whisper-test",
  };
}

/** Journal entries on disk, any chat, any state. */
async function journalFiles(dataDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const item of Deno.readDir(dir)) {
      const path = join(dir, item.name);
      if (item.isDirectory) await walk(path);
      else if (item.name.endsWith(".json")) found.push(path);
    }
  };
  await walk(join(dataDir, "journal")).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return found;
}

Deno.test("a voice note is shown as a 🎤 quote, then its transcript reaches Claude", async () => {
  await using fake = await FakeTranscriber.start({
    behaviour: { kind: "text", text: "Please list the files" },
    key: KEY,
  });
  await using bot = await BotHarness.start({ env: voiceEnv(fake) });
  bot.api.sendVoice(AUDIO);
  await bot.waitForMessage(/echo: Please list the files$/);
  const texts = bot.api.messages().map((m) => m.text);
  const quote = bot.api.messages().find((m) => m.text.startsWith("🎤"))!;
  assert.equal(quote.text, "🎤 Please list the files");
  assert.equal(quote.html, "<blockquote>🎤 Please list the files</blockquote>");
  assert.ok(
    texts.indexOf(quote.text) <
      texts.findIndex((t) => t.startsWith("echo:")),
    "the quote comes before the answer",
  );
  assert.deepEqual(await bot.claudeUserTexts(), ["Please list the files"]);

  const [request] = fake.requests;
  assert.equal(fake.requests.length, 1);
  assert.equal(request.path, "/v1/audio/transcriptions");
  assert.equal(request.authorization, `Bearer ${KEY}`);
  assert.deepEqual(request.fields, { model: "whisper-test" });
  assert.deepEqual(request.files.file.bytes, AUDIO);
  assert.equal(request.files.file.name, "voice.ogg");
  assert.equal(request.files.file.type, "audio/ogg");
  const sent = JSON.stringify({ ...request, files: undefined });
  assert.ok(!sent.includes(TEST_TOKEN), "the bot token never goes there");
  assert.ok(!sent.includes(TEST_TOKEN.split(":")[1]));
});

Deno.test("audio files and audio documents are transcribed under their own names", async () => {
  await using fake = await FakeTranscriber.start();
  await using bot = await BotHarness.start({ env: voiceEnv(fake) });
  bot.api.sendAudio("memo.mp3", AUDIO, { caption: "from the meeting" });
  await bot.waitForMessage(/echo: hello from the fake\nfrom the meeting/);
  bot.api.sendDocument("call.m4a", AUDIO, { mimeType: "audio/mp4" });
  await bot.until(() => fake.requests.length === 2, "the second request");
  await bot.idle();
  assert.deepEqual(
    fake.requests.map((r) => [r.files.file.name, r.files.file.type]),
    [["memo.mp3", "audio/mpeg"], ["call.m4a", "audio/mp4"]],
  );
  assert.equal((await bot.claudeUserTexts()).length, 2);
});

Deno.test("a failed transcription runs no turn, and Retry transcribes again", async (t) => {
  await using fake = await FakeTranscriber.start({
    behaviour: { kind: "status", status: 500 },
  });
  await using bot = await BotHarness.start({ env: voiceEnv(fake) });

  await t.step("a 500 gives a clear error with a Retry button", async () => {
    const update = bot.api.sendVoice(AUDIO);
    const notice = await bot.waitForMessage(
      /Could not transcribe the voice note: the transcription service answered with an error \(HTTP 500\)\. Nothing was sent to Claude\. Tap Retry/,
    );
    await bot.idle();
    assert.deepEqual(await bot.claudeUserTexts(), [], "Claude got nothing");
    assert.ok(
      !bot.api.messages().some((m) => m.text.startsWith("🎤")),
      "no transcript shown",
    );
    fake.behaviour = { kind: "text", text: "second attempt" };
    bot.api.pressButton(notice.message_id, `retry:${update}`);
    await bot.waitForMessage(/echo: second attempt/);
    assert.equal(fake.requests.length, 2);
  });

  await t.step(
    "an empty transcript is refused; /retry sends it again",
    async () => {
      fake.behaviour = { kind: "text", text: "  " };
      bot.api.sendVoice(AUDIO);
      await bot.waitForMessage(/no speech was recognised/);
      fake.behaviour = { kind: "text", text: "third attempt" };
      await bot.ask("/retry", /echo: third attempt/);
      assert.deepEqual(await bot.claudeUserTexts(), [
        "second attempt",
        "third attempt",
      ]);
    },
  );

  await t.step("a refused key says which variable to check", async () => {
    fake.behaviour = { kind: "status", status: 401 };
    bot.api.sendVoice(AUDIO);
    await bot.waitForMessage(
      /refused the key \(HTTP 401\); check TRANSCRIBE_API_KEY/,
    );
  });
  assert.ok(
    !bot.logs.some((line) => line.includes(KEY)),
    "the key is not logged",
  );
});

Deno.test("without TRANSCRIBE_API_URL a voice note gets the how-to and nothing is journaled", async () => {
  await using fake = await FakeTranscriber.start();
  await using bot = await BotHarness.start();
  bot.api.sendVoice(AUDIO);
  const reply = await bot.waitForMessage(/Voice notes are off/);
  for (
    const name of [
      "TRANSCRIBE_API_URL",
      "TRANSCRIBE_API_KEY",
      "TRANSCRIBE_MODEL",
    ]
  ) {
    assert.ok(reply.text.includes(name), name);
  }
  bot.api.sendAudio("song.mp3", AUDIO);
  await bot.waitForMessage(/Voice notes are off/, { after: 1 });
  await bot.ask("typed", /echo: typed/);
  assert.deepEqual(await bot.claudeUserTexts(), ["typed"]);
  assert.equal(fake.requests.length, 0);
  assert.equal((await journalFiles(bot.dataDir)).length, 1, "only the text");
});

Deno.test("a voice note over MAX_UPLOAD_MB is refused without downloading or transcribing", async () => {
  await using fake = await FakeTranscriber.start();
  await using bot = await BotHarness.start({
    env: { ...voiceEnv(fake), MAX_UPLOAD_MB: "1" },
  });
  bot.api.sendVoice(AUDIO, { fileSize: 2 * 1024 * 1024 });
  await bot.waitForMessage(/That file is too large: the limit is 1 MB/);
  assert.ok(!bot.api.calls.some((c) => c.method === "getFile"));
  assert.equal(fake.requests.length, 0);
});

Deno.test("transcriptHtml() quotes with 🎤, escapes, folds and cuts long transcripts", () => {
  const short = transcriptHtml("a < b & c");
  assert.equal(short, "<blockquote>🎤 a &lt; b &amp; c</blockquote>");
  const long = transcriptHtml("word ".repeat(2000));
  assert.match(long, /^<blockquote expandable>🎤 /);
  const visible = parseTelegramHtml(long);
  assert.ok(visible.length < 4096, `${visible.length} characters`);
  assert.ok(visible.endsWith("…"));
});

Deno.test("voiceInput() keeps what a replay needs", () => {
  assert.deepEqual(
    voiceInput({
      file_id: "f1",
      file_size: 10,
      mime_type: "audio/ogg",
      duration: 4,
    }, "note"),
    {
      kind: "voice",
      fileId: "f1",
      size: 10,
      mimeType: "audio/ogg",
      fileName: undefined,
      duration: 4,
      caption: "note",
    },
  );
});
