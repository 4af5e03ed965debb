// The end of a turn as messages: splitting, the answer.md attachment, footers.
import assert from "node:assert/strict";
import { answerMessages, footerHtml, MAX_ANSWER_MESSAGES } from "../answer.ts";
import type { TurnOutcome } from "../turn.ts";
import { parseTelegramHtml } from "./fakes/telegram_html.ts";

const COMPLETED: TurnOutcome = {
  kind: "completed",
  costUsd: 0.0123,
  event: {
    type: "result",
    subtype: "success",
    isError: false,
    durationMs: 42_000,
    numTurns: 4,
    errors: [],
  },
};

Deno.test("answerMessages() sends an answer of up to three messages as messages", () => {
  const markdown = "A paragraph that goes on and on.\n\n".repeat(300);
  const { messages, attachment } = answerMessages(markdown, "<i>footer</i>");
  assert.equal(messages.length, MAX_ANSWER_MESSAGES);
  assert.equal(attachment, undefined);
  assert.ok(messages.at(-1)!.endsWith("\n\n<i>footer</i>"));
});

Deno.test("answerMessages() sends a longer answer as its first part plus answer.md", async (t) => {
  for (
    const [name, markdown] of [
      ["prose", "A sentence that goes on. ".repeat(800)],
      ["one unbreakable line", "x".repeat(20_000)],
    ]
  ) {
    await t.step(name, () => {
      const { messages, attachment } = answerMessages(markdown, "⏹ Stopped.");
      assert.equal(attachment, markdown);
      assert.equal(messages.length, 1);
      const visible = parseTelegramHtml(messages[0]);
      assert.ok(visible.length <= 4096, `${visible.length} characters`);
      assert.ok(visible.startsWith(markdown.slice(0, 1000).trim()));
      assert.ok(
        visible.endsWith(
          `The full answer (${markdown.length} characters) is attached as answer.md.\n\n⏹ Stopped.`,
        ),
      );
    });
  }
});

Deno.test("answerMessages() puts a footer that does not fit in its own message", () => {
  const { messages } = answerMessages("y".repeat(4090), "<i>footer</i>");
  assert.deepEqual(messages.slice(1), ["<i>footer</i>"]);
  assert.deepEqual(answerMessages("", "⏹ Stopped.").messages, ["⏹ Stopped."]);
  assert.deepEqual(answerMessages("", "").messages, []);
});

Deno.test("footerHtml() shows cost, duration and round trips in verbose mode only", () => {
  assert.equal(
    footerHtml(COMPLETED, { mode: "verbose", hasText: true }),
    "<i>$0.0123 · 42 s · 4 turns</i>",
  );
  assert.equal(footerHtml(COMPLETED, { mode: "normal", hasText: true }), "");
  assert.equal(
    footerHtml(COMPLETED, { mode: "quiet", hasText: false }),
    "<i>Claude finished without a text answer.</i>",
  );
  assert.equal(
    footerHtml({ kind: "interrupted" }, { mode: "quiet", hasText: true }),
    "⏹ Stopped.",
  );
  assert.equal(
    footerHtml({
      kind: "crashed",
      exit: { code: 3, signal: null, stderrTail: "" },
    }, {
      mode: "normal",
      hasText: false,
    }),
    "⚠️ Claude stopped unexpectedly (exit code 3). Your next message starts it again.",
  );
});
