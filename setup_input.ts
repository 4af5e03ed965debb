// The set-up wizard's answers: a secret read from a terminal without echo,
// or lines from a pipe (which keeps the wizard scriptable and testable).
import { TextLineStream } from "./line_stream.ts";

/** Where the wizard reads its answers, one line at a time. */
export interface LineSource {
  /** The next line without its line ending; undefined at end of input. */
  readLine(): Promise<string | undefined>;
}

/** The user pressed Ctrl-C while the wizard read from the terminal. */
export class SetupCancelledError extends Error {
  override name = "SetupCancelledError";
  constructor() {
    super("Set-up cancelled");
  }
}

/** The part of `Deno.stdin` a secret needs. */
export interface RawTerminal {
  setRaw(mode: boolean): void;
  read(buffer: Uint8Array): Promise<number | null>;
}

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x08;
const DELETE = 0x7f;
const CTRL_U = 0x15;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Reads lines from a terminal in raw mode, so nothing typed or pasted is
 * echoed. Backspace and Ctrl-U edit, Enter ends the line, Ctrl-D on an
 * empty line ends the input, control bytes are dropped. The terminal is
 * back in normal mode whenever a read ends.
 * @throws {SetupCancelledError} from readLine on Ctrl-C (raw mode turns it
 *   into a byte instead of a signal)
 */
export function secretLineSource(terminal: RawTerminal): LineSource {
  return {
    async readLine() {
      terminal.setRaw(true);
      try {
        return await readSecret(terminal);
      } finally {
        terminal.setRaw(false);
      }
    },
  };
}

async function readSecret(terminal: RawTerminal): Promise<string | undefined> {
  const typed: number[] = [];
  const buffer = new Uint8Array(1024);
  while (true) {
    const count = await terminal.read(buffer);
    if (count === null) {
      return typed.length > 0 ? String.fromCharCode(...typed) : undefined;
    }
    // Bytes after Enter in the same chunk (a pasted trailing newline) are
    // dropped with the chunk: the wizard asks one question at a time.
    for (const byte of buffer.subarray(0, count)) {
      if (byte === CTRL_C) throw new SetupCancelledError();
      if (byte === CTRL_D && typed.length === 0) return undefined;
      if (byte === CARRIAGE_RETURN || byte === LINE_FEED) {
        return String.fromCharCode(...typed);
      }
      if (byte === BACKSPACE || byte === DELETE) typed.pop();
      else if (byte === CTRL_U) typed.length = 0;
      // A token is printable ASCII; escape sequences and the like are noise.
      else if (byte > 0x20 && byte < DELETE) typed.push(byte);
    }
  }
}

/** Reads lines from a pipe: the first answer is the first line, and so on. */
export function pipedLineSource(
  readable: ReadableStream<Uint8Array>,
): LineSource {
  const lines = readable
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream())
    .getReader();
  return {
    async readLine() {
      const { value, done } = await lines.read();
      return done ? undefined : value;
    },
  };
}
