// LiveView against an in-memory chat, a real outbox and a manual clock: the
// state its owner pushes in, what the chat shows, and the exactly-once
// delivery of an answer that streams in parts.
import assert from "node:assert/strict";
import fc from "fast-check";
import { LiveView } from "../live_view.ts";
import { Outbox } from "../outbox.ts";
import { renderMarkdown } from "../render.ts";
import { ManualClock } from "./fakes/manual_clock.ts";
import { MemoryChat } from "./fakes/memory_chat.ts";
import { parseTelegramHtml } from "./fakes/telegram_html.ts";
import { advanceUntil, pollUntil, withDeadline } from "./fakes/wait.ts";

function setup(options: { canDraft?: boolean; chatKey?: string } = {}) {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const chat = new MemoryChat(clock, options);
  const logs: string[] = [];
  const view = new LiveView({
    api: chat,
    outbox,
    chatKey: options.chatKey ?? "42",
    clock,
    log: (message) => logs.push(message),
  });
  /** Waits until no call runs; what is still queued waits for the clock. */
  const settled = () =>
    pollUntil(() => outbox.running === 0, {
      description: "the outbox to have no running call",
      everyMs: 0,
    });
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settled();
  };
  /** Moves the clock a second at a time until `finish` settles. */
  const finish = async (markdown: string, footerHtml = "") => {
    let isDone = false;
    view.finish(markdown, footerHtml).then(() => isDone = true);
    await advanceUntil(clock, () => isDone, {
      description: "the answer to be delivered",
      stepMs: 1000,
    });
  };
  return { clock, outbox, chat, view, logs, settled, advance, finish };
}

Deno.test("LiveView.show() keeps one message up to date, and finish() makes it the answer", async () => {
  const { chat, view, settled, advance, finish } = setup();
  view.show({ markdown: "", status: "⚙️ Running Bash…" });
  await settled();
  view.show({ markdown: "The answer", status: "" });
  view.show({ markdown: "The answer so far", status: "" });
  await advance(1000);
  await finish("The answer so far, **done**.");
  assert.deepEqual(chat.transcript(), [
    "send #1: ⚙️ Running Bash…",
    "edit #1: The answer so far",
    "edit #1: The answer so far, done.",
  ]);
});

Deno.test("LiveView.finish() deletes a preview message the answer does not need", async () => {
  const { chat, view, settled, finish } = setup();
  view.show({ markdown: "", status: "⚙️ Running Bash…" });
  await settled();
  await finish("", "");
  assert.deepEqual(chat.transcript(), [
    "send #1: ⚙️ Running Bash…",
    "delete #1: ",
  ]);
  assert.deepEqual(chat.visible(), []);
});

Deno.test("LiveView.finish() ends a draft still waiting out a 429, then sends the answer", async () => {
  const { chat, view, logs } = setup({ canDraft: true });
  chat.isHoldingDrafts = true;
  view.show({ markdown: "Half", status: "" });
  await pollUntil(() => chat.heldDraftSignals.length === 1, {
    description: "the draft to be held",
  });
  const [signal] = chat.heldDraftSignals;
  assert.equal(signal?.aborted, false);
  await withDeadline(view.finish("Whole.", ""), {
    what: "the answer",
    ms: 2_000,
  });
  assert.equal(signal?.aborted, true);
  assert.deepEqual(chat.transcript(), ["draft: Half", "send #1: Whole."]);
  assert.deepEqual(logs, [], "an ended draft is no failure");
});

Deno.test("LiveView.finish() drops a queued draft instead of sending it first", async () => {
  const { chat, view, settled, advance } = setup({ canDraft: true });
  view.show({ markdown: "One", status: "" });
  await settled();
  await advance(100);
  view.show({ markdown: "One two", status: "" });
  await withDeadline(view.finish("One two three.", ""), {
    what: "the answer",
    ms: 2_000,
  });
  assert.deepEqual(chat.transcript(), [
    "draft: One",
    "send #1: One two three.",
  ]);
  assert.equal(chat.calls[1].atMs, 100, "not held for the draft's interval");
});

Deno.test("LiveView.keepDraftAlive() sends the draft again before it would expire", async () => {
  const { chat, view, settled, advance } = setup({ canDraft: true });
  view.show({ markdown: "Thinking", status: "" });
  await settled();
  await advance(19_000);
  view.keepDraftAlive();
  await settled();
  assert.equal(chat.calls.length, 1, "not yet");
  await advance(1_000);
  view.keepDraftAlive();
  await settled();
  assert.deepEqual(chat.transcript(), ["draft: Thinking", "draft: Thinking"]);
  await withDeadline(view.finish("Done.", ""), {
    what: "the answer",
    ms: 2_000,
  });
});

Deno.test("LiveView.logText() logs only what was not sent as a part", async () => {
  const { chat, view, advance, finish } = setup({ canDraft: true });
  const paragraph = (n: number) => `${"word ".repeat(200)}${n}`;
  let markdown = "";
  for (let n = 1; n <= 5; n++) {
    markdown += `${paragraph(n)}\n\n`;
    view.show({ markdown, status: "" });
    await advance(1000);
  }
  assert.ok(chat.calls.some((call) => call.kind === "send"), "a part went");
  view.logText();
  view.addLine("⚙️ <b>Bash</b>");
  await finish("Done.");
  const shown = chat.visible().join("\n\n");
  for (let n = 1; n <= 5; n++) {
    assert.equal(
      shown.split(paragraph(n)).length,
      2,
      `paragraph ${n} once`,
    );
  }
  assert.match(chat.visible().at(-2)!, /5\n⚙️ Bash$/);
  assert.equal(chat.visible().at(-1), "Done.");
});

Deno.test("LiveView.addLine() continues a full log in a new message", async () => {
  const { chat, view, advance, finish } = setup();
  const line = (n: number) =>
    `⚙️ <b>Bash</b> <code>step ${n}</code> ${"·".repeat(80)}`;
  for (let n = 1; n <= 60; n++) {
    view.addLine(line(n));
    if (n % 10 === 0) await advance(1000);
  }
  await finish("Done.");
  const log = chat.visible().slice(0, -1);
  assert.ok(log.length >= 2, `${log.length} messages`);
  const steps = log.join("\n").match(/step \d+/g);
  assert.deepEqual(
    steps,
    Array.from({ length: 60 }, (_, i) => `step ${i + 1}`),
  );
});

// Markdown blocks of the kinds Claude writes; a paragraph may be long.
const block = fc.oneof(
  fc.array(fc.constantFrom("alpha", "beta", "**gamma**", "`delta`", "eps"), {
    minLength: 5,
    maxLength: 400,
  }).map((words) => words.join(" ")),
  fc.nat({ max: 999 }).map((n) => `## Heading ${n}`),
  fc.array(fc.constantFrom("one", "two", "three"), {
    minLength: 1,
    maxLength: 8,
  }).map((items) => items.map((item) => `- ${item} item`).join("\n")),
  fc.array(fc.constantFrom("let a = 1;", "return a < b && c;", "}"), {
    minLength: 1,
    maxLength: 60,
  }).map((lines) => "```ts\n" + lines.join("\n") + "\n```"),
  fc.constant("| key | value |\n| --- | --- |\n| a | 1 |"),
);

function words(text: string): string[] {
  return text.match(/[A-Za-z0-9]+/g) ?? [];
}

Deno.test("LiveView sends a streaming answer exactly once, in parts and at the end", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(block, { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 900 }), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.boolean(),
      async (blocks, chunkSizes, canDraft) => {
        const markdown = blocks.join("\n\n");
        const { chat, view, advance, finish } = setup({ canDraft });
        for (let at = 0, i = 0; at < markdown.length; i++) {
          at += chunkSizes[i % chunkSizes.length];
          view.show({ markdown: markdown.slice(0, at), status: "" });
          await advance(400);
        }
        await finish(markdown);
        const expected = words(parseTelegramHtml(renderMarkdown(markdown)));
        const shown = words(
          chat.visible().join("\n").replace(
            /The full answer \(\d+ characters\) is attached as answer\.md\./,
            "",
          ),
        );
        const [document] = chat.documents;
        if (document === undefined) {
          assert.deepEqual(shown, expected);
          return;
        }
        // Too long for messages at the end: a first part, and the whole
        // answer as a file; what the chat shows is still each word once.
        assert.equal(document.content, markdown);
        assert.ok(shown.length > 0);
        assert.deepEqual(shown, expected.slice(0, shown.length));
      },
    ),
    { numRuns: 40 },
  );
});
