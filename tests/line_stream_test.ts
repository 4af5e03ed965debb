// Tests for line_stream.ts: line splitting across arbitrary chunk boundaries.

import assert from "node:assert/strict";
import fc from "fast-check";
import { TextLineStream } from "../line_stream.ts";

async function splitLines(chunks: string[]): Promise<string[]> {
  return await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new TextLineStream()),
  );
}

Deno.test("TextLineStream splits on \\n and \\r\\n", async () => {
  assert.deepEqual(await splitLines(["a\nb\r\nc\n"]), ["a", "b", "c"]);
});

Deno.test("TextLineStream emits a final line without a newline", async () => {
  assert.deepEqual(await splitLines(["a\nlast"]), ["a", "last"]);
});

Deno.test("TextLineStream keeps empty lines but adds none at the end", async () => {
  assert.deepEqual(await splitLines(["\n\na\n\n"]), ["", "", "a", ""]);
  assert.deepEqual(await splitLines([]), []);
});

Deno.test("TextLineStream joins a line split over chunks", async (t) => {
  await t.step("plain text", async () => {
    assert.deepEqual(await splitLines(["ab", "c", "d\ne", "f"]), [
      "abcd",
      "ef",
    ]);
  });
  await t.step("\\r and \\n in different chunks", async () => {
    assert.deepEqual(await splitLines(["a\r", "\nb"]), ["a", "b"]);
  });
  await t.step("UTF-8 split inside a character", async () => {
    const bytes = new TextEncoder().encode("три ✓\nok\n");
    const lines = await Array.fromAsync(
      ReadableStream.from([
        bytes.slice(0, 3),
        bytes.slice(3, 9),
        bytes.slice(9),
      ])
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new TextLineStream()),
    );
    assert.deepEqual(lines, ["три ✓", "ok"]);
  });
});

Deno.test("TextLineStream leaves a lone \\r inside a line", async () => {
  assert.deepEqual(await splitLines(["a\rb\n"]), ["a\rb"]);
});

Deno.test("TextLineStream returns the lines for any chunking", async () => {
  const line = fc.string({ unit: "grapheme" }).map((text) =>
    text.replace(/[\r\n]/g, "")
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(line),
      fc.constantFrom("\n", "\r\n"),
      fc.array(fc.nat()),
      async (lines, separator, cuts) => {
        const text = lines.map((text) => text + separator).join("");
        const offsets = [...new Set(cuts.map((cut) => cut % (text.length + 1)))]
          .sort((a, b) => a - b);
        const chunks = [0, ...offsets].map((start, i, all) =>
          text.slice(start, all[i + 1] ?? text.length)
        );
        assert.deepEqual(await splitLines(chunks), lines);
      },
    ),
  );
});
