// Tests for render.ts: each Markdown construct, plus property tests that any
// input renders to HTML Telegram accepts without losing the text.

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  escapeHtml,
  htmlToPlainText,
  markdownBlocks,
  renderMarkdown,
} from "../render.ts";
import { parseTelegramHtml } from "./fakes/telegram_html.ts";

const PROPERTY_RUNS = { numRuns: 200, seed: 20_260_126 };

/** Markdown pieces that stress the renderer when glued together at random. */
const ADVERSARIAL_FRAGMENTS = [
  "```",
  "```ts\n",
  "```c++ title=x\n",
  "~~~\n",
  "    indented\n",
  "**",
  "*",
  "_",
  "__",
  "~~",
  "`",
  "<",
  ">",
  "&",
  "&amp;",
  "&#",
  "&copy;",
  "<b>",
  "</b>",
  "<div>\n",
  "<!-- c -->",
  "<br>",
  "\n",
  "\n\n",
  "\n\n\n\n",
  "# ",
  "###### ",
  "- ",
  "* ",
  "1. ",
  "10) ",
  "- [ ] ",
  "- [x] ",
  "  - ",
  "> ",
  "> > ",
  "---\n",
  "| a | b |\n|---|:-:|\n| 1 | 2 |\n",
  "|",
  "[",
  "](",
  ")",
  '](http://x.y/?a=1&b="2")',
  "](javascript:alert(1))",
  "![",
  "<https://example.com>",
  "www.example.com",
  "a@b.co",
  "\\",
  "\\*",
  "😀",
  "👨‍👩‍👧",
  "中文字",
  "é",
  "\t",
  "  \n",
  "[ref]: http://x\n",
];

const adversarialMarkdown = fc
  .array(
    fc.oneof(
      { arbitrary: fc.constantFrom(...ADVERSARIAL_FRAGMENTS), weight: 6 },
      { arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }), weight: 3 },
      {
        arbitrary: fc.string({
          unit: "grapheme-ascii",
          minLength: 300,
          maxLength: 3000,
          size: "max",
        }),
        weight: 1,
      },
    ),
    // fast-check keeps sizes "small" (about 10) unless told otherwise.
    { maxLength: 60, size: "max" },
  )
  .map((parts) => parts.join(""));

/** Characters that never form Markdown syntax, whatever their neighbours. */
const PLAIN_CHARS = [
  ..."abcdefghijklmnopqrstuvwxyzABCXYZ0123456789",
  ..." \n\t,;?'\"%$/&<",
  "中",
  "文",
  "😀",
  "é",
  "€",
];

const CODE_CHARS = [
  ..."abcxyzABC019 \t{}()[];=+-*/#_\\|!@$%^:,.?\"'",
  "<",
  ">",
  "&",
  "&amp;",
  "</code>",
  "中",
  "😀",
];

function withoutWhitespace(text: string): string {
  return text.replace(/\s+/g, "");
}

Deno.test("escapeHtml() escapes &, < and > only", () => {
  assert.equal(
    escapeHtml(`a < b && c > "d" 'e'`),
    `a &lt; b &amp;&amp; c &gt; "d" 'e'`,
  );
});

Deno.test("renderMarkdown() renders each construct", async (t) => {
  const cases: [name: string, markdown: string, html: string][] = [
    [
      "heading as a bold line",
      "# Title *x*\n\ntext",
      "<b>Title <i>x</i></b>\n\ntext",
    ],
    [
      "strong, em, del and code spans",
      "**b** *i* _j_ ~~s~~ `a<b`",
      "<b>b</b> <i>i</i> <i>j</i> <s>s</s> <code>a&lt;b</code>",
    ],
    [
      "nested emphasis",
      "***both*** **a *b* c**",
      "<i><b>both</b></i> <b>a <i>b</i> c</b>",
    ],
    [
      "fenced code with its language",
      "```ts\nconst a = 1 < 2 && b;\n```",
      '<pre><code class="language-ts">const a = 1 &lt; 2 &amp;&amp; b;</code></pre>',
    ],
    [
      "fenced code without a language",
      "```\nx\n```",
      "<pre><code>x</code></pre>",
    ],
    [
      "a language reduced to safe characters",
      '```c++ title="x"\nx\n```\n\n```"><b>\ny\n```',
      '<pre><code class="language-c++">x</code></pre>\n\n<pre><code class="language-b">y</code></pre>',
    ],
    [
      "indented code",
      "text\n\n    let x;\n",
      "text\n\n<pre><code>let x;</code></pre>",
    ],
    [
      "an unclosed fence, keeping its contents",
      "before\n\n```py\nprint(1 < 2)\n\n",
      'before\n\n<pre><code class="language-py">print(1 &lt; 2)</code></pre>',
    ],
    [
      "http, mailto and tg links, href quote-escaped",
      '[a](https://x.y/?q="1"&r=2) [m](mailto:me@x.y) [t](tg://resolve?domain=x)',
      '<a href="https://x.y/?q=&quot;1&quot;&amp;r=2">a</a> ' +
      '<a href="mailto:me@x.y">m</a> <a href="tg://resolve?domain=x">t</a>',
    ],
    [
      "other links as text with their URL",
      "[rel](/docs/a) [js](javascript:alert(1)) [same](same)",
      "rel (/docs/a) js (javascript:alert(1)) same",
    ],
    [
      "autolinks",
      "<https://a.b/c> and www.example.com",
      '<a href="https://a.b/c">https://a.b/c</a> and <a href="http://www.example.com">www.example.com</a>',
    ],
    [
      "images as links with their alt text",
      "![a *diagram*](https://x.y/d.png) ![](https://x.y/e.png)",
      '<a href="https://x.y/d.png">a diagram</a> <a href="https://x.y/e.png">https://x.y/e.png</a>',
    ],
    ["bullet lists", "- one\n- two", "• one\n• two"],
    [
      "numbered lists from their start",
      "3. three\n4. four",
      "3. three\n4. four",
    ],
    [
      "nested lists indented",
      "- a\n  - b\n    1. c\n- d",
      "• a\n  • b\n    1. c\n• d",
    ],
    ["task items", "- [ ] todo\n- [x] done", "☐ todo\n☑ done"],
    [
      "loose lists with blank lines between items",
      "- one\n\n- two",
      "• one\n\n• two",
    ],
    [
      "block quotes",
      "> quoted **text**\n> more",
      "<blockquote>quoted <b>text</b>\nmore</blockquote>",
    ],
    [
      "nested quotes flattened, as Telegram cannot nest them",
      "> outer\n> > inner",
      "<blockquote>outer\n\ninner</blockquote>",
    ],
    ["horizontal rules", "a\n\n---\n\nb", "a\n\n———\n\nb"],
    [
      "raw HTML as literal text",
      "<div>\n<b>x</b>\n</div>\n\nuse <T> & <br> here",
      "&lt;div&gt;\n&lt;b&gt;x&lt;/b&gt;\n&lt;/div&gt;\n\nuse &lt;T&gt; &amp; &lt;br&gt; here",
    ],
    [
      "literal <, > and & as typed",
      "if a < b && c > d then &amp; stays",
      "if a &lt; b &amp;&amp; c &gt; d then &amp;amp; stays",
    ],
    ["backslash escapes", "\\*not em\\* \\<x\\>", "*not em* &lt;x&gt;"],
    ["hard line breaks", "one  \ntwo\\\nthree", "one\ntwo\nthree"],
    [
      "paragraphs separated by one blank line",
      "one\n\n\n\n\ntwo\n",
      "one\n\ntwo",
    ],
    [
      "link reference definitions dropped",
      "[x][r]\n\n[r]: https://r.s",
      '<a href="https://r.s">x</a>',
    ],
  ];
  for (const [name, markdown, html] of cases) {
    await t.step(name, () => assert.equal(renderMarkdown(markdown), html));
  }
});

Deno.test("renderMarkdown() lays tables out as aligned monospace text", () => {
  const markdown = [
    "| Name | Qty | Note |",
    "|:-----|----:|:----:|",
    "| **apple** | 3 | a<b |",
    "| 中文 | 12 | `x` |",
  ].join("\n");
  assert.equal(
    renderMarkdown(markdown),
    "<pre>" +
      [
        "Name  | Qty | Note",
        "------+-----+-----",
        "apple |   3 | a&lt;b",
        "中文  |  12 |  x",
      ].join("\n") +
      "</pre>",
  );
});

Deno.test("renderMarkdown() keeps blank lines short and the end trimmed", () => {
  const html = renderMarkdown(
    "a\n\n\n\n```\nx\n\n\n\ny\n\n\n```\n\n\n- b  \n\n",
  );
  assert.equal(html, "a\n\n<pre><code>x\n\ny</code></pre>\n\n• b");
});

Deno.test("renderMarkdown() of empty or blank input is empty", () => {
  assert.equal(renderMarkdown(""), "");
  assert.equal(renderMarkdown(" \n\n\t\n"), "");
});

Deno.test("renderMarkdown() output always parses as Telegram HTML", () => {
  fc.assert(
    fc.property(adversarialMarkdown, (markdown) => {
      const html = renderMarkdown(markdown);
      parseTelegramHtml(html);
      assert.doesNotMatch(html, /\n{3}/);
      assert.equal(html, html.trimEnd());
    }),
    PROPERTY_RUNS,
  );
});

Deno.test("renderMarkdown() keeps every character of plain text", () => {
  const plainText = fc.string({
    unit: fc.constantFrom(...PLAIN_CHARS),
    maxLength: 400,
    size: "max",
  });
  fc.assert(
    fc.property(plainText, (text) => {
      const visible = parseTelegramHtml(renderMarkdown(text));
      assert.equal(withoutWhitespace(visible), withoutWhitespace(text));
    }),
    PROPERTY_RUNS,
  );
});

Deno.test("renderMarkdown() keeps code block contents exactly", () => {
  const codeLines = fc
    .array(
      fc.string({
        unit: fc.constantFrom(...CODE_CHARS),
        maxLength: 40,
        size: "max",
      }),
      { minLength: 1, maxLength: 12, size: "max" },
    )
    .map((lines) => lines.join("\n"))
    // Blank-line runs collapse and trailing blank lines are trimmed by design.
    .filter((code) => !code.includes("\n\n\n") && !code.endsWith("\n"));
  const language = fc.stringMatching(/^[a-z][a-z0-9+#]{0,9}$/);
  fc.assert(
    fc.property(codeLines, language, (code, lang) => {
      const html = renderMarkdown("```" + lang + "\n" + code + "\n```");
      assert.ok(html.startsWith(`<pre><code class="language-${lang}">`));
      assert.equal(parseTelegramHtml(html), code);
    }),
    PROPERTY_RUNS,
  );
});

Deno.test("htmlToPlainText() shows what Telegram would display", async (t) => {
  await t.step("drops tags and decodes entities", () => {
    assert.equal(
      htmlToPlainText(
        '<b>a &lt; b</b> <a href="https://x.y/?a=1&amp;b=&quot;2&quot;">l&amp;k</a>' +
          ' <pre><code class="language-ts">&quot;q&quot; &#128512; &#x41;</code></pre>',
      ),
      'a < b l&k "q" 😀 A',
    );
  });
  await t.step("agrees with Telegram's parser on rendered Markdown", () => {
    fc.assert(
      fc.property(adversarialMarkdown, (markdown) => {
        const html = renderMarkdown(markdown);
        assert.equal(htmlToPlainText(html), parseTelegramHtml(html));
      }),
      PROPERTY_RUNS,
    );
  });
});

// The fake is the oracle for every test above, so check it refuses what
// Telegram refuses and accepts what it accepts.
Deno.test("parseTelegramHtml() mimics Telegram's parser", async (t) => {
  await t.step("returns the visible text of valid HTML", () => {
    assert.equal(
      parseTelegramHtml(
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins>" +
          '<s>s</s><strike>k</strike><del>d</del><span class="tg-spoiler">p</span>' +
          '<tg-spoiler>t</tg-spoiler><a href="https://x.y/?a=1&amp;b=2">a</a>' +
          '<code>c</code><pre><code class="language-ts">x &gt; y</code></pre>' +
          "<blockquote expandable>q</blockquote>" +
          '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>' +
          " &lt;&gt;&amp;&quot;&#65;&#x42; >",
      ),
      'bsieunskdptacx > yq👍 <>&"AB >',
    );
  });
  const refused: [name: string, html: string, message: RegExp][] = [
    ["unknown tags", "<p>x</p>", /Unsupported start tag "p" at byte offset 0/],
    [
      "unclosed tags",
      "<b>x",
      /Can't find end tag corresponding to start tag "b"/,
    ],
    [
      "misnested tags",
      "<b><i>x</b></i>",
      /Unmatched end tag at byte offset 7, expected "<\/i>", found "<\/b>"/,
    ],
    ["stray end tags", "x</b>", /Unexpected end tag at byte offset 1/],
    ["a stray <", "a < b", /byte offset 2/],
    ["a stray &", "a & b", /byte offset 2/],
    ["unknown named entities", "&copy;", /byte offset 0/],
    ["invalid numeric entities", "&#xD800;", /byte offset 0/],
    ["unterminated tags", '<a href="x>y</a>', /Unclosed start tag/],
    [
      "unknown attributes on a",
      '<a title="t">x</a>',
      /Unsupported attribute "title"/,
    ],
    [
      "attributes on plain tags",
      '<b class="x">x</b>',
      /Unsupported attribute "class"/,
    ],
    [
      "span without tg-spoiler",
      "<span>x</span>",
      /must have class "tg-spoiler"/,
    ],
    [
      "code classes other than language-",
      '<pre><code class="x">y</code></pre>',
      /class "x"/,
    ],
    [
      "code with a language outside pre",
      '<code class="language-ts">x</code>',
      /inside "pre"/,
    ],
    ["tg-emoji without emoji-id", "<tg-emoji>x</tg-emoji>", /emoji identifier/],
    ["byte offsets in UTF-8", "中<p>", /byte offset 3/],
  ];
  for (const [name, html, message] of refused) {
    await t.step(`refuses ${name}`, () => {
      assert.throws(() => parseTelegramHtml(html), (error: unknown) => {
        assert.ok(error instanceof SyntaxError);
        assert.match(error.message, /^Can't parse entities: /);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("markdownBlocks() cuts Markdown into top-level blocks that render as the whole does", () => {
  const markdown = [
    "## Title",
    "A paragraph with **bold**\nand a second line.",
    "- one\n- two",
    "```ts\nlet a = 1;\n\nlet b = 2;\n```",
    "| a | b |\n| --- | --- |\n| 1 | 2 |",
  ].join("\n\n");
  const blocks = markdownBlocks(markdown);
  assert.equal(blocks.map((block) => block.raw).join(""), markdown);
  assert.equal(
    blocks.map((block) => block.html).filter(Boolean).join("\n\n"),
    renderMarkdown(markdown),
  );
  // A cut between two blocks renders as its two halves do.
  const cut = blocks.slice(0, 4).map((block) => block.raw).join("");
  assert.equal(
    `${renderMarkdown(cut)}\n\n${renderMarkdown(markdown.slice(cut.length))}`,
    renderMarkdown(markdown),
  );
  assert.deepEqual(markdownBlocks(""), []);
});
