// Queues Bot API calls per chat and paces them under Telegram's flood limits:
// about one message a second per chat, 20 a minute per group (its forum
// topics together), 30 a second per bot. Answers go before previews.

import type { Clock } from "./clock.ts";
import {
  budgetOf,
  type CallKind,
  type ChatLimits,
  isGroupChat,
  LanePacer,
} from "./pacing.ts";

/** Dependencies and limits of an {@linkcode Outbox}. */
export interface OutboxOptions {
  /** Time source for pacing; tests pass a manual clock. */
  clock: Clock;
  /**
   * Minimum spacing of message calls in one chat (default 1100). 0 turns off
   * every per-chat limit: drafts and groups included.
   */
  perChatIntervalMs?: number;
  /**
   * Calls per second across all chats (default 25, under Telegram's 30).
   * Previews, drafts and typing may use four fifths of it.
   */
  globalPerSecond?: number;
  /** Minimum spacing of drafts in one chat (default 300, as other bots stream). */
  draftIntervalMs?: number;
  /** Message calls, edits included, per minute in one group (default 20). */
  groupPerMinute?: number;
}

/** How a call is queued. */
export interface EnqueueOptions {
  /**
   * A queued call of the same chat with this key, not started yet, is
   * replaced by this one (its promise resolves to undefined): edits of one
   * message coalesce, so only the newest text is sent.
   */
  replaceKey?: string;
  /** Default "answer". */
  kind?: CallKind;
}

interface QueuedCall {
  readonly chatKey: string;
  readonly kind: CallKind;
  readonly replaceKey: string | undefined;
  readonly call: () => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

/** The calls of one chat that share one budget; one runs at a time. */
interface Lane {
  readonly pacer: LanePacer;
  queue: QueuedCall[];
  isRunning: boolean;
}

// Telegram allows about one message per second per chat; a 10 % margin keeps
// network jitter from turning a paced call into a 429 (measured: 1000 ms gave
// occasional 429s against a strict 1/s limiter, 1100 ms none).
const DEFAULT_PER_CHAT_INTERVAL_MS = 1100;
const DEFAULT_GLOBAL_PER_SECOND = 25;
const DEFAULT_DRAFT_INTERVAL_MS = 300;
// Telegram's FAQ: 20 messages a minute per group; tdlib's maintainer adds
// that edits share that limit (tdlib/td#2592, #3034).
const DEFAULT_GROUP_PER_MINUTE = 20;
const GLOBAL_WINDOW_MS = 1000;

/** Serialises and paces Bot API calls per chat, answers first. */
export class Outbox {
  #clock: Clock;
  #limits: ChatLimits;
  #globalPerSecond: number;
  // Lanes stay while queued, running or pacing; map order (first enqueue)
  // breaks ties between lanes served equally recently.
  #lanes = new Map<string, Lane>();
  // Start times within the last GLOBAL_WINDOW_MS, oldest first.
  #recentStartsMs: number[] = [];
  #pending = 0;
  #idleWaiters: Array<() => void> = [];
  #cancelWake: (() => void) | undefined;

  /**
   * Creates an empty outbox; no timer runs until a call waits for its turn.
   *
   * @throws {RangeError} if an interval is negative or not finite, or a
   * rate is not positive
   */
  constructor(options: OutboxOptions) {
    this.#clock = options.clock;
    this.#limits = {
      perChatIntervalMs: interval(
        "perChatIntervalMs",
        options.perChatIntervalMs ?? DEFAULT_PER_CHAT_INTERVAL_MS,
      ),
      draftIntervalMs: interval(
        "draftIntervalMs",
        options.draftIntervalMs ?? DEFAULT_DRAFT_INTERVAL_MS,
      ),
      groupPerMinute: rate(
        "groupPerMinute",
        options.groupPerMinute ?? DEFAULT_GROUP_PER_MINUTE,
      ),
    };
    this.#globalPerSecond = rate(
      "globalPerSecond",
      options.globalPerSecond ?? DEFAULT_GLOBAL_PER_SECOND,
    );
  }

  /**
   * Queues a call for a chat. Calls of one chat and budget run one at a time;
   * answers run in order, before any preview queued with them. A failing call
   * rejects its own promise and never blocks later ones. A replacing call
   * takes the replaced one's place, or, of another kind, its own kind's.
   *
   * @param chatKey "chatId" or "chatId:threadId"; the topics of a group share
   *   its budget, and `42` and `"42"` name the same chat
   * @returns what `call` resolves to, or undefined if it was replaced or cancelled
   */
  enqueue<T>(
    chatKey: number | string,
    call: () => Promise<T>,
    options: EnqueueOptions = {},
  ): Promise<T | undefined> {
    const key = String(chatKey);
    const kind = options.kind ?? "answer";
    const lane = this.#laneOf(key, kind);
    const { promise, resolve, reject } = Promise.withResolvers<
      T | undefined
    >();
    const entry: QueuedCall = {
      chatKey: key,
      kind,
      replaceKey: options.replaceKey,
      call,
      resolve: resolve as (value: unknown) => void,
      reject,
    };
    const replaced = this.#find(lane, key, entry.replaceKey);
    if (replaced !== -1) {
      lane.queue[replaced].resolve(undefined);
      if (lane.queue[replaced].kind === kind) {
        lane.queue[replaced] = entry;
        return promise;
      }
      lane.queue.splice(replaced, 1);
      this.#pending--;
    }
    lane.queue.push(entry);
    this.#pending++;
    this.#pump();
    return promise;
  }

  /**
   * Drops a chat's queued call that has not started; its promise resolves
   * to undefined. Returns whether there was one.
   */
  cancel(chatKey: number | string, replaceKey: string): boolean {
    const key = String(chatKey);
    for (const kind of ["answer", "draft", "typing"] as const) {
      const lane = this.#lanes.get(laneKey(key, kind));
      const index = lane ? this.#find(lane, key, replaceKey) : -1;
      if (!lane || index === -1) continue;
      const [dropped] = lane.queue.splice(index, 1);
      dropped.resolve(undefined);
      this.#settled();
      this.#pump();
      return true;
    }
    return false;
  }

  /** Number of calls queued or running (all chats). */
  get pending(): number {
    return this.#pending;
  }

  /** Number of calls running now (all chats); the rest of `pending` waits for its turn. */
  get running(): number {
    let running = 0;
    for (const lane of this.#lanes.values()) if (lane.isRunning) running++;
    return running;
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #find(lane: Lane, chatKey: string, replaceKey: string | undefined): number {
    if (replaceKey === undefined) return -1;
    return lane.queue.findIndex((queued) =>
      queued.replaceKey === replaceKey && queued.chatKey === chatKey
    );
  }

  #laneOf(chatKey: string, kind: CallKind): Lane {
    const key = laneKey(chatKey, kind);
    let lane = this.#lanes.get(key);
    if (!lane) {
      const pacer = new LanePacer({
        budget: budgetOf(kind),
        isGroup: isGroupChat(chatKey),
        limits: this.#limits,
      }, this.#clock.now());
      lane = { pacer, queue: [], isRunning: false };
      this.#lanes.set(key, lane);
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
    const ready: { lane: Lane; index: number }[] = [];
    for (const [key, lane] of this.#lanes) {
      if (lane.isRunning) continue;
      if (lane.queue.length === 0) {
        if (lane.pacer.isSpent(nowMs)) this.#lanes.delete(key);
        continue;
      }
      const index = nextIndex(lane);
      if (lane.pacer.readyAtMs(lane.queue[index].kind, nowMs) <= nowMs) {
        ready.push({ lane, index });
      }
    }
    // Answers first; then the least recently served lane, which is
    // round-robin, with newcomers before chats already served. A lane that
    // starts a call runs until it settles, and settling pumps again.
    ready.sort((a, b) =>
      rank(a.lane.queue[a.index]) - rank(b.lane.queue[b.index]) ||
      byLeastRecentCall(a.lane, b.lane)
    );
    for (const { lane, index } of ready) {
      const kind = lane.queue[index].kind;
      if (this.#globalFreeAtMs(kind) > nowMs) continue;
      this.#start(lane, index, nowMs);
    }
    this.#scheduleWake(nowMs);
  }

  /** When the bot-wide budget has room for a call of `kind`. */
  #globalFreeAtMs(kind: CallKind): number {
    // Best-effort calls leave a fifth of the budget to answers.
    const limit = kind === "answer" ? this.#globalPerSecond : Math.max(
      1,
      this.#globalPerSecond - Math.floor(this.#globalPerSecond / 5),
    );
    const starts = this.#recentStartsMs;
    if (starts.length < limit) return -Infinity;
    return starts[starts.length - limit] + GLOBAL_WINDOW_MS;
  }

  #start(lane: Lane, index: number, nowMs: number): void {
    const [queued] = lane.queue.splice(index, 1);
    lane.isRunning = true;
    this.#recentStartsMs.push(nowMs);
    const onSettled = lane.pacer.start(queued.kind, nowMs);
    // The executor turns a synchronous throw into a rejection.
    new Promise((resolve) => resolve(queued.call()))
      .then(queued.resolve, queued.reject)
      .finally(() => {
        lane.isRunning = false;
        onSettled(this.#clock.now());
        this.#settled();
        this.#pump();
      });
  }

  #settled(): void {
    this.#pending--;
    if (this.#pending === 0) {
      for (const resolveIdle of this.#idleWaiters.splice(0)) resolveIdle();
    }
  }

  /** Arms one timer for the earliest moment a waiting call may start. */
  #scheduleWake(nowMs: number): void {
    this.#cancelWake?.();
    this.#cancelWake = undefined;
    let wakeMs = Infinity;
    for (const lane of this.#lanes.values()) {
      if (lane.queue.length === 0 || lane.isRunning) continue;
      const kind = lane.queue[nextIndex(lane)].kind;
      wakeMs = Math.min(
        wakeMs,
        Math.max(
          lane.pacer.readyAtMs(kind, nowMs),
          this.#globalFreeAtMs(kind),
        ),
      );
    }
    // Nothing waits on time: running lanes pump when they settle.
    if (wakeMs === Infinity) return;
    this.#cancelWake = this.#clock.after(Math.max(0, wakeMs - nowMs), () => {
      this.#cancelWake = undefined;
      this.#pump();
    });
  }
}

function interval(name: string, ms: number): number {
  if (ms >= 0 && Number.isFinite(ms)) return ms;
  throw new RangeError(
    `Cannot create outbox: ${name} "${ms}" must be a finite number >= 0`,
  );
}

function rate(name: string, perPeriod: number): number {
  if (perPeriod > 0) return perPeriod;
  throw new RangeError(
    `Cannot create outbox: ${name} "${perPeriod}" must be > 0`,
  );
}

/** Lanes are per chat, not per topic: a group's topics share its limits. */
function laneKey(chatKey: string, kind: CallKind): string {
  return `${budgetOf(kind)}:${chatKey.split(":")[0]}`;
}

/** The call a lane runs next: its first answer, else its first call. */
function nextIndex(lane: Lane): number {
  const answer = lane.queue.findIndex((queued) => queued.kind === "answer");
  return answer === -1 ? 0 : answer;
}

function rank(queued: QueuedCall): number {
  return queued.kind === "answer" ? 0 : 1;
}

/** Sort order of lanes: least recently served first (never served: -Infinity). */
function byLeastRecentCall(a: Lane, b: Lane): number {
  const [aMs, bMs] = [a.pacer.lastCallMs, b.pacer.lastCallMs];
  // Not a subtraction: -Infinity - -Infinity is NaN.
  if (aMs === bMs) return 0;
  return aMs < bMs ? -1 : 1;
}
