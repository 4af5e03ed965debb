// chatApi and DraftSupport on a real grammY Api whose transport is an
// in-memory transformer: the payloads sent, and Telegram's errors turned into
// typed ones ("not modified" is success, bad HTML and missing drafts typed).
import assert from "node:assert/strict";
import { grammyError, httpError } from "./fakes/grammy_errors.ts";
import { Api, GrammyError, InputFile } from "grammy";
import { chatApi, describeError, DraftSupport } from "../chat_api.ts";
import {
  DraftsUnsupportedError,
  FormattingRejectedError,
} from "../chat_port.ts";

const CHAT_ID = 1001;
const GROUP_ID = -100123;

/** A Bot API error answer, as Telegram sends it. */
interface Refusal {
  error_code: number;
  description: string;
}

/**
 * A grammY Api that never touches the network: every call is recorded, and
 * answered by `answer` (a result, or a refusal grammY turns into a GrammyError).
 */
function memoryApi(
  answer: (method: string) => Refusal | unknown = defaultResult,
) {
  const calls: { method: string; payload: Record<string, unknown> }[] = [];
  const api = new Api("123:TEST");
  api.config.use((_prev, method, payload) => {
    calls.push({ method, payload: payload as Record<string, unknown> });
    const outcome = answer(method);
    // deno-lint-ignore no-explicit-any -- a transformer answers any method
    const response: any = isRefusal(outcome)
      ? { ok: false, ...outcome }
      : { ok: true, result: outcome };
    return Promise.resolve(response);
  });
  return { api, calls };
}

function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && "error_code" in value;
}

function defaultResult(method: string): unknown {
  return method === "sendMessage"
    ? { message_id: 42, date: 0, chat: { id: CHAT_ID, type: "private" } }
    : true;
}

/** Answers `method` with `refusal` and everything else normally. */
function refusing(method: string, refusal: Refusal) {
  return (called: string) =>
    called === method ? refusal : defaultResult(called);
}

const CANT_PARSE: Refusal = {
  error_code: 400,
  description:
    'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0',
};
const NOT_MODIFIED: Refusal = {
  error_code: 400,
  description:
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same",
};
const NOT_FOUND: Refusal = { error_code: 404, description: "Not Found" };

Deno.test("chatApi().sendText() sends HTML without link previews and returns the message id", async () => {
  const { api, calls } = memoryApi();
  const chat = chatApi(api, { chatId: CHAT_ID, drafts: new DraftSupport() });
  assert.equal(await chat.sendText("<b>hi</b>", { html: true }), 42);
  assert.deepEqual(calls, [{
    method: "sendMessage",
    payload: {
      chat_id: CHAT_ID,
      text: "<b>hi</b>",
      parse_mode: "HTML",
      link_preview_options: { is_disabled: true },
    },
  }]);
});

Deno.test("chatApi().sendText() sends plain text without a parse mode", async () => {
  const { api, calls } = memoryApi();
  const chat = chatApi(api, { chatId: CHAT_ID, drafts: new DraftSupport() });
  await chat.sendText("a < b", { html: false });
  assert.equal(calls[0].payload.parse_mode, undefined);
  assert.equal(calls[0].payload.text, "a < b");
});

Deno.test("chatApi() passes the forum topic's thread id where Telegram takes one", async () => {
  const { api, calls } = memoryApi();
  const chat = chatApi(api, {
    chatId: GROUP_ID,
    threadId: 7,
    drafts: new DraftSupport(),
  });
  await chat.sendText("hi", { html: true });
  await chat.sendTyping();
  await chat.sendDocument("answer.md", "# long", "the whole answer");
  await chat.editText(42, "edited", { html: true });
  await chat.deleteMessage(42);
  assert.deepEqual(
    calls.map((
      c,
    ) => [c.method, c.payload.chat_id, c.payload.message_thread_id]),
    [
      ["sendMessage", GROUP_ID, 7],
      ["sendChatAction", GROUP_ID, 7],
      ["sendDocument", GROUP_ID, 7],
      // A message id already names its topic.
      ["editMessageText", GROUP_ID, undefined],
      ["deleteMessage", GROUP_ID, undefined],
    ],
  );
});

Deno.test("chatApi() without a thread id sends no message_thread_id", async () => {
  const { api, calls } = memoryApi();
  const chat = chatApi(api, { chatId: CHAT_ID, drafts: new DraftSupport() });
  await chat.sendText("hi", { html: true });
  await chat.sendTyping();
  await chat.sendDraft(1, "draft", { html: true });
  assert.ok(calls.every((c) => !("message_thread_id" in c.payload)));
});

Deno.test('chatApi().sendText() turns "can\'t parse entities" into FormattingRejectedError', async () => {
  const { api } = memoryApi(refusing("sendMessage", CANT_PARSE));
  const chat = chatApi(api, { chatId: CHAT_ID, drafts: new DraftSupport() });
  const error = await chat.sendText("<x>", { html: true }).then(
    () => assert.fail("resolved"),
    (error) => error,
  );
  assert.ok(error instanceof FormattingRejectedError, String(error));
  assert.equal(error.message, CANT_PARSE.description);
  assert.ok(error.cause instanceof GrammyError);
});

Deno.test("chatApi().sendText() rethrows other Telegram errors as they are", async () => {
  const refusal = {
    error_code: 403,
    description: "Forbidden: bot was blocked by the user",
  };
  const { api } = memoryApi(refusing("sendMessage", refusal));
  const chat = chatApi(api, { chatId: CHAT_ID, drafts: new DraftSupport() });
  await assert.rejects(
    chat.sendText("hi", { html: true }),
    (error) => error instanceof GrammyError && error.error_code === 403,
  );
});

Deno.test('chatApi().editText() takes "message is not modified" as success', async () => {
  const { api, calls } = memoryApi(refusing("editMessageText", NOT_MODIFIED));
  const chat = chatApi(api, { chatId: CHAT_ID, drafts: new DraftSupport() });
  await chat.editText(42, "same", { html: true });
  assert.deepEqual(calls, [{
    method: "editMessageText",
    payload: {
      chat_id: CHAT_ID,
      message_id: 42,
      text: "same",
      parse_mode: "HTML",
      link_preview_options: { is_disabled: true },
    },
  }]);
});

Deno.test('chatApi().editText() turns "can\'t parse entities" into FormattingRejectedError and rethrows the rest', async () => {
  const parse = memoryApi(refusing("editMessageText", CANT_PARSE));
  await assert.rejects(
    chatApi(parse.api, { chatId: CHAT_ID, drafts: new DraftSupport() })
      .editText(42, "<x>", { html: true }),
    FormattingRejectedError,
  );
  const gone = memoryApi(refusing("editMessageText", {
    error_code: 400,
    description: "Bad Request: message to edit not found",
  }));
  await assert.rejects(
    chatApi(gone.api, { chatId: CHAT_ID, drafts: new DraftSupport() })
      .editText(42, "x", { html: true }),
    (error) =>
      error instanceof GrammyError && /not found/.test(error.description),
  );
});

Deno.test("chatApi().sendDraft() sends the draft id and text", async () => {
  const { api, calls } = memoryApi();
  const drafts = new DraftSupport();
  const chat = chatApi(api, { chatId: CHAT_ID, threadId: 3, drafts });
  await chat.sendDraft(99, "<i>thinking</i>", { html: true });
  assert.deepEqual(calls, [{
    method: "sendMessageDraft",
    payload: {
      chat_id: CHAT_ID,
      draft_id: 99,
      text: "<i>thinking</i>",
      message_thread_id: 3,
      parse_mode: "HTML",
    },
  }]);
  assert.ok(drafts.isSupported);
});

Deno.test("chatApi().sendDraft() answered 404 throws DraftsUnsupportedError and marks DraftSupport for every chat", async () => {
  const { api, calls } = memoryApi(refusing("sendMessageDraft", NOT_FOUND));
  const drafts = new DraftSupport();
  const chat = chatApi(api, { chatId: CHAT_ID, drafts });
  const other = chatApi(api, { chatId: 2002, drafts });
  assert.ok(chat.canDraft && other.canDraft);
  await assert.rejects(
    chat.sendDraft(1, "draft", { html: false }),
    (error) =>
      error instanceof DraftsUnsupportedError &&
      error.cause instanceof GrammyError,
  );
  assert.equal(drafts.isSupported, false);
  assert.equal(chat.canDraft, false);
  assert.equal(other.canDraft, false, "the support is shared");
  // A reply that started streaming before the 404 learns it without a call.
  await assert.rejects(
    other.sendDraft(2, "late", { html: false }),
    DraftsUnsupportedError,
  );
  assert.equal(
    calls.filter((c) => c.method === "sendMessageDraft").length,
    1,
    "no second probe",
  );
});

Deno.test("chatApi().sendDraft() keeps drafts on for other errors", async (t) => {
  await t.step("can't parse entities → FormattingRejectedError", async () => {
    const { api } = memoryApi(refusing("sendMessageDraft", CANT_PARSE));
    const drafts = new DraftSupport();
    await assert.rejects(
      chatApi(api, { chatId: CHAT_ID, drafts }).sendDraft(1, "<x>", {
        html: true,
      }),
      FormattingRejectedError,
    );
    assert.ok(drafts.isSupported);
  });
  await t.step("429 is rethrown as a GrammyError", async () => {
    const { api } = memoryApi(refusing("sendMessageDraft", {
      error_code: 429,
      description: "Too Many Requests: retry after 1",
    }));
    const drafts = new DraftSupport();
    await assert.rejects(
      chatApi(api, { chatId: CHAT_ID, drafts }).sendDraft(1, "x", {
        html: false,
      }),
      (error) => error instanceof GrammyError && error.error_code === 429,
    );
    assert.ok(drafts.isSupported);
  });
});

Deno.test("chatApi().canDraft is true only for private chats (positive ids)", () => {
  const { api } = memoryApi();
  const drafts = new DraftSupport();
  assert.equal(chatApi(api, { chatId: CHAT_ID, drafts }).canDraft, true);
  assert.equal(chatApi(api, { chatId: GROUP_ID, drafts }).canDraft, false);
  assert.equal(
    chatApi(api, { chatId: GROUP_ID, threadId: 5, drafts }).canDraft,
    false,
  );
});

Deno.test("chatApi().sendDocument() uploads the content under its file name with a caption", async () => {
  const { api, calls } = memoryApi();
  const chat = chatApi(api, { chatId: CHAT_ID, drafts: new DraftSupport() });
  await chat.sendDocument("answer.md", "# Title\nbody", "the whole answer");
  const [{ method, payload }] = calls;
  assert.equal(method, "sendDocument");
  assert.equal(payload.caption, "the whole answer");
  const file = payload.document;
  assert.ok(file instanceof InputFile);
  assert.equal(file.filename, "answer.md");
  const raw = await file.toRaw();
  assert.ok(raw instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(raw), "# Title\nbody");
});

Deno.test("chatApi().sendTyping() and deleteMessage() call Telegram for the chat", async () => {
  const { api, calls } = memoryApi();
  const chat = chatApi(api, { chatId: CHAT_ID, drafts: new DraftSupport() });
  await chat.sendTyping();
  await chat.deleteMessage(42);
  assert.deepEqual(calls, [
    {
      method: "sendChatAction",
      payload: { chat_id: CHAT_ID, action: "typing" },
    },
    { method: "deleteMessage", payload: { chat_id: CHAT_ID, message_id: 42 } },
  ]);
});

Deno.test("describeError() keeps a GrammyError's method, code and description only", () => {
  const error = grammyError("editMessageText", {
    error_code: 400,
    description: "Bad Request: message is not modified",
  });
  assert.equal(
    describeError(error),
    "GrammyError editMessageText: 400 Bad Request: message is not modified",
  );
});

Deno.test("describeError() keeps an HttpError's message, not its cause", () => {
  assert.equal(
    describeError(httpError("getUpdates")),
    "HttpError: Network request for 'getUpdates' failed!",
  );
});

Deno.test("describeError() gives other errors' stacks and other values as text", () => {
  const error = new Error("boom");
  assert.equal(describeError(error), error.stack);
  const stackless = new Error("no stack");
  stackless.stack = undefined;
  assert.equal(describeError(stackless), "no stack");
  assert.equal(describeError(42), "42");
  assert.equal(describeError(undefined), "undefined");
});
