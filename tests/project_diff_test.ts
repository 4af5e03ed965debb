// diffReport: the /diff message for clean, small and large changes, within
// Telegram's message size, and the patch attached only when it must be.
import assert from "node:assert/strict";
import type { DiffSummary } from "../git_diff.ts";
import { diffReport } from "../project_diff.ts";
import { parseTelegramHtml } from "./fakes/telegram_html.ts";

const TITLE = "<b>api</b>";

function summary(overrides: Partial<DiffSummary>): DiffSummary {
  return { changed: [], untracked: [], patch: "", ...overrides };
}

Deno.test("diffReport() says a clean tree is clean", () => {
  assert.deepEqual(diffReport(summary({}), { title: TITLE }), {
    html: "No changes in <b>api</b> against HEAD: the working tree is clean.",
  });
});

Deno.test("diffReport() lists counts, binaries and untracked files, with a small patch inline", () => {
  const patch = "diff --git a/a.ts b/a.ts\n-old <x>\n+new & y\n";
  const { html, patch: attached } = diffReport(
    summary({
      changed: [{ path: "a.ts", added: 1, deleted: 1 }, { path: "logo.png" }],
      untracked: ["notes <1>.txt"],
      patch,
    }),
    { title: TITLE },
  );
  assert.equal(attached, undefined);
  assert.equal(
    parseTelegramHtml(html),
    [
      "Changes in api against HEAD:",
      "• a.ts +1 −1",
      "• logo.png binary",
      "Untracked (not in the patch):",
      "• notes <1>.txt",
      patch,
    ].join("\n"),
  );
});

Deno.test("diffReport() attaches a patch too long for the message", () => {
  const patch = "+x\n".repeat(3000);
  const { html, patch: attached } = diffReport(
    summary({ changed: [{ path: "a.ts", added: 3000, deleted: 0 }], patch }),
    { title: TITLE },
  );
  assert.equal(attached, patch);
  assert.match(html, /The full patch is in changes\.diff\.$/);
  assert.ok(!html.includes("+x"));
});

Deno.test("diffReport() cuts long file lists to fit a message and attaches the patch", () => {
  const changed = Array.from({ length: 500 }, (_, i) => ({
    path: `src/module_${i}/${"deep/".repeat(10)}file.ts`,
    added: 1,
    deleted: 0,
  }));
  const untracked = Array.from({ length: 500 }, (_, i) => `new_${i}.txt`);
  const { html, patch } = diffReport(
    summary({ changed, untracked, patch: "+a\n" }),
    { title: TITLE },
  );
  const text = parseTelegramHtml(html);
  assert.ok(text.length <= 4096, `${text.length} characters`);
  assert.match(text, /… and \d+ more file\(s\)\./);
  assert.match(text, /… and \d+ more\./);
  assert.equal(patch, "+a\n", "the patch has what the list left out");
});
