// Queues Bot API calls per chat and paces them under Telegram's flood limits
// (about one message per second per chat, 30 per second per bot).

import type { Clock } from "./clock.ts";

/** Dependencies and limits of an {@linkcode Outbox}. */
export interface OutboxOptions {
  /** Time source for pacing; tests pass a manual clock. */
  clock: Clock;
  /** Minimum spacing of calls in one chat (default 1100; 0 means no pacing). */
  perChatIntervalMs?: number;
  /** Calls per second across all chats (default 25, under Telegram's 30). */
  globalPerSecond?: number;
}

interface QueuedCall {
  call: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
  replaceKey: string | undefined;
}

interface ChatLane {
  queue: QueuedCall[];
  isRunning: boolean;
  /** When the lane's last call started (or settled, if it outlasted the interval): pacing counts from here. */
  lastCallMs: number;
}

// Telegram allows about one message per second per chat; a 10 % margin keeps
// network jitter from turning a paced call into a 429 (measured: 1000 ms gave
// occasional 429s against a strict 1/s limiter, 1100 ms none).
const DEFAULT_PER_CHAT_INTERVAL_MS = 1100;
const DEFAULT_GLOBAL_PER_SECOND = 25;
const GLOBAL_WINDOW_MS = 1000;

/** Serialises and paces Bot API calls per chat. */
export class Outbox {
  #clock: Clock;
  #perChatIntervalMs: number;
  #globalPerSecond: number;
  // Lanes stay while queued, running or inside their interval; map order
  // (first enqueue) breaks ties between lanes that started at the same time.
  #lanes = new Map<string, ChatLane>();
  // Start times within the last GLOBAL_WINDOW_MS, oldest first.
  #recentStartsMs: number[] = [];
  #pending = 0;
  #idleWaiters: Array<() => void> = [];
  #cancelWake: (() => void) | undefined;

  /**
   * Creates an empty outbox; no timer runs until a call waits for its turn.
   *
   * @throws {RangeError} if `perChatIntervalMs` is negative or not finite, or
   * `globalPerSecond` is not positive
   */
  constructor(options: OutboxOptions) {
    const perChatIntervalMs = options.perChatIntervalMs ??
      DEFAULT_PER_CHAT_INTERVAL_MS;
    const globalPerSecond = options.globalPerSecond ??
      DEFAULT_GLOBAL_PER_SECOND;
    if (!(perChatIntervalMs >= 0 && Number.isFinite(perChatIntervalMs))) {
      throw new RangeError(
        `Cannot create outbox: perChatIntervalMs "${perChatIntervalMs}" must be a finite number >= 0`,
      );
    }
    if (!(globalPerSecond > 0)) {
      throw new RangeError(
        `Cannot create outbox: globalPerSecond "${globalPerSecond}" must be > 0`,
      );
    }
    this.#clock = options.clock;
    this.#perChatIntervalMs = perChatIntervalMs;
    this.#globalPerSecond = globalPerSecond;
  }

  /**
   * Queues a call for a chat. Calls of one chat run in order, one at a time,
   * at most one per perChatIntervalMs, and all chats together stay under
   * globalPerSecond (fair: chats are served round-robin). With `replaceKey`,
   * a queued call that has not started yet with the same key is replaced by
   * this one and its promise resolves to undefined — used to coalesce edits
   * of one message so only the newest text is sent. A failing call rejects
   * its own promise and never blocks later ones.
   *
   * The replacing call takes the replaced one's place in the queue. Keys are
   * scoped to the chat.
   *
   * @param chatId `42` and `"42"` name the same chat
   * @returns what `call` resolves to, or undefined if it was replaced
   */
  enqueue<T>(
    chatId: number | string,
    call: () => Promise<T>,
    options: { replaceKey?: string } = {},
  ): Promise<T | undefined> {
    const lane = this.#laneOf(String(chatId));
    const { promise, resolve, reject } = Promise.withResolvers<
      T | undefined
    >();
    const entry: QueuedCall = {
      call,
      resolve: resolve as (value: unknown) => void,
      reject,
      replaceKey: options.replaceKey,
    };
    const replacedIndex = entry.replaceKey === undefined
      ? -1
      : lane.queue.findIndex((queued) =>
        queued.replaceKey === entry.replaceKey
      );
    if (replacedIndex !== -1) {
      lane.queue[replacedIndex].resolve(undefined);
      lane.queue[replacedIndex] = entry;
      return promise;
    }
    lane.queue.push(entry);
    this.#pending++;
    this.#pump();
    return promise;
  }

  /** Number of calls queued or running (all chats). */
  get pending(): number {
    return this.#pending;
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #laneOf(chatKey: string): ChatLane {
    let lane = this.#lanes.get(chatKey);
    if (!lane) {
      lane = { queue: [], isRunning: false, lastCallMs: -Infinity };
      this.#lanes.set(chatKey, lane);
    }
    return lane;
  }

  /** Starts every call that may start now, then sleeps until the next may. */
  #pump(): void {
    const nowMs = this.#clock.now();
    while (
      this.#recentStartsMs.length > 0 &&
      this.#recentStartsMs[0] <= nowMs - GLOBAL_WINDOW_MS
    ) {
      this.#recentStartsMs.shift();
    }
    // Serving the least recently started lane first is round-robin, and a
    // newcomer goes before chats already served. One pass is one turn: a lane
    // that starts a call runs until it settles, and settling pumps again.
    const lanes = [...this.#lanes].sort(([, a], [, b]) =>
      byLeastRecentCall(a, b)
    );
    for (const [chatKey, lane] of lanes) {
      const isPaced = nowMs < lane.lastCallMs + this.#perChatIntervalMs;
      if (lane.queue.length === 0) {
        if (!lane.isRunning && !isPaced) this.#lanes.delete(chatKey);
        continue;
      }
      if (lane.isRunning || isPaced) continue;
      if (this.#recentStartsMs.length >= this.#globalPerSecond) break;
      this.#start(lane, nowMs);
    }
    this.#scheduleWake(nowMs);
  }

  #start(lane: ChatLane, nowMs: number): void {
    const queued = lane.queue.shift()!;
    lane.isRunning = true;
    lane.lastCallMs = nowMs;
    this.#recentStartsMs.push(nowMs);
    // The executor turns a synchronous throw into a rejection.
    new Promise((resolve) => resolve(queued.call()))
      .then(queued.resolve, queued.reject)
      .finally(() => {
        lane.isRunning = false;
        // A call that outlasted the interval (it waited out a 429 inside the
        // retry transformer, or the network was slow) paces the next one
        // from its end: following it at once would earn the next 429.
        const settledMs = this.#clock.now();
        if (settledMs - nowMs > this.#perChatIntervalMs) {
          lane.lastCallMs = settledMs;
        }
        this.#pending--;
        if (this.#pending === 0) {
          for (const resolveIdle of this.#idleWaiters.splice(0)) resolveIdle();
        }
        this.#pump();
      });
  }

  /** Arms one timer for the earliest moment a waiting call may start. */
  #scheduleWake(nowMs: number): void {
    this.#cancelWake?.();
    this.#cancelWake = undefined;
    let wakeMs = Infinity;
    for (const lane of this.#lanes.values()) {
      if (lane.queue.length > 0 && !lane.isRunning) {
        wakeMs = Math.min(wakeMs, lane.lastCallMs + this.#perChatIntervalMs);
      }
    }
    // Nothing waits on time: running lanes pump when they settle.
    if (wakeMs === Infinity) return;
    if (this.#recentStartsMs.length >= this.#globalPerSecond) {
      wakeMs = Math.max(wakeMs, this.#recentStartsMs[0] + GLOBAL_WINDOW_MS);
    }
    this.#cancelWake = this.#clock.after(wakeMs - nowMs, () => {
      this.#cancelWake = undefined;
      this.#pump();
    });
  }
}

/** Sort order of lanes: least recently served first (never served: -Infinity). */
function byLeastRecentCall(a: ChatLane, b: ChatLane): number {
  // Not a subtraction: -Infinity - -Infinity is NaN.
  if (a.lastCallMs === b.lastCallMs) return 0;
  return a.lastCallMs < b.lastCallMs ? -1 : 1;
}
