// A fake Clock for tests: time moves only when the test advances it.

import type { Clock } from "../../clock.ts";

interface Scheduled {
  atMs: number;
  fn: () => void;
}

/** A Clock whose time moves only when a test advances it. */
export class ManualClock implements Clock {
  #nowMs: number;
  // Kept in insertion order, so callbacks due at the same time run FIFO.
  #scheduled: Scheduled[] = [];

  /** @param startMs the initial time; defaults to 0 so test times read as offsets */
  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  /** The current virtual time in ms. */
  now(): number {
    return this.#nowMs;
  }

  /** Runs `fn` once `advance` reaches `ms` from now; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void {
    const entry = { atMs: this.#nowMs + Math.max(0, ms), fn };
    this.#scheduled.push(entry);
    return () => {
      this.#scheduled = this.#scheduled.filter((other) => other !== entry);
    };
  }

  /**
   * Moves time forward, running due callbacks in time order (a callback
   * scheduled during advance for a time within the window also runs).
   *
   * @throws {RangeError} if `ms` is negative
   */
  advance(ms: number): void {
    if (!(ms >= 0)) {
      throw new RangeError(`Cannot advance clock by "${ms}" ms: must be >= 0`);
    }
    const targetMs = this.#nowMs + ms;
    for (
      let next = this.#nextDue(targetMs);
      next;
      next = this.#nextDue(targetMs)
    ) {
      this.#scheduled = this.#scheduled.filter((other) => other !== next);
      this.#nowMs = next.atMs;
      next.fn();
    }
    this.#nowMs = targetMs;
  }

  /** Number of pending callbacks. */
  get pending(): number {
    return this.#scheduled.length;
  }

  #nextDue(targetMs: number): Scheduled | undefined {
    let earliest: Scheduled | undefined;
    for (const entry of this.#scheduled) {
      if (entry.atMs <= targetMs && (!earliest || entry.atMs < earliest.atMs)) {
        earliest = entry;
      }
    }
    return earliest;
  }
}
