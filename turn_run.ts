// The path of one message through its session: wait for its ticket, begin
// the turn (resuming the process), hand Claude the message, relay Claude's
// updates, end the turn; a conversation that cannot be resumed is tried
// once more afresh. The session supplies each step, run under its lock.
import type { SessionProcess } from "./session_process.ts";
import type {
  AttemptOutcome,
  TurnAttempt,
  TurnInput,
  TurnOutcome,
  TurnUpdate,
  TurnUpdates,
} from "./turn.ts";
import type { Ticket } from "./turn_queue.ts";

/** A turn that has begun: the session is busy with it. */
export interface BegunTurn {
  turn: TurnAttempt;
  process: SessionProcess;
  /** Set when a suspended session resumes: how long it was idle. */
  idleMs?: number;
}

/** A session's transitions for one turn, each run under the session's lock. */
export interface TurnSteps {
  /** Resumes or starts the process and marks the session busy, or says why not. */
  begin(ticket: Ticket): Promise<BegunTurn | TurnOutcome>;
  /** Busy → live; `isDelivered`: Claude got the message (an abandoned turn stops it). */
  end(
    turn: TurnAttempt,
    outcome: AttemptOutcome,
    isDelivered: boolean,
  ): Promise<void>;
  /** Claude named the conversation (its `init`). */
  noteConversation(sessionId: string): Promise<void>;
  /** The stored conversation could not be resumed: forget it. */
  forgetConversation(): Promise<void>;
}

/**
 * One message's turn as the updates the chat side pulls; the last is `done`,
 * once. The ticket ends however the turn ends, so the next one can come.
 */
export async function* runTurn(
  steps: TurnSteps,
  ticket: Ticket,
  input: TurnInput,
): TurnUpdates {
  let outcome: TurnOutcome = { kind: "cancelled" };
  let endTurn: (() => Promise<void>) | undefined;
  try {
    await ticket.turnComes;
    for (let attempt = 0; attempt < 2; attempt++) {
      const attempted = yield* runAttempt(steps, ticket, input);
      if (attempted.outcome.kind !== "stale_resume") {
        outcome = attempted.outcome;
        endTurn = attempted.end;
        break;
      }
      await attempted.end?.();
      await steps.forgetConversation();
      yield { type: "history_lost" };
    }
    // The chat hears the end first: the answer need not wait for the
    // session's transition and its record write, and once the session shows
    // idle its reply already knows. The next turn still waits for both.
    yield { type: "done", outcome };
  } finally {
    await endTurn?.();
    ticket.end();
  }
}

/**
 * One try: begin, hand Claude the message, relay the turn. A turn that ran to
 * its end is returned with its `end` step for the caller to take after
 * telling the chat; one given up midway is ended here.
 */
async function* runAttempt(
  steps: TurnSteps,
  ticket: Ticket,
  input: TurnInput,
): AsyncGenerator<
  TurnUpdate,
  { outcome: AttemptOutcome; end?: () => Promise<void> }
> {
  const begun = await steps.begin(ticket);
  if (!("turn" in begun)) return { outcome: begun };
  const { turn, process, idleMs } = begun;
  let outcome: AttemptOutcome | undefined;
  let isDelivered = false;
  try {
    if (idleMs !== undefined) yield { type: "resuming", idleMs };
    // The consumer records "starting" (the journal's "running") before it
    // pulls again; only then does Claude get the message.
    yield { type: "starting" };
    isDelivered = true;
    await process.deliver(input);
    outcome = yield* relay(steps, turn);
  } finally {
    if (outcome === undefined) {
      await steps.end(turn, { kind: "cancelled" }, isDelivered);
    }
  }
  const finalOutcome = outcome;
  return {
    outcome: finalOutcome,
    end: () => steps.end(turn, finalOutcome, isDelivered),
  };
}

/** Passes the turn's updates on; `init` (the conversation id) stays with the session. */
async function* relay(
  steps: TurnSteps,
  turn: TurnAttempt,
): AsyncGenerator<TurnUpdate, AttemptOutcome> {
  const updates = turn.run();
  while (true) {
    const next = await updates.next();
    if (next.done) return next.value;
    const update = next.value;
    if (update.type === "event" && update.event.type === "init") {
      await steps.noteConversation(update.event.sessionId);
    } else yield update;
  }
}
