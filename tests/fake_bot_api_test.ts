// Tests for the fake Telegram Bot API server, driven by a real grammY Bot.

import assert from "node:assert/strict";
import { Bot, GrammyError, InputFile } from "grammy";
import { FakeBotApi } from "./fakes/fake_bot_api.ts";

const USER_CHAT_ID = 1001;
const BOUND_MS = 5000;

function botFor(api: FakeBotApi): Bot {
  return new Bot(api.token, { client: { apiRoot: api.apiRoot } });
}

/** Runs `body` while `bot` long-polls the fake; stops it afterwards and fails on handler errors. */
async function whilePolling(
  bot: Bot,
  body: () => Promise<void>,
): Promise<void> {
  const handlerErrors: unknown[] = [];
  bot.catch((error) => {
    handlerErrors.push(error.error);
  });
  const started = Promise.withResolvers<void>();
  const polling = bot.start({ onStart: () => started.resolve() });
  await Promise.race([started.promise, polling]);
  try {
    await body();
  } finally {
    await bot.stop();
    await polling;
  }
  assert.deepEqual(handlerErrors, []);
}

async function assertBotApiError(
  call: Promise<unknown>,
  expected: { error_code: number; description: string | RegExp },
): Promise<GrammyError> {
  let caught: unknown;
  await assert.rejects(call, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof GrammyError, `not a GrammyError: ${caught}`);
  assert.equal(caught.error_code, expected.error_code);
  if (typeof expected.description === "string") {
    assert.equal(caught.description, expected.description);
  } else {
    assert.match(caught.description, expected.description);
  }
  return caught;
}

/** Resolves with `promise`, or rejects if it takes longer than `ms`. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Not done in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function rawCall(
  api: FakeBotApi,
  method: string,
  params: Record<string, unknown>,
  token = api.token,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${api.apiRoot}/bot${token}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params),
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("FakeBotApi serves a grammY bot that answers commands and text", async () => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);
  bot.command("start", (ctx) => ctx.reply("welcome"));
  bot.on("message:text", (ctx) => ctx.reply(`echo: ${ctx.message.text}`));

  await whilePolling(bot, async () => {
    api.sendText("/start");
    api.sendText("hello");
    await api.waitFor(() => api.messages(USER_CHAT_ID).length === 2);
  });

  assert.deepEqual(api.messages(USER_CHAT_ID), [
    {
      message_id: 3,
      chat_id: USER_CHAT_ID,
      text: "welcome",
      edits: 0,
      deleted: false,
    },
    {
      message_id: 4,
      chat_id: USER_CHAT_ID,
      text: "echo: hello",
      edits: 0,
      deleted: false,
    },
  ]);
  assert.deepEqual(api.calls.slice(0, 3).map((call) => call.method), [
    "getMe",
    "deleteWebhook",
    "getUpdates",
  ]);
});

Deno.test("FakeBotApi sendMessage validates text like Telegram", async (t) => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);

  await t.step("HTML is parsed into visible text", async () => {
    const sent = await bot.api.sendMessage(
      USER_CHAT_ID,
      "<b>bold</b> &amp; x",
      {
        parse_mode: "HTML",
      },
    );
    assert.equal(sent.text, "bold & x");
    const [stored] = api.messages(USER_CHAT_ID);
    assert.equal(stored.text, "bold & x");
    assert.equal(stored.html, "<b>bold</b> &amp; x");
    assert.equal(stored.parse_mode, "HTML");
  });

  await t.step("malformed HTML is a 400 that names the problem", async () => {
    await assertBotApiError(
      bot.api.sendMessage(USER_CHAT_ID, "<b>bold", { parse_mode: "HTML" }),
      {
        error_code: 400,
        description: /^Bad Request: can't parse entities: Can't find end tag/,
      },
    );
  });

  await t.step("empty and overlong texts are refused", async () => {
    await assertBotApiError(bot.api.sendMessage(USER_CHAT_ID, ""), {
      error_code: 400,
      description: "Bad Request: message text is empty",
    });
    await assertBotApiError(
      bot.api.sendMessage(USER_CHAT_ID, "x".repeat(4097)),
      { error_code: 400, description: "Bad Request: message is too long" },
    );
    await bot.api.sendMessage(USER_CHAT_ID, "x".repeat(4096));
  });

  assert.equal(api.messages(USER_CHAT_ID).length, 2);
});

Deno.test("FakeBotApi editMessageText answers 'message is not modified' for an identical edit", async () => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);
  const keyboard = { inline_keyboard: [[{ text: "Go", callback_data: "go" }]] };
  const sent = await bot.api.sendMessage(USER_CHAT_ID, "v1", {
    reply_markup: keyboard,
  });

  await bot.api.editMessageText(USER_CHAT_ID, sent.message_id, "v2", {
    reply_markup: keyboard,
  });
  await assertBotApiError(
    bot.api.editMessageText(USER_CHAT_ID, sent.message_id, "v2", {
      reply_markup: keyboard,
    }),
    {
      error_code: 400,
      description:
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    },
  );
  // Leaving the keyboard out of an edit removes it, as in Telegram.
  await bot.api.editMessageText(USER_CHAT_ID, sent.message_id, "v2");
  await assertBotApiError(
    bot.api.editMessageText(USER_CHAT_ID, 999, "v3"),
    { error_code: 400, description: "Bad Request: message to edit not found" },
  );

  assert.deepEqual(api.messages(USER_CHAT_ID), [{
    message_id: sent.message_id,
    chat_id: USER_CHAT_ID,
    text: "v2",
    edits: 2,
    deleted: false,
  }]);
});

Deno.test("FakeBotApi deleteMessage marks the message deleted", async () => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);
  const sent = await bot.api.sendMessage(USER_CHAT_ID, "bye");

  assert.equal(
    await bot.api.deleteMessage(USER_CHAT_ID, sent.message_id),
    true,
  );
  await assertBotApiError(
    bot.api.editMessageText(USER_CHAT_ID, sent.message_id, "again"),
    { error_code: 400, description: "Bad Request: message to edit not found" },
  );

  assert.equal(api.messages(USER_CHAT_ID)[0].deleted, true);
});

Deno.test("FakeBotApi rate limit answers 429 with retry_after and drops the call", async () => {
  let nowMs = 0;
  await using api = await FakeBotApi.start({
    rateLimit: {
      perChatIntervalMs: 1000,
      globalPerSecond: 2,
      retryAfterSeconds: 3,
    },
    now: () => nowMs,
  });
  const bot = botFor(api);
  const tooMany = {
    error_code: 429,
    description: "Too Many Requests: retry after 3",
  };

  await bot.api.sendMessage(1001, "one");
  const perChat = await assertBotApiError(
    bot.api.sendMessage(1001, "too soon"),
    tooMany,
  );
  assert.equal(perChat.parameters.retry_after, 3);
  await bot.api.sendMessage(2002, "two");
  await assertBotApiError(bot.api.sendMessage(3003, "over global"), tooMany);
  nowMs = 1000;
  await bot.api.sendMessage(1001, "three");

  assert.deepEqual(api.messages().map((message) => message.text), [
    "one",
    "two",
    "three",
  ]);
  assert.equal(api.rateLimited, 2);
});

Deno.test("FakeBotApi rate limit can pace drafts per chat and a group per minute", async () => {
  let nowMs = 0;
  await using api = await FakeBotApi.start({
    rateLimit: {
      perChatIntervalMs: 1000,
      globalPerSecond: 30,
      retryAfterSeconds: 2,
      draftIntervalMs: 300,
      groupPerMinute: 3,
    },
    now: () => nowMs,
  });
  const bot = botFor(api);
  const tooMany = {
    error_code: 429,
    description: "Too Many Requests: retry after 2",
  };

  await bot.api.sendMessageDraft(1001, 1, "draft one");
  await assertBotApiError(
    bot.api.sendMessageDraft(1001, 1, "draft too soon"),
    tooMany,
  );
  await bot.api.sendMessageDraft(2002, 1, "another chat's draft");
  await bot.api.sendMessage(1001, "drafts and messages apart");
  nowMs = 300;
  await bot.api.sendMessageDraft(1001, 1, "draft two");

  for (const second of [1, 2, 3]) {
    nowMs = second * 1000;
    await bot.api.sendMessage(-100, `group ${second}`, {
      message_thread_id: second,
    });
  }
  nowMs = 4_000;
  await assertBotApiError(bot.api.sendMessage(-100, "fourth"), tooMany);
  nowMs = 61_000;
  await bot.api.sendMessage(-100, "a minute later");

  assert.deepEqual(api.drafts().map((draft) => draft.text), [
    "draft one",
    "another chat's draft",
    "draft two",
  ]);
  assert.equal(api.rateLimited, 2);
});

Deno.test("FakeBotApi getFile serves uploaded files for download", async (t) => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);
  const download = async (filePath: string | undefined) => {
    const response = await fetch(
      `${api.apiRoot}/file/bot${api.token}/${filePath}`,
    );
    return new Uint8Array(await response.arrayBuffer());
  };
  bot.on("message:document", async (ctx) => {
    try {
      const file = await ctx.getFile();
      const text = new TextDecoder().decode(await download(file.file_path));
      await ctx.reply(`${ctx.message.document.file_name}: ${text}`);
    } catch (error) {
      if (!(error instanceof GrammyError)) throw error;
      await ctx.reply(`refused: ${error.description}`);
    }
  });
  bot.on("message:photo", async (ctx) => {
    const largest = ctx.message.photo.at(-1);
    assert.ok(largest);
    const file = await ctx.api.getFile(largest.file_id);
    const bytes = await download(file.file_path);
    await ctx.reply(
      `${ctx.message.photo.length} sizes, ${largest.width}x${largest.height}, ` +
        `${bytes.length} bytes, caption ${ctx.message.caption}`,
    );
  });

  await whilePolling(bot, async () => {
    await t.step("a document roundtrips", async () => {
      api.sendDocument("notes.txt", new TextEncoder().encode("dear diary"));
      const reply = await api.waitFor(() => api.messages().at(-1));
      assert.equal(reply.text, "notes.txt: dear diary");
    });
    await t.step("a photo offers several sizes", async () => {
      api.sendPhoto(new Uint8Array([1, 2, 3, 4]), { caption: "cat" });
      const reply = await api.waitFor(() => api.messages()[1]);
      assert.equal(reply.text, "4 sizes, 1280x960, 4 bytes, caption cat");
    });
    await t.step("a file reported over 20 MB is refused", async () => {
      api.sendDocument("huge.bin", new Uint8Array([0]), {
        fileSize: 25 * 1024 * 1024,
      });
      const reply = await api.waitFor(() => api.messages()[2]);
      assert.equal(reply.text, "refused: Bad Request: file is too big");
    });
  });

  await t.step(
    "the bot's own uploads are recorded as text and bytes",
    async () => {
      const bytes = new TextEncoder().encode("report body");
      await bot.api.sendDocument(
        USER_CHAT_ID,
        new InputFile(bytes, "report.txt"),
        {
          caption: "<b>Report</b>",
          parse_mode: "HTML",
        },
      );
      const sent = api.messages().at(-1);
      assert.deepEqual(sent?.document, {
        file_name: "report.txt",
        content: "report body",
        bytes,
      });
      assert.equal(sent?.text, "Report");
    },
  );
});

Deno.test("FakeBotApi getUpdates offset confirms earlier updates", async (t) => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);

  await t.step("by hand", async () => {
    const first = api.sendText("a");
    const second = api.sendText("b");
    const all = await bot.api.getUpdates({ timeout: 0 });
    assert.deepEqual(all.map((update) => update.update_id), [first, second]);
    assert.equal(api.confirmedUpdateId, 0);

    const rest = await bot.api.getUpdates({ offset: first + 1 });
    assert.deepEqual(rest.map((update) => update.update_id), [second]);
    assert.equal(api.confirmedUpdateId, first);

    assert.deepEqual(await bot.api.getUpdates({ offset: second + 1 }), []);
    assert.equal(api.confirmedUpdateId, second);
  });

  await t.step("by a polling bot that stops", async () => {
    const seen: number[] = [];
    bot.on("message", (ctx) => {
      seen.push(ctx.update.update_id);
    });
    let last = 0;
    await whilePolling(bot, async () => {
      last = api.sendText("c");
      await api.waitFor(() => seen.includes(last));
    });
    assert.equal(api.confirmedUpdateId, last);
  });
});

Deno.test("FakeBotApi close() releases a held long poll", async (t) => {
  await t.step("of a raw client", async () => {
    const api = await FakeBotApi.start();
    const held = rawCall(api, "getUpdates", { timeout: 30 });
    await api.waitFor(() => api.calls.length === 1);

    await within(BOUND_MS, api.close());

    assert.deepEqual(await held, {
      status: 200,
      body: { ok: true, result: [] },
    });
  });

  await t.step("of a grammY bot stopped mid-poll", async () => {
    const api = await FakeBotApi.start();
    const bot = botFor(api);
    await whilePolling(bot, async () => {
      await api.waitFor(() =>
        api.calls.some((call) => call.params.timeout === 30)
      );
    });

    await within(BOUND_MS, api.close());

    // bot.stop() saves the offset with a short poll of one update.
    assert.deepEqual(api.calls.at(-1)?.params, { offset: 1, limit: 1 });
  });
});

Deno.test("FakeBotApi injectError fails the next calls of a method", async () => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);
  api.injectError("sendMessage", {
    error_code: 400,
    description: "Bad Request: chat not found",
  });
  api.injectError("sendMessage", {
    error_code: 429,
    description: "Too Many Requests: retry after 7",
    retry_after: 7,
  });

  await assertBotApiError(bot.api.sendMessage(USER_CHAT_ID, "a"), {
    error_code: 400,
    description: "Bad Request: chat not found",
  });
  const limited = await assertBotApiError(
    bot.api.sendMessage(USER_CHAT_ID, "b"),
    { error_code: 429, description: "Too Many Requests: retry after 7" },
  );
  await bot.api.sendMessage(USER_CHAT_ID, "c");

  assert.equal(limited.parameters.retry_after, 7);
  assert.equal(api.rateLimited, 1);
  assert.deepEqual(api.messages().map((message) => message.text), ["c"]);
});

Deno.test("FakeBotApi rejects wrong tokens and unknown methods", async () => {
  await using api = await FakeBotApi.start();

  assert.deepEqual(await rawCall(api, "getMe", {}, "1:wrong"), {
    status: 401,
    body: { ok: false, error_code: 401, description: "Unauthorized" },
  });
  assert.deepEqual(await rawCall(api, "sendTelepathy", {}), {
    status: 404,
    body: {
      ok: false,
      error_code: 404,
      description: "Not Found: method not found",
    },
  });
  assert.deepEqual(api.calls.map((call) => call.method), ["sendTelepathy"]);
});

Deno.test("FakeBotApi sendMessageDraft", async (t) => {
  await t.step("records drafts", async () => {
    await using api = await FakeBotApi.start();
    const bot = botFor(api);
    await bot.api.sendMessageDraft(USER_CHAT_ID, 7, "<i>thinking</i>", {
      parse_mode: "HTML",
    });
    const [draft] = api.drafts(USER_CHAT_ID);
    assert.equal(draft.draft_id, 7);
    assert.equal(draft.text, "thinking");
    assert.equal(draft.html, "<i>thinking</i>");
  });

  await t.step("is missing when drafts are unsupported", async () => {
    await using api = await FakeBotApi.start({ supportsDrafts: false });
    await assertBotApiError(
      botFor(api).api.sendMessageDraft(USER_CHAT_ID, 7, "thinking"),
      { error_code: 404, description: "Not Found: method not found" },
    );
    assert.deepEqual(api.drafts(), []);
  });
});

Deno.test("FakeBotApi pressButton delivers a callback_query for an offered button", async () => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);
  bot.on("message:text", (ctx) =>
    ctx.reply("Allow?", {
      reply_markup: {
        inline_keyboard: [[{ text: "Yes", callback_data: "allow" }]],
      },
    }));
  bot.on("callback_query:data", async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(`chose ${ctx.callbackQuery.data}`);
  });

  await whilePolling(bot, async () => {
    api.sendText("run it");
    const prompt = await api.waitFor(() => api.messages()[0]);
    assert.throws(() => api.pressButton(prompt.message_id, "deny"), RangeError);
    api.pressButton(prompt.message_id, "allow");
    await api.waitFor(() => api.messages()[0].edits === 1);
  });

  assert.equal(api.messages()[0].text, "chose allow");
  assert.equal(api.messages()[0].reply_markup, undefined);
  assert.ok(api.calls.some((call) => call.method === "answerCallbackQuery"));
});

Deno.test("FakeBotApi sendText in a forum topic carries thread and forum flags", async () => {
  await using api = await FakeBotApi.start();
  const bot = botFor(api);
  const received: unknown[] = [];
  bot.on("message:text", async (ctx) => {
    received.push({
      chat: ctx.chat,
      from: ctx.from.id,
      thread: ctx.message.message_thread_id,
      isTopic: ctx.message.is_topic_message,
    });
    await ctx.reply("in topic");
  });

  await whilePolling(bot, async () => {
    api.sendText("hi", {
      chatId: -100777,
      userId: 42,
      chatType: "supergroup",
      isForum: true,
      threadId: 9,
    });
    await api.waitFor(() => api.messages(-100777).length === 1);
  });

  assert.deepEqual(received, [{
    chat: {
      id: -100777,
      type: "supergroup",
      title: "Test group",
      is_forum: true,
    },
    from: 42,
    thread: 9,
    isTopic: true,
  }]);
  assert.equal(api.messages(-100777)[0].message_thread_id, 9);
});

Deno.test("FakeBotApi waitFor rejects listing recent calls when the probe stays false", async () => {
  await using api = await FakeBotApi.start();
  await botFor(api).api.getMe();

  await assert.rejects(
    api.waitFor(() => false, { timeoutMs: 0, description: "never" }),
    (error: Error) => {
      assert.match(error.message, /^Cannot wait for "never": timed out/);
      assert.match(error.message, /getMe/);
      return true;
    },
  );
});
