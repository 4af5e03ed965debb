// Tests for setup_input.ts: a secret read from a (fake) raw terminal, and
// answers read line by line from a pipe.
import assert from "node:assert/strict";
import {
  pipedLineSource,
  type RawTerminal,
  secretLineSource,
  SetupCancelledError,
} from "../setup_input.ts";

/** A terminal that yields `chunks` one read at a time and records raw-mode switches. */
class FakeTerminal implements RawTerminal {
  readonly rawModes: boolean[] = [];
  readonly #chunks: Uint8Array[];

  constructor(...chunks: string[]) {
    this.#chunks = chunks.map((chunk) => new TextEncoder().encode(chunk));
  }

  setRaw(mode: boolean): void {
    this.rawModes.push(mode);
  }

  read(buffer: Uint8Array): Promise<number | null> {
    const chunk = this.#chunks.shift();
    if (chunk === undefined) return Promise.resolve(null);
    buffer.set(chunk);
    return Promise.resolve(chunk.length);
  }
}

Deno.test("secretLineSource() reads a line in raw mode, with backspace and Ctrl-U", async () => {
  const terminal = new FakeTerminal(
    "12x\x7f3",
    ":AA",
    "\x1b\x15",
    "123:ab\x08c\r",
    "rest\n",
  );
  const source = secretLineSource(terminal);

  assert.equal(await source.readLine(), "123:ac");
  assert.deepEqual(terminal.rawModes, [true, false]);
  assert.equal(await source.readLine(), "rest");
});

Deno.test("secretLineSource() ends at Ctrl-D on an empty line or the end of input", async () => {
  assert.equal(
    await secretLineSource(new FakeTerminal("\x04")).readLine(),
    undefined,
  );
  assert.equal(
    await secretLineSource(new FakeTerminal()).readLine(),
    undefined,
  );
  assert.equal(
    await secretLineSource(new FakeTerminal("abc")).readLine(),
    "abc",
  );
});

Deno.test("secretLineSource() throws SetupCancelledError on Ctrl-C and leaves raw mode", async () => {
  const terminal = new FakeTerminal("123\x03");

  await assert.rejects(
    secretLineSource(terminal).readLine(),
    SetupCancelledError,
  );
  assert.deepEqual(terminal.rawModes, [true, false]);
});

Deno.test("pipedLineSource() gives one line per call, then undefined", async () => {
  const source = pipedLineSource(
    ReadableStream.from(
      ["first\r\nsec", "ond\nlast"].map((text) =>
        new TextEncoder().encode(text)
      ),
    ),
  );

  assert.equal(await source.readLine(), "first");
  assert.equal(await source.readLine(), "second");
  assert.equal(await source.readLine(), "last");
  assert.equal(await source.readLine(), undefined);
});
