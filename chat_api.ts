// Binds grammY's Api to one chat (and forum topic) as the small ChatApi a
// reply needs, turning Telegram's formatting errors into typed ones.
import { type Api, GrammyError, HttpError, InputFile } from "grammy";
import {
  FileDownloadError,
  type FileSource,
  FileTooLargeError,
} from "./intake.ts";
import {
  type ChatApi,
  DraftsUnsupportedError,
  FormattingRejectedError,
} from "./chat_port.ts";

const NOT_FOUND = 404;

/**
 * Whether the Bot API server knows sendMessageDraft (Bot API 9.3+). One per
 * bot run: after a 404 every chat edits messages instead of probing again;
 * a restarted bot probes once more.
 */
export class DraftSupport {
  #isSupported = true;

  /** False once the server answered sendMessageDraft with 404. */
  get isSupported(): boolean {
    return this.#isSupported;
  }

  /** Records the server's 404. */
  markUnsupported(): void {
    this.#isSupported = false;
  }
}

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

/**
 * A ChatApi for one chat; `threadId` keeps replies in a forum topic. Drafts
 * are offered in private chats only (Telegram allows them nowhere else);
 * their ids are positive, those of groups and channels negative.
 * @param chat.drafts whether the server has drafts, shared by every chat
 */
export function chatApi(
  api: Api,
  chat: { chatId: number; threadId?: number; drafts: DraftSupport },
): ChatApi {
  const { chatId, threadId, drafts } = chat;
  const thread = threadId === undefined ? {} : { message_thread_id: threadId };
  const parseMode = (html: boolean) =>
    html ? { parse_mode: "HTML" } as const : {};
  return {
    get canDraft() {
      return chatId > 0 && drafts.isSupported;
    },
    async sendText(text, { html, buttons }) {
      const keyboard = buttons && {
        reply_markup: {
          inline_keyboard: buttons.map((row) =>
            row.map(({ text, data }) => ({ text, callback_data: data }))
          ),
        },
      };
      try {
        const message = await api.sendMessage(chatId, text, {
          ...thread,
          ...parseMode(html),
          ...keyboard,
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
          ...parseMode(html),
          link_preview_options: { is_disabled: true },
        });
      } catch (error) {
        if (!isNotModified(error)) throw asFormattingError(error);
      }
    },
    async sendDraft(draftId, text, { html, signal }) {
      // Replies that started streaming before the 404 learn it here.
      if (!drafts.isSupported) {
        throw new DraftsUnsupportedError("Cannot send a draft: unsupported");
      }
      try {
        // The signal also ends a 429 wait inside the retry transformer.
        // grammY types it with the abort-controller polyfill; at run time it
        // passes the web AbortSignal on as it is.
        await api.sendMessageDraft(chatId, draftId, text, {
          ...thread,
          ...parseMode(html),
        }, signal as Parameters<Api["sendMessageDraft"]>[4]);
      } catch (error) {
        // 404 is how Telegram answers a method it does not know.
        if (!(error instanceof GrammyError && error.error_code === NOT_FOUND)) {
          throw asFormattingError(error);
        }
        drafts.markUnsupported();
        throw new DraftsUnsupportedError(
          `Cannot send a draft: ${error.description}`,
          { cause: error },
        );
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
        new InputFile(
          typeof content === "string"
            ? new TextEncoder().encode(content)
            : content,
          fileName,
        ),
        { ...thread, caption },
      );
    },
  };
}

const DOWNLOAD_TIMEOUT_MS = 120_000;

/**
 * Files from Telegram: getFile, then a download from the Bot API's file
 * endpoint (the token is in its path, so errors never quote the URL).
 * @param options.maxUploadBytes MAX_UPLOAD_MB in bytes
 */
export function telegramFiles(
  api: Api,
  options: { apiRoot: string; botToken: string; maxUploadBytes: number },
): FileSource {
  const limit = options.maxUploadBytes;
  const tooLarge = (size: number) =>
    new FileTooLargeError(
      `Cannot accept a file of ${size} bytes: the limit is ${limit}`,
    );
  return {
    async download(fileId, size) {
      if (size !== undefined && size > limit) throw tooLarge(size);
      let filePath: string | undefined;
      try {
        filePath = (await api.getFile(fileId)).file_path;
      } catch (error) {
        throw new FileDownloadError(
          `Cannot download file "${fileId}": ${describeError(error)}`,
          { cause: error },
        );
      }
      if (!filePath) {
        throw new FileDownloadError(
          `Cannot download file "${fileId}": Telegram gave no file path`,
        );
      }
      const response = await fetch(
        `${options.apiRoot}/file/bot${options.botToken}/${filePath}`,
        { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) },
      ).catch((error) => {
        throw new FileDownloadError(
          `Cannot download file "${fileId}": ${error?.name ?? "network error"}`,
        );
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new FileDownloadError(
          `Cannot download file "${fileId}": status ${response.status}`,
        );
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.length > limit) throw tooLarge(bytes.length);
      return bytes;
    },
  };
}

/** An error for the log: grammY errors carry request URLs with the token, so only their codes and descriptions are kept. */
export function describeError(error: unknown): string {
  if (error instanceof GrammyError) {
    return `GrammyError ${error.method}: ${error.error_code} ${error.description}`;
  }
  if (error instanceof HttpError) return `HttpError: ${error.message}`;
  return error instanceof Error
    ? (error.stack ?? error.message)
    : String(error);
}
