// Tests for transcribe.ts against a fake transcription API on 127.0.0.1: what
// the request carries (and nothing more), and each typed failure.
import assert from "node:assert/strict";
import {
  transcribe,
  type TranscribeOptions,
  TranscriptionError,
} from "../transcribe.ts";
import { FakeTranscriber } from "./fakes/fake_transcriber.ts";
import { withDeadline } from "./fakes/wait.ts";

const AUDIO = new Uint8Array([0x4f, 0x67, 0x67, 0x53, 0, 1, 2, 3]);
const KEY = "sk-test-transcribe-key";
/** Bounds every call that should end quickly. */
const BOUND_MS = 10_000;

function options(
  fake: FakeTranscriber,
  extra: Partial<TranscribeOptions> = {},
): TranscribeOptions {
  return {
    apiUrl: fake.apiUrl,
    apiKey: KEY,
    model: "whisper-1",
    fileName: "voice.ogg",
    mimeType: "audio/ogg",
    timeoutMs: BOUND_MS,
    ...extra,
  };
}

/** The TranscriptionError `promise` rejects with; fails when it resolves. */
async function failure(promise: Promise<unknown>): Promise<TranscriptionError> {
  try {
    await withDeadline(promise, { what: "transcribe()", ms: BOUND_MS });
  } catch (error) {
    assert.ok(error instanceof TranscriptionError, String(error));
    return error;
  }
  assert.fail("transcribe() resolved");
}

Deno.test("transcribe() posts exactly file and model with the Bearer key and returns the text", async () => {
  await using fake = await FakeTranscriber.start({
    behaviour: { kind: "text", text: "  Fix the failing test, please.\n" },
    key: KEY,
  });

  const text = await transcribe(
    AUDIO,
    options(fake, { model: "whisper-large" }),
  );

  assert.equal(text, "Fix the failing test, please.");
  assert.equal(fake.requests.length, 1);
  const [request] = fake.requests;
  assert.equal(request.method, "POST");
  assert.equal(request.path, "/v1/audio/transcriptions");
  assert.equal(request.authorization, `Bearer ${KEY}`);
  assert.deepEqual(request.fields, { model: "whisper-large" });
  assert.deepEqual(Object.keys(request.files), ["file"]);
  assert.equal(request.files.file.name, "voice.ogg");
  assert.equal(request.files.file.type, "audio/ogg");
  assert.deepEqual(request.files.file.bytes, AUDIO);
  assert.ok(request.headers["content-type"].startsWith("multipart/form-data"));
});

Deno.test("transcribe() accepts a base URL with a trailing slash and sends no key when none is set", async () => {
  await using fake = await FakeTranscriber.start();

  await transcribe(
    AUDIO,
    options(fake, { apiUrl: `${fake.apiUrl}/`, apiKey: undefined }),
  );

  assert.equal(fake.requests[0].path, "/v1/audio/transcriptions");
  assert.equal(fake.requests[0].authorization, undefined);
});

Deno.test("transcribe() reports an error status as reason http with the status", async (t) => {
  for (const status of [500, 401, 413]) {
    await t.step(String(status), async () => {
      await using fake = await FakeTranscriber.start({
        behaviour: { kind: "status", status },
      });

      const error = await failure(transcribe(AUDIO, options(fake)));

      assert.equal(error.reason, "http");
      assert.equal(error.status, status);
      assert.match(
        error.message,
        new RegExp(`^Cannot transcribe audio: .*${status}`),
      );
      assert.ok(!error.message.includes(KEY));
    });
  }
});

Deno.test("transcribe() reports a blank transcript as reason empty", async (t) => {
  for (const text of ["", "  \n "]) {
    await t.step(JSON.stringify(text), async () => {
      await using fake = await FakeTranscriber.start({
        behaviour: { kind: "text", text },
      });

      const error = await failure(transcribe(AUDIO, options(fake)));

      assert.equal(error.reason, "empty");
      assert.equal(error.status, undefined);
    });
  }
});

Deno.test("transcribe() reports an answer without a string text as reason bad_response", async (t) => {
  for (
    const body of ["not json", "null", '{"transcript":"hi"}', '{"text":42}']
  ) {
    await t.step(body, async () => {
      await using fake = await FakeTranscriber.start({
        behaviour: { kind: "raw", body },
      });

      const error = await failure(transcribe(AUDIO, options(fake)));

      assert.equal(error.reason, "bad_response");
    });
  }
});

Deno.test("transcribe() gives up after timeoutMs when the server holds its answer", async () => {
  await using fake = await FakeTranscriber.start({
    behaviour: { kind: "hold" },
  });

  const error = await failure(
    transcribe(AUDIO, options(fake, { timeoutMs: 100 })),
  );

  assert.equal(error.reason, "timeout");
  assert.equal(fake.requests.length, 1);
});

Deno.test("transcribe() reports an unreachable host as reason network", async () => {
  const fake = await FakeTranscriber.start();
  const apiUrl = fake.apiUrl;
  await fake.close();

  const error = await failure(transcribe(AUDIO, options(fake, { apiUrl })));

  assert.equal(error.reason, "network");
});

Deno.test("transcribe() rejects with the caller's reason when its signal aborts", async () => {
  await using fake = await FakeTranscriber.start({
    behaviour: { kind: "hold" },
  });
  const controller = new AbortController();
  const reason = new Error("shutting down");

  const call = transcribe(
    AUDIO,
    options(fake, { signal: controller.signal }),
  );
  await fake.waitForRequests(1);
  controller.abort(reason);

  await assert.rejects(
    withDeadline(call, { what: "transcribe()", ms: BOUND_MS }),
    (error) => error === reason,
  );
});
