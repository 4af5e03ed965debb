// Binds grammY's Api to one chat (and forum topic) as the small ChatApi a
// reply needs, turning Telegram's formatting errors into typed ones.
import { type Api, GrammyError, InputFile } from "grammy";
import { type ChatApi, FormattingRejectedError } from "./reply.ts";

// Telegram answers both with error 400 and tells them apart only by the
// description, so these two checks must read it.
function isNotModified(error: unknown): boolean {
  return error instanceof GrammyError && error.error_code === 400 &&
    error.description.includes("message is not modified");
}

function asFormattingError(error: unknown): unknown {
  return error instanceof GrammyError && error.error_code === 400 &&
      error.description.includes("can't parse entities")
    ? new FormattingRejectedError(error.description, { cause: error })
    : error;
}

/** A ChatApi for one chat; `threadId` keeps replies in a forum topic. */
export function chatApi(api: Api, chatId: number, threadId?: number): ChatApi {
  const thread = threadId === undefined ? {} : { message_thread_id: threadId };
  return {
    async sendText(text, { html }) {
      try {
        const message = await api.sendMessage(chatId, text, {
          ...thread,
          ...(html ? { parse_mode: "HTML" } : {}),
          link_preview_options: { is_disabled: true },
        });
        return message.message_id;
      } catch (error) {
        throw asFormattingError(error);
      }
    },
    async editText(messageId, text, { html }) {
      try {
        await api.editMessageText(chatId, messageId, text, {
          ...(html ? { parse_mode: "HTML" } : {}),
          link_preview_options: { is_disabled: true },
        });
      } catch (error) {
        if (!isNotModified(error)) throw asFormattingError(error);
      }
    },
    async deleteMessage(messageId) {
      await api.deleteMessage(chatId, messageId);
    },
    async sendTyping() {
      await api.sendChatAction(chatId, "typing", thread);
    },
    async sendDocument(fileName, content, caption) {
      await api.sendDocument(
        chatId,
        new InputFile(new TextEncoder().encode(content), fileName),
        { ...thread, caption },
      );
    },
  };
}
