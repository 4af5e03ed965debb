// Who may use the bot: allowed users, in private chats and in the group
// chats enabled for it; a stranger is told once, with their id, how to ask.

/** The allow-lists, as configured. */
export interface AccessOptions {
  allowedUserIds: ReadonlySet<number>;
  /** Group chats the bot acts in; private chats need only an allowed user. */
  allowedChatIds: ReadonlySet<number>;
}

/** Who sent an update, and where. */
export interface Sender {
  userId?: number;
  chatId?: number;
  chatType?: string;
  /** A button tap (callback query) rather than a message. */
  isButton: boolean;
}

/** What to do with an update: pass it on, or drop it with at most one answer. */
export type AccessDecision =
  | { kind: "pass" }
  | { kind: "drop"; reply?: string; toast?: string };

/**
 * Decides per update. A stranger's first private message in this run is
 * answered with their user id (so the owner can add it); later ones, silence.
 */
export class AccessControl {
  #options: AccessOptions;
  #refused = new Set<number>();

  constructor(options: AccessOptions) {
    this.#options = options;
  }

  /** Whether the sender may use the bot here, and what to tell them if not. */
  check(sender: Sender): AccessDecision {
    const { userId, chatId, chatType, isButton } = sender;
    if (userId === undefined || !this.#options.allowedUserIds.has(userId)) {
      if (isButton) {
        return { kind: "drop", toast: "You are not allowed to use this bot." };
      }
      if (
        userId === undefined || chatType !== "private" ||
        this.#refused.has(userId)
      ) return { kind: "drop" };
      this.#refused.add(userId);
      return {
        kind: "drop",
        reply:
          `Sorry, this bot is private. Your Telegram user id is ${userId}; the owner can add it to ALLOWED_USER_IDS.`,
      };
    }
    const isGroup = chatType !== undefined && chatType !== "private";
    if (isGroup && !this.#options.allowedChatIds.has(chatId!)) {
      return isButton
        ? { kind: "drop", toast: "This chat is not enabled." }
        : { kind: "drop" };
    }
    return { kind: "pass" };
  }
}
