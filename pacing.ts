// Telegram's flood limits for one chat's budget: when its next call may go.
// The outbox keeps one pacer per chat and budget (messages, drafts, typing).

/**
 * What a call is: it decides the call's budget and its place in the queue.
 *
 * - `answer`: must arrive, in order: final answers, approval prompts, command
 *   replies, notices, and every new message. Goes before any queued preview of
 *   its chat and is never held for the preview cadence.
 * - `preview`: a best-effort edit of a message that is still streaming. Paced
 *   like answers in a private chat; in a group it draws on a smaller share of
 *   the group's minute, so answers and approvals keep their room.
 * - `draft`: sendMessageDraft, with a budget of its own at streaming cadence,
 *   so a draft (or a 429 on one) never delays a message.
 * - `typing`: sendChatAction; only the bot-wide budget applies.
 */
export type CallKind = "answer" | "preview" | "draft" | "typing";

/** Which budget a call draws on. */
export type Budget = "messages" | "drafts" | "typing";

/** The per-chat limits; `perChatIntervalMs` 0 turns them all off. */
export interface ChatLimits {
  /** Minimum spacing of message calls in one chat. */
  readonly perChatIntervalMs: number;
  /** Minimum spacing of drafts in one chat. */
  readonly draftIntervalMs: number;
  /** Message calls, edits included, per minute in one group. */
  readonly groupPerMinute: number;
}

// A minute, plus a margin: Telegram counts a call when it applies it, a
// little after the outbox starts it, so a slot freed exactly a minute after
// its start would still be taken there.
const GROUP_WINDOW_MS = 61_000;
/** A short answer in a group still streams at about one edit a second. */
const GROUP_PREVIEW_BURST = 4;

/** The budget a call of `kind` draws on. */
export function budgetOf(kind: CallKind): Budget {
  if (kind === "draft") return "drafts";
  return kind === "typing" ? "typing" : "messages";
}

/** Groups, supergroups and channels have negative ids; users positive ones. */
export function isGroupChat(chatKey: string): boolean {
  return /^-\d+$/.test(chatKey.split(":")[0]);
}

/**
 * The pace of one chat's budget. Messages: one per `perChatIntervalMs`,
 * and in a group at most `groupPerMinute` in any minute, of which previews
 * may use three quarters, drawn from a small burst that refills at their
 * share of the minute. Drafts: one per `draftIntervalMs`. Typing: no limit.
 */
export class LanePacer {
  /** When the last call started (or settled, if it outlasted the interval): pacing counts from here. */
  lastCallMs = -Infinity;
  readonly #budget: Budget;
  readonly #isGroup: boolean;
  readonly #limits: ChatLimits;
  /** Groups: when the message calls of the last minute went out, oldest first. */
  #minute: { atMs: number }[] = [];
  #previewTokens = GROUP_PREVIEW_BURST;
  #tokensAtMs: number;

  constructor(
    options: { budget: Budget; isGroup: boolean; limits: ChatLimits },
    nowMs: number,
  ) {
    this.#budget = options.budget;
    this.#isGroup = options.isGroup && options.budget === "messages";
    this.#limits = options.limits;
    this.#tokensAtMs = nowMs;
  }

  /** When the next call of `kind` may start. */
  readyAtMs(kind: CallKind, nowMs: number): number {
    const { perChatIntervalMs, draftIntervalMs } = this.#limits;
    if (perChatIntervalMs === 0 || this.#budget === "typing") return -Infinity;
    if (this.#budget === "drafts") return this.lastCallMs + draftIntervalMs;
    let atMs = this.lastCallMs + perChatIntervalMs;
    if (!this.#isGroup) return atMs;
    this.#forget(nowMs);
    const limit = kind === "answer"
      ? this.#limits.groupPerMinute
      : this.#previewLimit();
    if (this.#minute.length >= limit) {
      const oldest = this.#minute[this.#minute.length - limit];
      atMs = Math.max(atMs, oldest.atMs + GROUP_WINDOW_MS);
    }
    if (kind !== "answer") {
      const tokens = this.#tokens(nowMs);
      if (tokens < 1) {
        atMs = Math.max(atMs, nowMs + (1 - tokens) * this.#refillMs());
      }
    }
    return atMs;
  }

  /**
   * Records a call that starts now; call the returned function with the
   * time it settles.
   */
  start(kind: CallKind, nowMs: number): (settledMs: number) => void {
    this.lastCallMs = nowMs;
    const slot = { atMs: nowMs };
    if (this.#isGroup) {
      this.#minute.push(slot);
      if (kind !== "answer") {
        this.#previewTokens = this.#tokens(nowMs) - 1;
        this.#tokensAtMs = nowMs;
      }
    }
    return (settledMs) => {
      // A call that outlasted the interval (it waited out a 429 inside the
      // retry transformer, or the network was slow) paces the next one from
      // its end: following it at once would earn the next 429.
      if (settledMs - nowMs > this.#intervalMs()) {
        this.lastCallMs = settledMs;
        slot.atMs = settledMs;
      }
    };
  }

  /** Whether this pacer no longer limits anything (it can be dropped). */
  isSpent(nowMs: number): boolean {
    this.#forget(nowMs);
    return nowMs >= this.lastCallMs + this.#intervalMs() &&
      this.#minute.length === 0;
  }

  #intervalMs(): number {
    if (this.#budget === "typing") return 0;
    return this.#budget === "drafts"
      ? this.#limits.draftIntervalMs
      : this.#limits.perChatIntervalMs;
  }

  #forget(nowMs: number): void {
    while (
      this.#minute.length > 0 &&
      this.#minute[0].atMs <= nowMs - GROUP_WINDOW_MS
    ) {
      this.#minute.shift();
    }
  }

  /** Previews leave a quarter of the group's minute to answers. */
  #previewLimit(): number {
    const { groupPerMinute } = this.#limits;
    return Math.max(1, groupPerMinute - Math.ceil(groupPerMinute / 4));
  }

  #refillMs(): number {
    return GROUP_WINDOW_MS / this.#previewLimit();
  }

  #tokens(nowMs: number): number {
    const refilled = (nowMs - this.#tokensAtMs) / this.#refillMs();
    return Math.min(GROUP_PREVIEW_BURST, this.#previewTokens + refilled);
  }
}
