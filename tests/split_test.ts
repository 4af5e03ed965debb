// Tests for split.ts: cut preferences, tag reopening, and property tests that
// every chunk fits, parses, and together they keep all of the text.

import assert from "node:assert/strict";
import fc from "fast-check";
import { renderMarkdown } from "../render.ts";
import { splitHtml, TELEGRAM_MESSAGE_LIMIT } from "../split.ts";
import { parseTelegramHtml } from "./fakes/telegram_html.ts";

const PROPERTY_RUNS = { numRuns: 200, seed: 20_260_126 };
const TS_CODE_OPEN = '<pre><code class="language-ts">';
const PYTHON_CODE_OPEN = '<pre><code class="language-python">';

function withoutWhitespace(text: string): string {
  return text.replace(/\s+/g, "");
}

/** Checks the contract every split must meet, returning each chunk's visible text. */
function assertValidChunks(
  html: string,
  chunks: readonly string[],
  maxLength: number,
): string[] {
  const visibleChunks = chunks.map((chunk) => {
    assert.ok(
      chunk.length <= maxLength,
      `chunk of ${chunk.length} > ${maxLength}: ${chunk}`,
    );
    const visible = parseTelegramHtml(chunk);
    assert.notEqual(visible.trim(), "", `empty chunk: ${chunk}`);
    return visible;
  });
  assert.equal(
    withoutWhitespace(visibleChunks.join("")),
    withoutWhitespace(parseTelegramHtml(html)),
  );
  return visibleChunks;
}

Deno.test("splitHtml() returns nothing for empty or blank HTML", () => {
  assert.deepEqual(splitHtml(""), []);
  assert.deepEqual(splitHtml(" \n\n \n"), []);
  assert.deepEqual(splitHtml("<b>\n</b>\n\n<i> </i>"), []);
});

Deno.test("splitHtml() keeps HTML that fits as one chunk", () => {
  const html = '<b>hi</b> <a href="https://x.y/?a=1&amp;b=2">there</a>';
  assert.deepEqual(splitHtml(html), [html]);
  assert.deepEqual(splitHtml(html, { maxLength: html.length }), [html]);
});

Deno.test("splitHtml() defaults to Telegram's 4096-character limit", () => {
  assert.equal(TELEGRAM_MESSAGE_LIMIT, 4096);
  const html = "word ".repeat(2_000).trim();
  const chunks = splitHtml(html);
  assert.equal(chunks.length, 3);
  assertValidChunks(html, chunks, TELEGRAM_MESSAGE_LIMIT);
});

Deno.test("splitHtml() prefers paragraphs, then lines, then words", async (t) => {
  await t.step("cuts at a blank line before a newline", () => {
    assert.deepEqual(
      splitHtml("aaaa aaaa\nbbbb bbbb\n\ncccc cccc\ndddd", { maxLength: 30 }),
      ["aaaa aaaa\nbbbb bbbb", "cccc cccc\ndddd"],
    );
  });
  await t.step("cuts at a newline before a space", () => {
    assert.deepEqual(
      splitHtml("aaaa aaaa aaaa\nbbbb bbbb bbbb", { maxLength: 20 }),
      ["aaaa aaaa aaaa", "bbbb bbbb bbbb"],
    );
  });
  await t.step("cuts at a space before mid-word", () => {
    assert.deepEqual(splitHtml("aaaa bbbb cccc dddd", { maxLength: 10 }), [
      "aaaa bbbb",
      "cccc dddd",
    ]);
  });
  await t.step("passes over a break that would leave a tiny chunk", () => {
    assert.deepEqual(
      splitHtml("a\n\nbbbbbbbb bbbbbbbbb", { maxLength: 20 }),
      ["a\n\nbbbbbbbb", "bbbbbbbbb"],
    );
  });
  await t.step("drops the blank lines at a cut", () => {
    assert.deepEqual(splitHtml("para one\n\n\n\npara two", { maxLength: 12 }), [
      "para one",
      "para two",
    ]);
  });
});

Deno.test("splitHtml() hard-cuts a line with no break", async (t) => {
  await t.step("at the limit", () => {
    const chunks = splitHtml("x".repeat(250), { maxLength: 100 });
    assert.deepEqual(chunks.map((chunk) => chunk.length), [100, 100, 50]);
  });
  await t.step("never inside a surrogate pair", () => {
    const html = "😀".repeat(60);
    const chunks = splitHtml(html, { maxLength: 51 });
    assert.deepEqual(chunks.map((chunk) => chunk.length), [50, 50, 20]);
    assert.equal(chunks.join(""), html);
  });
  await t.step("never inside an entity", () => {
    const chunks = splitHtml("&amp;".repeat(20), { maxLength: 12 });
    assert.deepEqual(chunks, Array(10).fill("&amp;&amp;"));
  });
  await t.step("never inside a tag", () => {
    const html = `a${'<a href="https://x.y">b</a>'.repeat(10)}`;
    const chunks = splitHtml(html, { maxLength: 60 });
    assertValidChunks(html, chunks, 60);
  });
});

Deno.test("splitHtml() closes tags at a cut and reopens them after", async (t) => {
  await t.step("a code block keeps its language", () => {
    const code = Array.from(
      { length: 12 },
      (_, index) => `line ${index}: a &lt; b;`,
    );
    const html = `${TS_CODE_OPEN}${code.join("\n")}</code></pre>`;
    const chunks = splitHtml(html, { maxLength: 120 });
    assert.ok(chunks.length > 1);
    for (const chunk of chunks) {
      assert.ok(chunk.startsWith(TS_CODE_OPEN), chunk);
      assert.ok(chunk.endsWith("</code></pre>"), chunk);
    }
    const visible = assertValidChunks(html, chunks, 120);
    assert.equal(visible.join("\n"), parseTelegramHtml(html));
  });
  await t.step("nested formatting is reopened in order", () => {
    const html = `<blockquote><b>${
      "bold words ".repeat(8)
    }</b>tail</blockquote>`;
    const chunks = splitHtml(html, { maxLength: 50 });
    for (const chunk of chunks.slice(0, -1)) {
      assert.match(chunk, /^<blockquote><b>.*<\/b><\/blockquote>$/);
    }
    assertValidChunks(html, chunks, 50);
  });
  await t.step("code indentation survives a cut at a newline", () => {
    const html = "<pre>if ready:\n    launch()\n    report()</pre>";
    assert.deepEqual(splitHtml(html, { maxLength: 28 }), [
      "<pre>if ready:</pre>",
      "<pre>    launch()</pre>",
      "<pre>    report()</pre>",
    ]);
  });
  await t.step("formatting that cannot fit is left out, not the text", () => {
    const link =
      '<a href="https://example.com/a/rather/long/path/to/somewhere">';
    const html = `<b>${link}link text that is long enough to be cut</a></b>`;
    const chunks = splitHtml(html, { maxLength: 70 });
    assert.ok(chunks.some((chunk) => !chunk.includes("<a ")));
    assertValidChunks(html, chunks, 70);
  });
});

Deno.test("splitHtml() refuses limits it cannot honour", () => {
  for (const maxLength of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => splitHtml("text", { maxLength }), RangeError);
  }
  assert.throws(() => splitHtml("&amp;", { maxLength: 3 }), RangeError);
});

const word = fc.oneof(
  {
    arbitrary: fc.string({
      unit: fc.constantFrom(..."abcdefghij<>&\"'", "中", "😀", "é"),
      minLength: 1,
      maxLength: 12,
    }),
    weight: 20,
  },
  {
    arbitrary: fc.string({
      unit: fc.constantFrom(..."xyz0123"),
      minLength: 100,
      maxLength: 400,
      size: "max",
    }),
    weight: 1,
  },
);

const inline = fc.oneof(
  { arbitrary: word, weight: 8 },
  word.map((text) => `**${text}**`),
  word.map((text) => `_${text}_`),
  word.map((text) => `\`${text}\``),
  word.map((text) => `[${text}](https://example.com/${text.length})`),
);

const line = fc
  .array(inline, { minLength: 1, maxLength: 20, size: "max" })
  .map((parts) => parts.join(" "));

const markdownBlock = fc.oneof(
  { arbitrary: line, weight: 4 },
  line.map((text) => `## ${text}`),
  fc.array(line, { minLength: 1, maxLength: 6 }).map((items) =>
    items.map((item) => `- ${item}`).join("\n")
  ),
  fc.array(line, { minLength: 1, maxLength: 4 }).map((lines) =>
    lines.map((text) => `> ${text}`).join("\n")
  ),
  fc
    .tuple(
      fc.constantFrom("", "ts", "python", "c++"),
      fc.array(line, { minLength: 1, maxLength: 15, size: "max" }),
    )
    .map(([lang, lines]) => "```" + lang + "\n" + lines.join("\n") + "\n```"),
  fc.array(fc.tuple(word, word), { minLength: 1, maxLength: 5 }).map((rows) =>
    ["| a | b |", "|---|---|", ...rows.map(([a, b]) => `| ${a} | ${b} |`)]
      .join("\n")
  ),
);

const markdownDocument = fc
  .array(markdownBlock, { minLength: 1, maxLength: 12, size: "max" })
  .map((blocks) => blocks.join("\n\n"));

const htmlText = fc
  .array(
    fc.constantFrom(
      "a",
      "b",
      "c",
      " ",
      "\n",
      "\n\n",
      "&lt;",
      "&amp;",
      "&quot;",
      "&#128512;",
      "😀",
      "中",
      "xyzzy".repeat(20),
    ),
    { maxLength: 40, size: "max" },
  )
  .map((pieces) => pieces.join(""));

const WRAPPERS: readonly [open: string, close: string][] = [
  ["<b>", "</b>"],
  ["<strong>", "</strong>"],
  ["<i>", "</i>"],
  ["<u>", "</u>"],
  ["<s>", "</s>"],
  ['<span class="tg-spoiler">', "</span>"],
  ["<tg-spoiler>", "</tg-spoiler>"],
  ['<a href="https://example.com/?q=1&amp;r=&quot;2&quot;">', "</a>"],
  ["<code>", "</code>"],
  ["<blockquote>", "</blockquote>"],
  ["<blockquote expandable>", "</blockquote>"],
];

const { html: telegramHtml } = fc.letrec((tie) => ({
  html: fc
    .array(tie("node"), { maxLength: 6, size: "max" })
    .map((nodes) => nodes.join("")),
  node: fc.oneof(
    { maxDepth: 4 },
    htmlText,
    fc
      .tuple(fc.constantFrom(...WRAPPERS), tie("html"))
      .map(([[open, close], inner]) => `${open}${inner}${close}`),
    htmlText.map((code) => `${TS_CODE_OPEN}${code}</code></pre>`),
    htmlText.map((code) => `<pre>${code}</pre>`),
  ),
}));

Deno.test("splitHtml() chunks of rendered Markdown fit, parse and keep the text", () => {
  fc.assert(
    fc.property(
      markdownDocument,
      fc.integer({ min: 50, max: 300 }),
      (markdown, maxLength) => {
        const html = renderMarkdown(markdown);
        const visibleChunks = assertValidChunks(
          html,
          splitHtml(html, { maxLength }),
          maxLength,
        );
        for (const visible of visibleChunks) {
          assert.doesNotMatch(visible, /^\s*\n|\n\s*$/);
        }
      },
    ),
    PROPERTY_RUNS,
  );
});

Deno.test("splitHtml() chunks of arbitrary Telegram HTML fit, parse and keep the text", () => {
  fc.assert(
    fc.property(
      telegramHtml,
      fc.integer({ min: 50, max: 300 }),
      (html, maxLength) => {
        assertValidChunks(html, splitHtml(html, { maxLength }), maxLength);
      },
    ),
    PROPERTY_RUNS,
  );
});

/** A long answer shaped like Claude's: prose, lists, tables and code, about 15,000 characters. */
function realisticAnswer(): string {
  const prose = (topic: string) =>
    `The **${topic}** step checks that \`a < b && c > d\` holds before it ` +
    `touches the cache, because a stale entry (see [the docs](https://example.com/docs/${topic})) ` +
    `would otherwise win. Values like <T> & "quoted" text must survive as typed.`;
  const sections = Array.from({ length: 8 }, (_, section) => {
    const topic = `phase-${section}`;
    return [
      `## ${section + 1}. Handling ${topic}`,
      prose(topic),
      [
        `- first, read the ${topic} input`,
        `- then validate it:`,
        `  - reject empty values`,
        `  - [x] normalise whitespace`,
      ].join("\n"),
      "```ts\n" +
      Array.from(
        { length: 12 },
        (_, line) =>
          `  const v${line} = check<${topic.length}>(input[${line}]);`,
      ).join("\n") +
      "\n```",
      "| key | value |\n|:----|------:|\n| retries | 3 |\n| timeout | 30s |",
      `> Note: ${topic} is idempotent.`,
    ].join("\n\n");
  });
  const longPython = "```python\n" +
    Array.from(
      { length: 140 },
      (_, line) =>
        `def step_${line}(items):  # keep a < b & c\n    return [i for i in items if i]`,
    ).join("\n") +
    "\n```";
  return [...sections.slice(0, 4), longPython, ...sections.slice(4)].join(
    "\n\n",
  );
}

Deno.test("splitHtml() splits a 15,000-character answer into full, valid messages", () => {
  const markdown = realisticAnswer();
  assert.ok(markdown.length >= 15_000, `only ${markdown.length} characters`);
  const html = renderMarkdown(markdown);
  const chunks = splitHtml(html);
  assert.ok(chunks.length >= 4);
  assertValidChunks(html, chunks, TELEGRAM_MESSAGE_LIMIT);
  for (const chunk of chunks.slice(0, -1)) {
    assert.ok(chunk.length >= TELEGRAM_MESSAGE_LIMIT / 2, `${chunk.length}`);
  }
  const pythonChunks = chunks.filter((chunk) => chunk.includes("def step_"));
  assert.ok(pythonChunks.length >= 2, "the long code block was not cut");
  for (const chunk of pythonChunks.slice(1)) {
    assert.ok(chunk.startsWith(PYTHON_CODE_OPEN), chunk.slice(0, 80));
  }
});
