// sendCommandReply against an in-memory chat: long answers split, buttons on
// the last part, a short answer as a document's caption, order kept.
import assert from "node:assert/strict";
import { type ChatApi, type InlineButton, TurnCalls } from "../chat_port.ts";
import { sendCommandReply } from "../command_reply.ts";
import { Outbox } from "../outbox.ts";
import { ManualClock } from "./fakes/manual_clock.ts";

/** One call to the chat. */
type Call =
  | { kind: "text"; text: string; html: boolean; buttons?: InlineButton[][] }
  | { kind: "document"; fileName: string; bytes: number; caption: string };

/** A ChatApi that records what is sent. */
function memoryChat(calls: Call[]): ChatApi {
  return {
    canDraft: false,
    sendText(text, { html, buttons }) {
      calls.push({ kind: "text", text, html, ...(buttons ? { buttons } : {}) });
      return Promise.resolve(calls.length);
    },
    editText: () => Promise.resolve(),
    sendDraft: () => Promise.resolve(),
    deleteMessage: () => Promise.resolve(),
    sendTyping: () => Promise.resolve(),
    sendDocument(fileName, content, caption) {
      const bytes = typeof content === "string"
        ? new TextEncoder().encode(content).length
        : content.length;
      calls.push({ kind: "document", fileName, bytes, caption });
      return Promise.resolve();
    },
  };
}

/** Sends `reply` and waits until the outbox has delivered it. */
async function deliver(
  reply: Parameters<typeof sendCommandReply>[1],
): Promise<Call[]> {
  const calls: Call[] = [];
  const clock = new ManualClock(0);
  const outbox = new Outbox({
    clock,
    perChatIntervalMs: 0,
    globalPerSecond: 1000,
  });
  sendCommandReply(
    new TurnCalls({ api: memoryChat(calls), outbox, chatKey: "1", clock }),
    reply,
  );
  await outbox.idle();
  return calls;
}

const BUTTONS = [[{ text: "Open api", data: "open:api" }]];

Deno.test("sendCommandReply() sends HTML with its buttons", async () => {
  assert.deepEqual(await deliver({ html: "<b>hi</b>", buttons: BUTTONS }), [
    { kind: "text", text: "<b>hi</b>", html: true, buttons: BUTTONS },
  ]);
});

Deno.test("sendCommandReply() splits a long answer and puts the buttons under the last part", async () => {
  const html = Array.from({ length: 600 }, (_, i) => `line ${i}`).join("\n");
  const calls = await deliver({ html, buttons: BUTTONS });
  assert.ok(calls.length >= 2, `${calls.length} parts`);
  assert.ok(calls.every((c) => c.kind === "text" && c.text.length <= 4096));
  assert.deepEqual(
    calls.map((c) => c.kind === "text" && c.buttons !== undefined),
    calls.map((_, i) => i === calls.length - 1),
  );
  assert.equal(
    calls.map((c) => c.kind === "text" ? c.text : "").join("\n"),
    html,
  );
});

Deno.test("sendCommandReply() makes a short answer the document's plain caption", async () => {
  const calls = await deliver({
    html: "<code>a &lt; b.txt</code>, 3 bytes.",
    document: { fileName: "a.txt", bytes: new Uint8Array([1, 2, 3]) },
  });
  assert.deepEqual(calls, [{
    kind: "document",
    fileName: "a.txt",
    bytes: 3,
    caption: "a < b.txt, 3 bytes.",
  }]);
});

Deno.test("sendCommandReply() sends a long answer before its document", async () => {
  const html = "x".repeat(2000);
  const calls = await deliver({
    html,
    document: { fileName: "changes.diff", bytes: new Uint8Array(10) },
  });
  assert.deepEqual(calls, [
    { kind: "text", text: html, html: true },
    { kind: "document", fileName: "changes.diff", bytes: 10, caption: "" },
  ]);
});
