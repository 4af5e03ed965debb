// One turn of a session: what the user sent, the attempt that reads Claude's
// events until the turn's `result` (or the process's end), and the updates
// and single outcome the chat side consumes.
import type { Clock } from "./clock.ts";
import type { ClaudeEvent, ContentBlock } from "./stream_json.ts";
import type { ClaudeExit, ClaudeStartError } from "./subprocess.ts";

/** How much of a turn the chat shows. */
export type OutputMode = "verbose" | "normal" | "quiet";

/** What the user sent for one turn. */
export interface TurnInput {
  text: string;
  images?: { mediaType: string; base64: string }[];
}

type ResultEvent = Extract<ClaudeEvent, { type: "result" }>;

/** The end of a turn. */
export type TurnOutcome =
  | { kind: "completed"; event: ResultEvent; costUsd: number }
  | { kind: "interrupted" }
  | { kind: "crashed"; exit: ClaudeExit }
  | { kind: "start_failed"; error: ClaudeStartError }
  | { kind: "cancelled" };

/** Everything the chat side learns about a turn, in order; `done` comes last, once. */
export type TurnUpdate =
  /**
   * The message is about to reach Claude. The session writes it only once
   * the consumer asks for the next update, so whatever the consumer records
   * on this update (the journal's "running") is on disk before Claude acts.
   */
  | { type: "starting" }
  | { type: "resuming"; idleMs: number }
  | { type: "history_lost" }
  | { type: "event"; event: ClaudeEvent }
  /** Claude has been silent this long in a running turn. */
  | { type: "stalled"; silentMs: number }
  | { type: "done"; outcome: TurnOutcome };

/** A turn's updates, pulled by the chat side; the turn runs as they are pulled. */
export type TurnUpdates = AsyncGenerator<TurnUpdate, void, undefined>;

/**
 * How one attempt at a turn ended: a TurnOutcome, or "stale_resume" when the
 * CLI could not resume the stored conversation (the turn is tried afresh).
 */
export type AttemptOutcome = TurnOutcome | { kind: "stale_resume" };

/** What an attempt reads from and knows about its process. */
export interface TurnAttemptOptions {
  /** The process's event stream (the session's one reader). */
  events: ReadableStreamDefaultReader<ClaudeEvent>;
  /** The process's exit, for the outcome of a turn its death ends. */
  exited: Promise<ClaudeExit>;
  clock: Clock;
  /** Silence after which the chat hears "stalled" (once per silence). */
  stallMs: number;
  /** The process's cumulative cost before this turn: results report totals. */
  costBaseUsd: number;
  /** The process was started with --resume and has not answered yet. */
  isResumeUnconfirmed: boolean;
}

const STALLED = Symbol("stalled");

/** One attempt at a turn on a live process; owned by its session. */
export class TurnAttempt {
  /** An interrupt was sent: an error result or an exit now means "interrupted". */
  isInterrupted = false;
  /** The process's cumulative cost after this turn's result. */
  totalCostUsd: number;
  #options: TurnAttemptOptions;

  constructor(options: TurnAttemptOptions) {
    this.#options = options;
    this.totalCostUsd = options.costBaseUsd;
  }

  /**
   * Claude's events up to and including the turn's end, as updates (the
   * `init` event included: the session reads the conversation id from it);
   * returns how the attempt ended. Never throws for Claude's behaviour.
   */
  async *run(): AsyncGenerator<TurnUpdate, AttemptOutcome> {
    const { events, clock, stallMs } = this.#options;
    let sawInit = false;
    let isSilenceReported = false;
    // One read at a time, kept across a stall notice: a second read() would
    // take the event after the one still on its way.
    let pending: Promise<ReadableStreamReadResult<ClaudeEvent>> | undefined;
    while (true) {
      pending ??= events.read();
      const next = isSilenceReported
        ? await pending
        : await raceStall(pending, clock, stallMs);
      if (next === STALLED) {
        isSilenceReported = true;
        yield { type: "stalled", silentMs: stallMs };
        continue;
      }
      pending = undefined;
      isSilenceReported = false;
      if (next.done) return await this.#endedByExit();
      const event = next.value;
      if (event.type === "result") return this.#endedByResult(event, sawInit);
      if (event.type === "init") sawInit = true;
      yield { type: "event", event };
    }
  }

  #endedByResult(event: ResultEvent, sawInit: boolean): AttemptOutcome {
    if (
      this.#options.isResumeUnconfirmed && !sawInit &&
      event.subtype === "error_during_execution"
    ) {
      return { kind: "stale_resume" };
    }
    const base = this.#options.costBaseUsd;
    this.totalCostUsd = event.totalCostUsd ?? base;
    const costUsd = Math.max(0, this.totalCostUsd - base);
    return this.isInterrupted && event.subtype === "error_during_execution"
      ? { kind: "interrupted" }
      : { kind: "completed", event, costUsd };
  }

  async #endedByExit(): Promise<AttemptOutcome> {
    const exit = await this.#options.exited;
    return this.isInterrupted
      ? { kind: "interrupted" }
      : { kind: "crashed", exit };
  }
}

/** The read's result, or STALLED when `ms` pass first. */
async function raceStall<T>(
  pending: Promise<T>,
  clock: Clock,
  ms: number,
): Promise<T | typeof STALLED> {
  let cancel: (() => void) | undefined;
  const stalled = new Promise<typeof STALLED>((resolve) => {
    cancel = clock.after(ms, () => resolve(STALLED));
  });
  try {
    return await Promise.race([pending, stalled]);
  } finally {
    cancel?.();
  }
}

/** The user message Claude gets: the text alone, or text and image blocks. */
export function turnContent(input: TurnInput): string | ContentBlock[] {
  if (!input.images?.length) return input.text;
  return [
    { type: "text", text: input.text },
    ...input.images.map((image) => ({
      type: "image" as const,
      source: {
        type: "base64" as const,
        media_type: image.mediaType,
        data: image.base64,
      },
    })),
  ];
}
