// Tests retryPolicy (installed as a grammY transformer) against scripted Bot API outcomes in virtual time.

import assert from "node:assert/strict";
import { type ApiCallFn, HttpError, type Transformer } from "grammy";
import { type RetryOptions, retryPolicy } from "../api_retry.ts";
import { withDeadline } from "./fakes/wait.ts";

const TOKEN = "123456:SECRET-token";

// grammY types signals with the abort-controller polyfill's interface; at run
// time a web AbortSignal is what it passes on.
type GrammySignal = Parameters<Transformer>[3];

type ScriptedOutcome =
  | { ok: true; result: unknown }
  | {
    ok: false;
    error_code: number;
    description: string;
    parameters?: { retry_after?: number };
  }
  | Error;

/** A `prev` that answers each call with the next outcome of the script. */
function scriptedPrev(...outcomes: ScriptedOutcome[]) {
  const methods: string[] = [];
  const prev = ((method: string) => {
    methods.push(method);
    const outcome = outcomes.shift();
    if (outcome === undefined) throw new Error("Script ran out of outcomes");
    return outcome instanceof Error
      ? Promise.reject(outcome)
      : Promise.resolve(outcome);
  }) as ApiCallFn;
  return { prev, methods };
}

/**
 * The policy installed as app.ts installs it: a grammY transformer whose
 * network failures are grammY's HttpError.
 */
function retryTransformer(
  options: Omit<RetryOptions, "isNetworkError">,
): Transformer {
  const retry = retryPolicy({
    ...options,
    isNetworkError: (error) => error instanceof HttpError,
  });
  return (prev, method, payload, signal) =>
    retry(method, () => prev(method, payload, signal), signal);
}

/** A sleep that records each wait and moves virtual time past it at once. */
function virtualTime() {
  let nowMs = 0;
  const waitsMs: number[] = [];
  const logs: string[] = [];
  return {
    waitsMs,
    logs,
    options: {
      now: () => nowMs,
      sleep: (ms: number) => {
        waitsMs.push(ms);
        nowMs += ms;
        return Promise.resolve();
      },
      log: (message: string) => logs.push(message),
    },
  };
}

function networkError(): HttpError {
  // Deno's fetch errors quote the URL, and grammY's URLs hold the token.
  const cause = new TypeError(
    `error sending request for url (https://api.telegram.org/bot${TOKEN}/sendMessage)`,
  );
  return new HttpError("Network request for 'sendMessage' failed!", cause);
}

/** A bound on a wait that should end at once (never a sleep: it is cleared). */
const BOUND_MS = 5_000;

const OK = { ok: true, result: { message_id: 7 } } as const;
const BAD_GATEWAY = {
  ok: false,
  error_code: 502,
  description: "Bad Gateway",
} as const;
const PAYLOAD = { chat_id: 42, text: "hello" };

Deno.test("retryPolicy() waits exactly retry_after on 429, then succeeds", async () => {
  const time = virtualTime();
  const { prev, methods } = scriptedPrev({
    ok: false,
    error_code: 429,
    description: "Too Many Requests: retry after 7",
    parameters: { retry_after: 7 },
  }, OK);

  const response = await retryTransformer(time.options)(
    prev,
    "sendMessage",
    PAYLOAD,
  );

  assert.deepEqual(response, OK);
  assert.deepEqual(time.waitsMs, [7000]);
  assert.deepEqual(methods, ["sendMessage", "sendMessage"]);
});

Deno.test("retryPolicy() backs off 1 s, 2 s after network errors", async () => {
  const time = virtualTime();
  const { prev, methods } = scriptedPrev(networkError(), networkError(), OK);

  const response = await retryTransformer(time.options)(
    prev,
    "sendMessage",
    PAYLOAD,
  );

  assert.deepEqual(response, OK);
  assert.deepEqual(time.waitsMs, [1000, 2000]);
  assert.equal(methods.length, 3);
});

Deno.test("retryPolicy() retries 5xx with backoff capped at maxBackoffMs", async () => {
  const time = virtualTime();
  const { prev } = scriptedPrev(
    BAD_GATEWAY,
    { ok: false, error_code: 500, description: "Internal Server Error" },
    BAD_GATEWAY,
    BAD_GATEWAY,
    BAD_GATEWAY,
    OK,
  );

  const response = await retryTransformer({
    ...time.options,
    maxBackoffMs: 3000,
  })(prev, "editMessageText", { chat_id: 42, message_id: 7, text: "x" });

  assert.deepEqual(response, OK);
  assert.deepEqual(time.waitsMs, [1000, 2000, 3000, 3000, 3000]);
});

Deno.test("retryPolicy() returns other 4xx untouched", async (t) => {
  for (
    const failure of [
      {
        ok: false,
        error_code: 400,
        description: "Bad Request: message is not modified",
      },
      {
        ok: false,
        error_code: 403,
        description: "Forbidden: bot was blocked by the user",
      },
    ] as const
  ) {
    await t.step(`${failure.error_code}`, async () => {
      const time = virtualTime();
      const { prev, methods } = scriptedPrev(failure);

      const response = await retryTransformer(time.options)(
        prev,
        "sendMessage",
        PAYLOAD,
      );

      assert.equal(response, failure);
      assert.deepEqual(time.waitsMs, []);
      assert.equal(methods.length, 1);
    });
  }
});

Deno.test("retryPolicy() gives up once the next backoff would pass giveUpAfterMs", async (t) => {
  await t.step("network errors: throws the last HttpError", async () => {
    const time = virtualTime();
    const last = networkError();
    const { prev, methods } = scriptedPrev(
      networkError(),
      networkError(),
      networkError(),
      last,
    );

    await assert.rejects(
      retryTransformer({ ...time.options, giveUpAfterMs: 10_000 })(
        prev,
        "sendMessage",
        PAYLOAD,
      ),
      (error) => error === last,
    );

    // 1 + 2 + 4 s have passed; waiting 8 s more would end past 10 s.
    assert.deepEqual(time.waitsMs, [1000, 2000, 4000]);
    assert.equal(methods.length, 4);
    assert.match(time.logs.at(-1) ?? "", /^Cannot call sendMessage: gave up/);
  });

  await t.step("5xx: returns the last response", async () => {
    const time = virtualTime();
    const { prev } = scriptedPrev(BAD_GATEWAY, BAD_GATEWAY);

    const response = await retryTransformer({
      ...time.options,
      giveUpAfterMs: 1500,
    })(prev, "sendMessage", PAYLOAD);

    assert.equal(response, BAD_GATEWAY);
    assert.deepEqual(time.waitsMs, [1000]);
  });
});

Deno.test("retryPolicy() rejects promptly when the signal aborts during a wait", async () => {
  const controller = new AbortController();
  const { promise: waiting, resolve: onWaiting } = Promise.withResolvers<
    void
  >();
  const { prev, methods } = scriptedPrev({
    ok: false,
    error_code: 429,
    description: "Too Many Requests: retry after 3600",
    parameters: { retry_after: 3600 },
  });
  // The default, real-timer sleep: only an abort can end its hour-long wait.
  const call = retryTransformer({ log: () => onWaiting() })(
    prev,
    "sendMessage",
    PAYLOAD,
    controller.signal as GrammySignal,
  );
  await withDeadline(waiting, { what: "the sleep to start", ms: BOUND_MS });

  const reason = new Error("Shutting down");
  controller.abort(reason);

  await assert.rejects(
    withDeadline(call, { what: "the aborted call", ms: BOUND_MS }),
    (error) => error === reason,
  );
  assert.equal(methods.length, 1);
});

Deno.test("retryPolicy() does not retry a call its signal aborted", async () => {
  const controller = new AbortController();
  controller.abort();
  const time = virtualTime();
  const aborted = networkError();
  const { prev, methods } = scriptedPrev(aborted);

  await assert.rejects(
    retryTransformer(time.options)(
      prev,
      "sendMessage",
      PAYLOAD,
      controller.signal as GrammySignal,
    ),
    (error) => error === aborted,
  );

  assert.deepEqual(time.waitsMs, []);
  assert.equal(methods.length, 1);
});

Deno.test("retryPolicy() rethrows errors other than HttpError", async () => {
  const time = virtualTime();
  const bug = new TypeError("Cannot read properties of undefined");
  const { prev, methods } = scriptedPrev(bug);

  await assert.rejects(
    retryTransformer(time.options)(prev, "sendMessage", PAYLOAD),
    (error) => error === bug,
  );

  assert.equal(methods.length, 1);
});

Deno.test("retryPolicy() passes getUpdates through untouched", async (t) => {
  await t.step("5xx is returned", async () => {
    const time = virtualTime();
    const { prev, methods } = scriptedPrev(BAD_GATEWAY);

    const response = await retryTransformer(time.options)(
      prev,
      "getUpdates",
      { timeout: 30 },
    );

    assert.equal(response, BAD_GATEWAY);
    assert.deepEqual(methods, ["getUpdates"]);
    assert.deepEqual(time.logs, []);
  });

  await t.step("network errors are thrown", async () => {
    const time = virtualTime();
    const failure = networkError();
    const { prev } = scriptedPrev(failure);

    await assert.rejects(
      retryTransformer(time.options)(prev, "getUpdates", { timeout: 30 }),
      (error) => error === failure,
    );

    assert.deepEqual(time.waitsMs, []);
  });
});

Deno.test("retryPolicy() logs method and codes but never the token", async () => {
  const time = virtualTime();
  const { prev } = scriptedPrev(
    networkError(),
    BAD_GATEWAY,
    {
      ok: false,
      error_code: 429,
      description: "Too Many Requests: retry after 2",
      parameters: { retry_after: 2 },
    },
    networkError(),
  );

  await assert.rejects(
    retryTransformer({ ...time.options, giveUpAfterMs: 4000 })(
      prev,
      "sendMessage",
      PAYLOAD,
    ),
    HttpError,
  );

  assert.deepEqual(time.logs, [
    "Retrying sendMessage in 1000 ms: network error",
    "Retrying sendMessage in 2000 ms: 502 Bad Gateway",
    "Retrying sendMessage in 2 s: 429 Too Many Requests: retry after 2",
    "Cannot call sendMessage: gave up after 4000 ms: network error",
  ]);
  assert.ok(time.logs.every((line) => !line.includes("SECRET")));
});
