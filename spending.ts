// The money policy of all sessions: the daily budget gate a turn passes
// before it starts, and the bookkeeping of a finished turn's cost.
import type { Clock } from "./clock.ts";
import { BudgetExceededError } from "./session_errors.ts";
import type { SessionRecord } from "./store.ts";
import { addDailyCost, costSince, nextDayStart } from "./usage.ts";

/** A finished turn's cost and context figures, as the result reported them. */
export interface TurnSpend {
  costUsd: number;
  /** Tokens of the turn and the model's context window, for context use. */
  usage?: {
    inputTokens: number;
    outputTokens: number;
    cacheReadInputTokens: number;
    cacheCreationInputTokens: number;
  };
  contextWindow?: number;
}

/** Gates turns on DAILY_BUDGET_USD and records what turns cost. */
export class SpendingPolicy {
  #clock: Clock;
  #dailyBudgetUsd?: number;
  #records: () => Iterable<SessionRecord>;

  /**
   * @param options.dailyBudgetUsd spending cap of all sessions per UTC day; undefined: none
   * @param options.records the live (not archived) sessions' records
   */
  constructor(options: {
    clock: Clock;
    dailyBudgetUsd?: number;
    records: () => Iterable<SessionRecord>;
  }) {
    this.#clock = options.clock;
    this.#dailyBudgetUsd = options.dailyBudgetUsd;
    this.#records = options.records;
  }

  /**
   * Lets a turn start, or refuses it when today's budget is spent.
   * @throws {BudgetExceededError}
   */
  assertCanStart(): void {
    const budgetUsd = this.#dailyBudgetUsd;
    if (budgetUsd === undefined) return;
    const nowMs = this.#clock.now();
    let spentUsd = 0;
    for (const record of this.#records()) {
      spentUsd += costSince(record.costByDay, { nowMs, days: 1 });
    }
    if (spentUsd >= budgetUsd) {
      throw new BudgetExceededError({
        spentUsd,
        budgetUsd,
        resetsAtMs: nextDayStart(nowMs),
      });
    }
  }

  /** Adds a completed turn's cost and context use to its session's record. */
  record(record: SessionRecord, spend: TurnSpend): void {
    record.turns++;
    record.lastTurnCostUsd = spend.costUsd;
    record.totalCostUsd += spend.costUsd;
    record.costByDay = addDailyCost(record.costByDay, {
      nowMs: this.#clock.now(),
      usd: spend.costUsd,
    });
    const { usage, contextWindow } = spend;
    if (usage && contextWindow) {
      const used = usage.inputTokens + usage.cacheReadInputTokens +
        usage.cacheCreationInputTokens + usage.outputTokens;
      record.contextUsed = Math.min(1, used / contextWindow);
    }
  }
}
