// How tool calls read in the chat: verbose log lines, result excerpts and
// normal mode's status line.
import assert from "node:assert/strict";
import type { ClaudeEvent } from "../stream_json.ts";
import {
  toolLineHtml,
  toolResultHtml,
  toolStatus,
  toolSummary,
} from "../tool_lines.ts";

function use(name: string, input: Record<string, unknown>) {
  return { type: "tool_use", id: "t1", name, input } satisfies ClaudeEvent;
}

function result(content: string, isError = false) {
  return {
    type: "tool_result",
    toolUseId: "t1",
    content,
    isError,
  } satisfies ClaudeEvent;
}

Deno.test("toolSummary() picks the key argument of a call", async (t) => {
  await t.step("the Bash command, first line only", () => {
    assert.equal(toolSummary(use("Bash", { command: "npm test" })), "npm test");
    assert.equal(
      toolSummary(use("Bash", { command: "cat <<EOF\nx\nEOF" })),
      "cat <<EOF …",
    );
  });
  await t.step("a long path keeps its end", () => {
    const path = `/home/me/${"deep/".repeat(30)}main.ts`;
    const summary = toolSummary(use("Read", { file_path: path }));
    assert.equal(summary.length, 100);
    assert.ok(summary.startsWith("…") && summary.endsWith("/deep/main.ts"));
  });
  await t.step("the search pattern, or nothing", () => {
    assert.equal(toolSummary(use("Grep", { pattern: "TODO\\(" })), "TODO\\(");
    assert.equal(toolSummary(use("TodoWrite", { todos: [] })), "");
  });
});

Deno.test("toolLineHtml() escapes the tool name and argument", () => {
  assert.equal(
    toolLineHtml(use("Bash", { command: "a < b && c" })),
    "⚙️ <b>Bash</b> <code>a &lt; b &amp;&amp; c</code>",
  );
  assert.equal(toolLineHtml(use("TodoWrite", {})), "⚙️ <b>TodoWrite</b>");
});

Deno.test("toolResultHtml() quotes the first lines and marks the cut", async (t) => {
  await t.step("long output", () => {
    assert.equal(
      toolResultHtml(result("one\ntwo <b>\nthree\nfour\nfive\n")),
      "<blockquote>one\ntwo &lt;b&gt;\nthree\n… 2 more lines</blockquote>",
    );
  });
  await t.step("a long line is shortened", () => {
    const html = toolResultHtml(result("x".repeat(500)));
    assert.equal(html, `<blockquote>${"x".repeat(119)}…</blockquote>`);
  });
  await t.step("errors are marked, empty output is left out", () => {
    assert.equal(
      toolResultHtml(result("exit 1", true)),
      "<blockquote>❌ exit 1</blockquote>",
    );
    assert.equal(toolResultHtml(result(" \n\n")), "");
  });
});

Deno.test("toolStatus() says what is running in a few words", () => {
  assert.equal(
    toolStatus(use("Bash", { command: "npm test" })),
    "Running Bash: npm test…",
  );
  assert.equal(
    toolStatus(use("Edit", { file_path: "/srv/app/main.ts" })),
    "Editing main.ts…",
  );
  assert.equal(
    toolStatus(use("Read", { file_path: "/srv/app/README.md" })),
    "Reading README.md…",
  );
  assert.equal(
    toolStatus(use("Grep", { pattern: "retry_after" })),
    "Searching for retry_after…",
  );
  assert.equal(toolStatus(use("TodoWrite", {})), "Updating the to-do list…");
  assert.equal(toolStatus(use("mcp__x__y", {})), "Running mcp__x__y…");
});
