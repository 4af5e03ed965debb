// Consumes a turn's updates the way the chat side does, recording them, so
// session tests can wait for a turn's facts instead of counting ticks.
import type { TurnOutcome, TurnUpdate, TurnUpdates } from "../../turn.ts";

/** Every update of one turn, pulled to the end in the background. */
export class TurnRecording {
  readonly updates: TurnUpdate[] = [];
  /** Settles with the turn's outcome once `done` arrived (rejects if the turn threw). */
  readonly done: Promise<TurnOutcome>;

  constructor(updates: TurnUpdates) {
    this.done = this.#consume(updates);
  }

  /** The text blocks Claude produced. */
  get texts(): string[] {
    return this.updates.flatMap((u) =>
      u.type === "event" && u.event.type === "text" ? [u.event.text] : []
    );
  }

  /** The outcome, once `done` arrived. */
  get outcome(): TurnOutcome | undefined {
    const done = this.updates.find((u) => u.type === "done");
    return done?.type === "done" ? done.outcome : undefined;
  }

  /** Updates of one type. */
  ofType<T extends TurnUpdate["type"]>(
    type: T,
  ): Extract<TurnUpdate, { type: T }>[] {
    return this.updates.filter((u): u is Extract<TurnUpdate, { type: T }> =>
      u.type === type
    );
  }

  async #consume(updates: TurnUpdates): Promise<TurnOutcome> {
    for await (const update of updates) this.updates.push(update);
    const outcome = this.outcome;
    if (!outcome) throw new Error("The turn ended without a done update");
    return outcome;
  }
}
