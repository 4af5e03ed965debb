// Who may use the bot: allowed users, in private chats and in the group
// chats enabled for it; a stranger is told once, with their id, how to ask.
import type { Context, MiddlewareFn } from "grammy";

/** The allow-lists, as configured. */
export interface AccessOptions {
  allowedUserIds: ReadonlySet<number>;
  /** Group chats the bot acts in; private chats need only an allowed user. */
  allowedChatIds: ReadonlySet<number>;
}

/**
 * Middleware that passes on only updates from allowed users in allowed
 * chats. A stranger's first private message in this run gets a reply with
 * their user id (so the owner can add it); later ones, silence.
 */
export function accessControl(options: AccessOptions): MiddlewareFn<Context> {
  const refused = new Set<number>();
  return async (ctx, next) => {
    const userId = ctx.from?.id;
    if (userId === undefined || !options.allowedUserIds.has(userId)) {
      await refuse(ctx, refused);
      return;
    }
    const chat = ctx.chat;
    if (
      chat && chat.type !== "private" && !options.allowedChatIds.has(chat.id)
    ) {
      if (ctx.callbackQuery) {
        await ctx.answerCallbackQuery("This chat is not enabled.");
      }
      return;
    }
    await next();
  };
}

/** Answers strangers once per run (with their id, so the owner can add them); silence after. */
async function refuse(ctx: Context, refused: Set<number>): Promise<void> {
  if (ctx.callbackQuery) {
    await ctx.answerCallbackQuery("You are not allowed to use this bot.");
    return;
  }
  const userId = ctx.from?.id;
  if (
    userId === undefined || ctx.chat?.type !== "private" || refused.has(userId)
  ) return;
  refused.add(userId);
  await ctx.reply(
    `Sorry, this bot is private. Your Telegram user id is ${userId}; the owner can add it to ALLOWED_USER_IDS.`,
  );
}
