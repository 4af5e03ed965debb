// The end of a turn as messages: splitting, the answer.md attachment, footers.
import assert from "node:assert/strict";
import {
  answerMessages,
  AnswerStream,
  footerHtml,
  MAX_ANSWER_MESSAGES,
  previewHtml,
  streamedPart,
} from "../answer.ts";
import { SandboxSetupError } from "../sandbox_spec.ts";
import { ClaudeStartError } from "../subprocess.ts";
import { renderMarkdown } from "../render.ts";
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

Deno.test("answerMessages() with parts already sent sends only the rest", async (t) => {
  const markdown = "First part.\n\nSecond part.";
  await t.step("the rest, with the footer", () => {
    const sent = { chars: "First part.\n\n".length, messages: 1 };
    assert.deepEqual(answerMessages(markdown, "⏹ Stopped.", { sent }), {
      messages: ["Second part.\n\n⏹ Stopped."],
      attachment: undefined,
    });
  });
  await t.step("nothing left: the footer alone, or nothing", () => {
    const sent = { chars: markdown.length, messages: 2 };
    assert.deepEqual(
      answerMessages(markdown, "⏹ Stopped.", { sent }).messages,
      ["⏹ Stopped."],
    );
    assert.deepEqual(answerMessages(markdown, "", { sent }).messages, []);
  });
  await t.step("more than three messages in all: answer.md too", () => {
    const long = "A paragraph that goes on and on.\n\n".repeat(60);
    const sent = { chars: 0, messages: 3 };
    const { messages, attachment } = answerMessages(long, "", { sent });
    assert.equal(attachment, long);
    assert.equal(messages.length, 1, "the rest is sent whole");
    assert.ok(
      messages[0].endsWith(
        `<i>The full answer (${long.length} characters) is attached as answer.md.</i>`,
      ),
    );
  });
});

Deno.test("streamedPart() waits until the preview is full, then takes whole blocks", async (t) => {
  const paragraph = (n: number) => `${"word ".repeat(150)}${n}`;
  await t.step("nothing while the text fits the preview", () => {
    assert.equal(streamedPart(paragraph(1), { previewLimit: 3500 }), undefined);
  });
  await t.step("complete blocks up to a message, never the growing one", () => {
    const markdown = [1, 2, 3, 4, 5, 6].map(paragraph).join("\n\n");
    const part = streamedPart(markdown, { previewLimit: 3500 })!;
    assert.equal(part.messages.length, 1);
    assert.ok(part.messages[0].length <= 4096);
    assert.ok(markdown.slice(part.chars).startsWith(paragraph(6).slice(0, 10)));
    assert.equal(
      part.messages[0],
      renderMarkdown(markdown.slice(0, part.chars)).trimEnd(),
    );
    assert.ok(part.chars > 0 && markdown[part.chars - 1] === "\n");
  });
  await t.step("one block still growing: nothing to take", () => {
    const code = "```ts\n" + "let a = 1;\n".repeat(500);
    assert.equal(streamedPart(code, { previewLimit: 3500 }), undefined);
  });
  await t.step(
    "a complete block longer than a message: all its messages",
    () => {
      const code = "```ts\n" + "let a = 1;\n".repeat(500) + "```";
      const part = streamedPart(`${code}\n\nAfter.`, { previewLimit: 3500 })!;
      assert.ok(part.messages.length >= 2);
      assert.equal(part.chars, `${code}\n\n`.length);
      assert.ok(part.messages.every((html) => html.startsWith("<pre>")));
    },
  );
});

Deno.test("previewHtml() shows the end of a text longer than the preview", () => {
  assert.equal(previewHtml("Short **text**", 100), "Short <b>text</b>");
  assert.equal(previewHtml("", 100), "");
  const code = "```\n" +
    Array.from({ length: 400 }, (_, i) => `line ${i}`).join("\n");
  const html = previewHtml(code, 1000);
  assert.ok(html.length <= 1000, `${html.length}`);
  assert.ok(html.startsWith("…\n<pre><code>"));
  assert.ok(html.endsWith("line 399</code></pre>"));
});

Deno.test("AnswerStream counts parts as sent and tells when the text changed under them", () => {
  const stream = new AnswerStream();
  const paragraph = (n: number) => `${"word ".repeat(150)}${n}`;
  const markdown = [1, 2, 3, 4, 5, 6].map(paragraph).join("\n\n");
  stream.setText(markdown);
  const part = stream.takePart(3500)!;
  assert.deepEqual(stream.sent, { chars: part.endChars, messages: 1 });
  assert.equal(stream.takePart(3500), undefined, "the rest fits");
  const final = stream.final(markdown, "");
  assert.equal(final.isConsistent, true);
  assert.ok(!final.messages.join("").includes("word 1<"));
  assert.equal(stream.final("Something else", "").isConsistent, false);
  assert.equal(stream.restart(), markdown.slice(part.endChars));
  assert.deepEqual(stream.sent, { chars: 0, messages: 0 });
});

Deno.test("footerHtml() names why Claude could not start: the reason, or a sandbox's own words", () => {
  const footer = (error: ClaudeStartError) =>
    footerHtml({ kind: "start_failed", error }, {
      mode: "normal",
      hasText: false,
    });
  assert.match(
    footer(new ClaudeStartError("/bin/claude", "permission_denied", null)),
    /could not be started \(<code>\/bin\/claude<\/code>: permission denied\)/,
  );
  const sandbox = new SandboxSetupError("/home/u/.claude", "NotCapable <x>");
  assert.match(
    footer(new ClaudeStartError("/bin/claude", "failed", sandbox)),
    /: Cannot set up the sandbox at "\/home\/u\/\.claude": NotCapable &lt;x&gt;\)/,
  );
});
