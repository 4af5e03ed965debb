// The conditions the session manager reports as typed errors; the chat side
// turns each into a short reply (see error_text.ts).

/** A session name breaks the naming rule (see isSessionName). */
export class SessionNameError extends Error {
  override name = "SessionNameError";
  readonly sessionName: string;
  constructor(sessionName: string) {
    super(
      `Cannot name a session "${sessionName}": use 1–32 letters, digits, _ or -`,
    );
    this.sessionName = sessionName;
  }
}

/** No such session in this chat. */
export class UnknownSessionError extends Error {
  override name = "UnknownSessionError";
  readonly sessionName: string;
  constructor(sessionName: string) {
    super(`Cannot find session "${sessionName}"`);
    this.sessionName = sessionName;
  }
}

/** A session of that name already exists in this chat. */
export class SessionExistsError extends Error {
  override name = "SessionExistsError";
  readonly sessionName: string;
  constructor(sessionName: string) {
    super(`Cannot create session "${sessionName}": it already exists`);
    this.sessionName = sessionName;
  }
}

/** Today's spending reached DAILY_BUDGET_USD; turns start again at `resetsAtMs`. */
export class BudgetExceededError extends Error {
  override name = "BudgetExceededError";
  readonly spentUsd: number;
  readonly budgetUsd: number;
  /** When the UTC day ends (clock ms). */
  readonly resetsAtMs: number;
  constructor(
    options: { spentUsd: number; budgetUsd: number; resetsAtMs: number },
  ) {
    super(
      `Cannot start a turn: spent ${options.spentUsd} of the daily budget ${options.budgetUsd}`,
    );
    this.spentUsd = options.spentUsd;
    this.budgetUsd = options.budgetUsd;
    this.resetsAtMs = options.resetsAtMs;
  }
}

/** The session is working on a turn; the action must wait (or /stop first). */
export class SessionBusyError extends Error {
  override name = "SessionBusyError";
  readonly sessionName: string;
  constructor(sessionName: string) {
    super(`Cannot hand over session "${sessionName}": a turn is running`);
    this.sessionName = sessionName;
  }
}

/** The bot is shutting down and starts nothing new. */
export class ShuttingDownError extends Error {
  override name = "ShuttingDownError";
  constructor() {
    super("Cannot start a turn: the bot is shutting down");
  }
}
