// One turn of a session: what the user sent, what the chat side hears while
// Claude works on it, and the record the session manager keeps of the turn
// in flight (its stall watch, interrupt flag and end).
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

/** The end of a turn. */
export type TurnOutcome =
  | {
    kind: "completed";
    event: Extract<ClaudeEvent, { type: "result" }>;
    costUsd: number;
  }
  | { kind: "interrupted" }
  | { kind: "crashed"; exit: ClaudeExit }
  | { kind: "start_failed"; error: ClaudeStartError }
  | { kind: "cancelled" };

/** Everything the chat side learns about a turn, in order. */
export type TurnUpdate =
  | { type: "resuming"; idleMs: number }
  | { type: "history_lost" }
  | { type: "event"; event: ClaudeEvent }
  /** Claude has been silent this long in a running turn. */
  | { type: "stalled"; silentMs: number }
  | { type: "done"; outcome: TurnOutcome };

/** Receives a turn's updates; implemented by the Telegram side. */
export interface TurnSink {
  update(update: TurnUpdate): void;
}

/** One message for a session, as intake.ts hands it over. */
export interface TurnRequest {
  /** The session that was active when the message arrived. */
  session: string;
  input: TurnInput;
  sink: TurnSink;
  /** Awaited just before the message reaches Claude (the journal marks it running). */
  beforeStart?: () => Promise<void>;
}

/**
 * How one attempt at a turn ended: a TurnOutcome, or "stale_resume" when the
 * CLI could not resume the stored conversation (the turn is tried afresh).
 */
export type AttemptOutcome = TurnOutcome | { kind: "stale_resume" };

/** A turn Claude is working on; owned by the session manager. */
export class ActiveTurn {
  /** Where the turn's updates go. */
  readonly sink: TurnSink;
  /** Settles with the attempt's end; never rejects. */
  readonly done: Promise<AttemptOutcome>;
  /** Claude printed `init` in this turn, so its --resume (if any) worked. */
  sawInit = false;
  /** An interrupt was sent: an error result or an exit now means "interrupted". */
  isInterrupted = false;
  #clock: Clock;
  #stallMs: number;
  #cancelStallWatch?: () => void;
  #resolve: (outcome: AttemptOutcome) => void;
  #isDone = false;

  /** @param options.stallMs silence after which the sink hears "stalled" */
  constructor(options: { sink: TurnSink; clock: Clock; stallMs: number }) {
    this.sink = options.sink;
    this.#clock = options.clock;
    this.#stallMs = options.stallMs;
    const { promise, resolve } = Promise.withResolvers<AttemptOutcome>();
    this.done = promise;
    this.#resolve = resolve;
  }

  /**
   * (Re)starts the countdown after which the silent turn is reported
   * stalled; called as the turn starts and whenever Claude prints something.
   */
  restartStallWatch(): void {
    if (this.#isDone) return;
    this.#cancelStallWatch?.();
    const silentMs = this.#stallMs;
    this.#cancelStallWatch = this.#clock.after(silentMs, () => {
      this.#cancelStallWatch = undefined;
      this.sink.update({ type: "stalled", silentMs });
    });
  }

  /** Cancels the stall watch. */
  stopStallWatch(): void {
    this.#cancelStallWatch?.();
  }

  /** Ends the attempt with `outcome`; only the first call counts. */
  finish(outcome: AttemptOutcome): void {
    if (this.#isDone) return;
    this.#isDone = true;
    this.stopStallWatch();
    this.#resolve(outcome);
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
