// Counts down a session's idle time after Claude finishes a turn, on an
// injectable clock so tests never wait for real time.
import type { Clock } from "./clock.ts";

/** Fires `onIdle` once `timeoutMs` has passed since the last `start()` with no `stop()` in between. */
export class IdleTimer {
  #clock: Clock;
  #timeoutMs: number;
  #onIdle: () => void;
  #startedAt: number | undefined;
  #cancel: (() => void) | undefined;

  /**
   * @param options.clock time source to count on
   * @param options.timeoutMs idle time before `onIdle` fires
   * @param options.onIdle called once per countdown that runs out
   * @throws {RangeError} unless `timeoutMs` is a positive integer
   */
  constructor(
    options: { clock: Clock; timeoutMs: number; onIdle: () => void },
  ) {
    assertPositiveInteger(options.timeoutMs);
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#onIdle = options.onIdle;
  }

  /** Starts (or restarts) the countdown from now: called when Claude finishes a turn. */
  start(): void {
    this.#cancel?.();
    this.#startedAt = this.#clock.now();
    this.#schedule(this.#timeoutMs);
  }

  /** Cancels the countdown: called when a turn starts, on archive and on stop. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#startedAt = undefined;
  }

  /** True while a countdown is pending. */
  get isRunning(): boolean {
    return this.#startedAt !== undefined;
  }

  /** When the countdown started (clock ms), or undefined when stopped. */
  get startedAt(): number | undefined {
    return this.#startedAt;
  }

  /**
   * Changes the timeout at once: a pending countdown keeps its start and fires
   * at start + new timeout (immediately, asynchronously via `clock.after(0)`,
   * if that is already past).
   *
   * @throws {RangeError} unless `ms` is a positive integer
   */
  setTimeoutMs(ms: number): void {
    assertPositiveInteger(ms);
    this.#timeoutMs = ms;
    if (this.#startedAt === undefined) return;
    this.#cancel?.();
    const elapsedMs = this.#clock.now() - this.#startedAt;
    this.#schedule(Math.max(0, ms - elapsedMs));
  }

  /** Idle time before `onIdle` fires, in ms. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  #schedule(delayMs: number): void {
    this.#cancel = this.#clock.after(delayMs, () => {
      // Cleared before the callback so `onIdle` may start a new countdown.
      this.#cancel = undefined;
      this.#startedAt = undefined;
      this.#onIdle();
    });
  }
}

function assertPositiveInteger(ms: number): void {
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new RangeError(
      `Cannot set idle timeout to "${ms}" ms: must be a positive integer`,
    );
  }
}
