// Tests for setup_telegram.ts against the fake Bot API in-process, with a
// manual clock for the 10-minute bound and the pauses between polls.
import assert from "node:assert/strict";
import {
  BotCallError,
  type IgnoredUpdate,
  PAIRING_TIMEOUT_MS,
  pairingCode,
  PairingTimeoutError,
  SetupBotApi,
} from "../setup_telegram.ts";
import { FakeBotApi } from "./fakes/fake_bot_api.ts";
import { ManualClock } from "./fakes/manual_clock.ts";
import { pollUntil, withDeadline } from "./fakes/wait.ts";

const TOKEN = "123456789:AAFakeTokenForSetupTests_x";
const OWNER = 1001;
const STRANGER = 3003;
const CODE = "424242";
const BOUND_MS = 10_000;
const STEP_MS = 5_000;

function client(api: FakeBotApi, clock: ManualClock, token = TOKEN) {
  return new SetupBotApi({ apiRoot: `${api.apiRoot}/`, token, clock });
}

function polls(api: FakeBotApi): number {
  return api.calls.filter((call) => call.method === "getUpdates").length;
}

/** Resolves once the fake holds a poll numbered `count` (1-based). */
function pollNumber(api: FakeBotApi, count: number): Promise<true> {
  return api.waitFor(() => polls(api) >= count || undefined, {
    timeoutMs: BOUND_MS,
    description: `getUpdates call ${count}`,
  });
}

Deno.test("SetupBotApi.getMe() names the bot, or refuses a wrong token with 401", async () => {
  await using api = await FakeBotApi.start({ token: TOKEN });
  const clock = new ManualClock();

  assert.deepEqual(await client(api, clock).getMe(), {
    id: 123456789,
    username: "fake_test_bot",
  });
  await assert.rejects(
    client(api, clock, "123456789:AAWrongTokenWrongTokenWrong").getMe(),
    (error) =>
      error instanceof BotCallError && error.status === 401 &&
      error.method === "getMe",
  );
});

Deno.test("SetupBotApi: an unreachable API is a BotCallError without status, and never shows the token", async () => {
  const api = await FakeBotApi.start({ token: TOKEN });
  await api.close();

  const error = await client(api, new ManualClock()).getMe().catch((e) => e);

  assert.ok(error instanceof BotCallError);
  assert.equal(error.status, undefined);
  assert.ok(!error.message.includes(TOKEN), error.message);
  assert.ok(!error.description.includes(TOKEN));
});

Deno.test("SetupBotApi.pair() takes only the exact code in a private chat, and confirms what it read", async () => {
  await using api = await FakeBotApi.start({ token: TOKEN });
  const ignored: IgnoredUpdate[] = [];
  api.sendText("hello", { userId: STRANGER });
  api.sendText(CODE, { userId: STRANGER, chatType: "group" });
  api.sendText(` ${CODE}`, { userId: OWNER });
  api.pushUpdate({ edited_message: { text: CODE } });
  const codeUpdate = api.sendText(CODE, { userId: OWNER });
  const after = api.sendText("sent after the code", { userId: OWNER });

  const paired = await withDeadline(
    client(api, new ManualClock()).pair(CODE, {
      timeoutMs: PAIRING_TIMEOUT_MS,
      onIgnored: (update) => ignored.push(update),
    }),
    { what: "pairing", ms: BOUND_MS },
  );

  assert.deepEqual(paired, { userId: OWNER, chatId: OWNER });
  assert.deepEqual(ignored.map((u) => [u.userId, u.why]), [
    [STRANGER, "wrong_code"],
    [STRANGER, "not_private_text"],
    [OWNER, "wrong_code"],
    [undefined, "not_private_text"],
  ]);
  assert.ok(codeUpdate < after);
  // Every update fetched with the code, the later one included, is consumed.
  assert.equal(api.confirmedUpdateId, after);
  assert.deepEqual(api.messages(), []);
});

Deno.test("SetupBotApi.pair() stops hearing a sender after ten wrong codes", async () => {
  await using api = await FakeBotApi.start({ token: TOKEN });
  const ignored: IgnoredUpdate[] = [];
  for (let i = 0; i < 10; i++) {
    api.sendText(String(100000 + i), { userId: STRANGER });
  }
  api.sendText(CODE, { userId: STRANGER });
  api.sendText(CODE, { userId: OWNER });

  const paired = await withDeadline(
    client(api, new ManualClock()).pair(CODE, {
      timeoutMs: PAIRING_TIMEOUT_MS,
      onIgnored: (update) => ignored.push(update),
    }),
    { what: "pairing", ms: BOUND_MS },
  );

  assert.equal(paired.userId, OWNER);
  assert.equal(ignored.at(-1)?.why, "too_many_attempts");
  assert.equal(ignored.filter((u) => u.why === "wrong_code").length, 10);
});

Deno.test("SetupBotApi.pair() gives up after 10 minutes and still confirms what it read", async () => {
  await using api = await FakeBotApi.start({ token: TOKEN });
  const clock = new ManualClock();
  const pairing = client(api, clock).pair(CODE, {
    timeoutMs: PAIRING_TIMEOUT_MS,
  });
  const outcome = pairing.catch((error) => error);
  await pollNumber(api, 1);
  const wrong = api.sendText("123123", { userId: STRANGER });
  await pollNumber(api, 2);

  let settled = false;
  outcome.finally(() => settled = true);

  // Five seconds of the manual clock per step, until pairing gives up.
  await pollUntil(() => {
    if (settled) return true;
    clock.advance(STEP_MS);
  }, { description: "pairing to give up", timeoutMs: BOUND_MS });
  const error = await outcome;

  assert.ok(clock.now() >= PAIRING_TIMEOUT_MS, `gave up at ${clock.now()} ms`);
  assert.ok(clock.now() <= PAIRING_TIMEOUT_MS + STEP_MS);
  assert.ok(error instanceof PairingTimeoutError, String(error));
  assert.equal(error.timeoutMs, PAIRING_TIMEOUT_MS);
  assert.equal(api.confirmedUpdateId, wrong);
  assert.deepEqual(api.messages(), []);
});

Deno.test("SetupBotApi.pair() polls again after a 5xx, after a pause on the clock", async () => {
  await using api = await FakeBotApi.start({ token: TOKEN });
  const clock = new ManualClock();
  api.injectError("getUpdates", {
    error_code: 502,
    description: "Bad Gateway",
  });
  const pairing = client(api, clock).pair(CODE, {
    timeoutMs: PAIRING_TIMEOUT_MS,
  });

  // The pause is three seconds of the manual clock; step it until the
  // second poll arrives (a held poll is bounded at 65 s, far beyond).
  await pollUntil(() => {
    if (polls(api) >= 2) return true;
    clock.advance(1000);
  }, { description: "a second getUpdates", timeoutMs: BOUND_MS });
  api.sendText(CODE, { userId: OWNER });

  assert.equal(
    (await withDeadline(pairing, { what: "pairing", ms: BOUND_MS })).userId,
    OWNER,
  );
  assert.ok(clock.now() >= 3000);
});

Deno.test("SetupBotApi.pair() fails on a 409: another program polls the bot", async () => {
  await using api = await FakeBotApi.start({ token: TOKEN });
  api.injectError("getUpdates", {
    error_code: 409,
    description: "Conflict: terminated by other getUpdates request",
  });

  const error = await withDeadline(
    client(api, new ManualClock()).pair(CODE, {
      timeoutMs: PAIRING_TIMEOUT_MS,
    }).catch((e) => e),
    { what: "pairing", ms: BOUND_MS },
  );

  assert.ok(error instanceof BotCallError);
  assert.equal(error.status, 409);
});

Deno.test("SetupBotApi.sendMessage() sends plain text to the chat", async () => {
  await using api = await FakeBotApi.start({ token: TOKEN });

  await client(api, new ManualClock()).sendMessage(OWNER, "Paired ✓");

  assert.deepEqual(
    api.messages().map((m) => [m.chat_id, m.text, m.parse_mode]),
    [[OWNER, "Paired ✓", undefined]],
  );
});

Deno.test("pairingCode() is six digits, drawn afresh each time", () => {
  const codes = Array.from({ length: 50 }, () => pairingCode());

  for (const code of codes) assert.match(code, /^\d{6}$/);
  assert.ok(new Set(codes).size > 40, codes.join(" "));
});
