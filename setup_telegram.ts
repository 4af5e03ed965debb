// The set-up wizard's Telegram side over plain fetch (no grammY outside the
// edge modules): checking a token with getMe, and pairing a chat by a code
// read from a long poll of getUpdates.
import { type Clock, sleep } from "./clock.ts";

/** How long pairing waits for the code, at most. */
export const PAIRING_TIMEOUT_MS = 10 * 60_000;

/** A Bot API call failed; `status` is undefined when Telegram was unreachable. */
export class BotCallError extends Error {
  override name = "BotCallError";
  readonly method: string;
  readonly status?: number;
  /** Telegram's description, or the network error's message (token removed). */
  readonly description: string;
  constructor(
    method: string,
    failure: { status?: number; description: string },
    cause?: unknown,
  ) {
    super(
      failure.status === undefined
        ? `Cannot reach Telegram for ${method}: ${failure.description}`
        : `Telegram refused ${method} (${failure.status}): ${failure.description}`,
      { cause },
    );
    this.method = method;
    this.status = failure.status;
    this.description = failure.description;
  }
}

/** Nobody sent the pairing code in time. */
export class PairingTimeoutError extends Error {
  override name = "PairingTimeoutError";
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`Cannot pair: no one sent the code within ${timeoutMs / 60_000} min`);
    this.timeoutMs = timeoutMs;
  }
}

/** The user who sent the code. */
export interface PairedUser {
  userId: number;
  chatId: number;
}

/** What pairing ignored, for the terminal only (never told in the chat). */
export interface IgnoredUpdate {
  updateId: number;
  /** The sender, when the update has one. */
  userId?: number;
  why: "not_private_text" | "wrong_code" | "too_many_attempts";
}

/** A bot's identity from getMe. */
export interface BotIdentity {
  id: number;
  username: string;
}

/** A Telegram update, as far as pairing reads it. */
interface Update {
  update_id: number;
  message?: {
    text?: string;
    from?: { id: number; is_bot?: boolean };
    chat: { id: number; type: string };
  };
}

/** Longest getUpdates wait Telegram honours, in seconds. */
const MAX_POLL_SECONDS = 50;
/** Allowance over the long poll for the answer to travel. */
const POLL_SLACK_MS = 15_000;
/** Bound of a short call (getMe, sendMessage, the final confirmation). */
const CALL_TIMEOUT_MS = 30_000;
/** Pause after a network error or a 5xx before polling again. */
const RETRY_PAUSE_MS = 3_000;
/** Wrong codes one sender may try before the wizard stops reading them. */
const MAX_ATTEMPTS_PER_SENDER = 10;

/** The Bot API over fetch for one token, with every call bounded on `clock`. */
export class SetupBotApi {
  readonly #apiRoot: string;
  readonly #token: string;
  readonly #clock: Clock;
  readonly #fetch: typeof fetch;

  constructor(options: {
    /** TELEGRAM_API_ROOT; a trailing slash is fine. */
    apiRoot: string;
    token: string;
    clock: Clock;
    fetch?: typeof fetch;
  }) {
    this.#apiRoot = options.apiRoot.replace(/\/+$/, "");
    this.#token = options.token;
    this.#clock = options.clock;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * The bot behind the token.
   * @throws {BotCallError} 401 for a wrong token; no status when unreachable
   */
  async getMe(): Promise<BotIdentity> {
    const me = await this.#call("getMe", {}, CALL_TIMEOUT_MS) as {
      id: number;
      username?: string;
    };
    return { id: me.id, username: me.username ?? String(me.id) };
  }

  /** @throws {BotCallError} */
  async sendMessage(chatId: number, text: string): Promise<void> {
    await this.#call("sendMessage", { chat_id: chatId, text }, CALL_TIMEOUT_MS);
  }

  /**
   * Long-polls getUpdates until a private chat sends exactly `code`, then
   * confirms every update read so the bot never replays them. Everything
   * else is skipped in silence; a sender with too many wrong codes is no
   * longer heard.
   * @throws {PairingTimeoutError} when `timeoutMs` passes first
   * @throws {BotCallError} when Telegram refuses (401, 409: someone else polls)
   */
  async pair(
    code: string,
    options: {
      timeoutMs: number;
      onIgnored?: (update: IgnoredUpdate) => void;
    },
  ): Promise<PairedUser> {
    const deadline = this.#clock.now() + options.timeoutMs;
    const misses = new Map<number, number>();
    let offset: number | undefined;
    while (true) {
      const remainingMs = deadline - this.#clock.now();
      if (remainingMs <= 0) {
        if (offset !== undefined) await this.#confirm(offset);
        throw new PairingTimeoutError(options.timeoutMs);
      }
      let updates: Update[];
      try {
        updates = await this.#poll(offset, remainingMs);
      } catch (error) {
        if (!isTransient(error)) throw error;
        await this.#pause(deadline);
        continue;
      }
      for (const update of updates) {
        offset = update.update_id + 1;
        const verdict = judge(update, code, misses);
        if (verdict.kind === "paired") {
          await this.#confirm(updates.at(-1)!.update_id + 1);
          return verdict.user;
        }
        options.onIgnored?.({
          updateId: update.update_id,
          userId: update.message?.from?.id,
          why: verdict.why,
        });
      }
    }
  }

  /** One long poll, ended by the clock at the deadline at the latest. */
  async #poll(
    offset: number | undefined,
    remainingMs: number,
  ): Promise<Update[]> {
    // Rounded up: a zero timeout in the last second would poll in a tight
    // loop; the clock still ends the call at the deadline.
    const seconds = Math.min(MAX_POLL_SECONDS, Math.ceil(remainingMs / 1000));
    // No allowed_updates: Telegram would keep that filter for the bot's own
    // polling afterwards, and the bot needs button taps too.
    const params = offset === undefined
      ? { timeout: seconds }
      : { offset, timeout: seconds };
    return await this.#call(
      "getUpdates",
      params,
      Math.min(remainingMs, seconds * 1000 + POLL_SLACK_MS),
    ) as Update[];
  }

  /** Confirms updates below `offset`; a failure only means they may come again. */
  async #confirm(offset: number): Promise<void> {
    try {
      await this.#call("getUpdates", { offset, timeout: 0 }, CALL_TIMEOUT_MS);
    } catch (error) {
      if (!(error instanceof BotCallError)) throw error;
      // Safe: the bot then sees these updates once more, and the code in
      // them means nothing to it.
    }
  }

  async #pause(deadline: number): Promise<void> {
    const ms = Math.min(RETRY_PAUSE_MS, deadline - this.#clock.now());
    if (ms > 0) await sleep(this.#clock, ms);
  }

  async #call(
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<unknown> {
    const controller = new AbortController();
    const cancel = this.#clock.after(timeoutMs, () => controller.abort());
    try {
      const response = await this.#fetch(
        `${this.#apiRoot}/bot${this.#token}/${method}`,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(params),
          signal: controller.signal,
        },
      );
      const body = await response.json().catch(() => undefined) as
        | { ok?: boolean; result?: unknown; description?: string }
        | undefined;
      if (response.ok && body?.ok === true) return body.result;
      throw new BotCallError(method, {
        status: response.status,
        description: body?.description ?? response.statusText,
      });
    } catch (error) {
      if (controller.signal.aborted) {
        throw new BotCallError(method, {
          description: `no answer within ${Math.ceil(timeoutMs / 1000)} s`,
        }, error);
      }
      if (error instanceof BotCallError) throw error;
      // fetch's messages name the URL, and the URL holds the token.
      const message = error instanceof Error ? error.message : String(error);
      throw new BotCallError(method, {
        description: message.replaceAll(this.#token, "<token>"),
      });
    } finally {
      cancel();
    }
  }
}

/** Worth polling again: unreachable or slow, a 5xx, or flood control. */
function isTransient(error: unknown): boolean {
  if (!(error instanceof BotCallError)) return false;
  return error.status === undefined || error.status >= 500 ||
    error.status === 429;
}

type Verdict =
  | { kind: "paired"; user: PairedUser }
  | { kind: "ignored"; why: IgnoredUpdate["why"] };

function judge(
  update: Update,
  code: string,
  misses: Map<number, number>,
): Verdict {
  const message = update.message;
  const from = message?.from;
  if (
    !message || !from || from.is_bot || message.chat.type !== "private" ||
    typeof message.text !== "string"
  ) {
    return { kind: "ignored", why: "not_private_text" };
  }
  const tries = misses.get(from.id) ?? 0;
  // Ten wrong codes look like guessing; a typo does not take ten.
  if (tries >= MAX_ATTEMPTS_PER_SENDER) {
    return { kind: "ignored", why: "too_many_attempts" };
  }
  if (message.text === code) {
    return {
      kind: "paired",
      user: { userId: from.id, chatId: message.chat.id },
    };
  }
  misses.set(from.id, tries + 1);
  return { kind: "ignored", why: "wrong_code" };
}

/** Six random digits, uniform (rejection sampling avoids a modulo bias). */
export function pairingCode(): string {
  const limit = Math.floor(2 ** 32 / 1_000_000) * 1_000_000;
  const buffer = new Uint32Array(1);
  while (true) {
    crypto.getRandomValues(buffer);
    if (buffer[0] < limit) {
      return String(buffer[0] % 1_000_000).padStart(6, "0");
    }
  }
}
