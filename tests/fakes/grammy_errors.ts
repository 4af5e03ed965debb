// grammY's two error types as Telegram and the network produce them, with the
// bot token where a careless log would leak it.
import { GrammyError, HttpError } from "grammy";

/** A token that must never show in a reply or a log line. */
export const SECRET_TOKEN = "123456:SECRET-token-abcdefghijklmnopqrstuvwxyz";

/** A Bot API refusal of `method`; its payload holds the token. */
export function grammyError(
  method: string,
  error: { error_code: number; description: string },
): GrammyError {
  return new GrammyError(
    `Call to '${method}' failed!`,
    { ok: false, ...error },
    method,
    {
      chat_id: 1001,
      text: `https://api.telegram.org/bot${SECRET_TOKEN}/getMe`,
    },
  );
}

/** A network failure of `method`; its cause quotes the URL with the token. */
export function httpError(method: string): HttpError {
  const cause = new TypeError(
    `error sending request for url (https://api.telegram.org/bot${SECRET_TOKEN}/${method})`,
  );
  return new HttpError(`Network request for '${method}' failed!`, cause);
}
