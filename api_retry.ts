// Retries Bot API calls that Telegram throttled (429) or that failed in
// transit or on Telegram's side (network errors, 5xx), as a grammY API
// transformer. grammY's auto-retry plugin would pull grammY's Node build and
// need unscoped --allow-env, hence this small replacement.

import { HttpError, type Transformer } from "grammy";
import { systemClock } from "./clock.ts";

/** Dependencies and limits of {@linkcode retryTransformer}. */
export interface RetryOptions {
  /** Abortable wait; default a real timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Cap of one backoff step (default 60 s). */
  maxBackoffMs?: number;
  /** Stop retrying network/5xx failures after this long (default 1 h) so a reply is delivered when Telegram is back but not forever. */
  giveUpAfterMs?: number;
  /** Time source for the give-up deadline; default `Date.now`. */
  now?: () => number;
  /** Receives one line per retry and give-up; default `console.warn`. */
  log?: (message: string) => void;
}

const FIRST_BACKOFF_MS = 1000;
const DEFAULT_MAX_BACKOFF_MS = 60_000;
const DEFAULT_GIVE_UP_AFTER_MS = 60 * 60_000;
const TOO_MANY_REQUESTS = 429;
const FIRST_SERVER_ERROR = 500;

/**
 * An API transformer that honours 429 retry_after and retries network errors
 * and 5xx with capped exponential backoff (1 s, 2 s, 4 s … maxBackoffMs).
 * getUpdates is passed through untouched (grammY's polling loop has its own
 * error handling). Aborts promptly when the call's signal aborts.
 *
 * Other 4xx responses (400 "message is not modified", 403 blocked, a 429
 * without retry_after …) are returned as they are. A network error after
 * Telegram accepted a message can make a retry send it twice: a duplicate
 * beats a lost reply. Once the next backoff would end past `giveUpAfterMs`
 * from the first attempt, the last failure is returned (5xx) or thrown
 * (`HttpError`). Log lines name only the method, codes and descriptions:
 * grammY's URLs, which network errors may quote, contain the bot token.
 *
 * @example
 * ```ts
 * bot.api.config.use(retryTransformer({ log: console.warn }));
 * ```
 */
export function retryTransformer(options: RetryOptions = {}): Transformer {
  const sleep = options.sleep ?? sleepOnSystemClock;
  const maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  const giveUpAfterMs = options.giveUpAfterMs ?? DEFAULT_GIVE_UP_AFTER_MS;
  const now = options.now ?? systemClock.now;
  const log = options.log ?? console.warn;

  return async (prev, method, payload, grammySignal) => {
    if (method === "getUpdates") {
      return await prev(method, payload, grammySignal);
    }
    // grammY types signals with the abort-controller polyfill, which lacks
    // `reason`; at run time it hands on the caller's own web AbortSignal.
    const signal = grammySignal as AbortSignal | undefined;
    const deadlineMs = now() + giveUpAfterMs;
    let backoffMs = FIRST_BACKOFF_MS;
    for (;;) {
      const outcome = await prev(method, payload, grammySignal)
        .catch(keepNetworkFailure(signal));
      if (!(outcome instanceof HttpError)) {
        if (outcome.ok) return outcome;
        const retryAfterS = outcome.parameters?.retry_after;
        if (
          outcome.error_code === TOO_MANY_REQUESTS && retryAfterS !== undefined
        ) {
          log(
            `Retrying ${method} in ${retryAfterS} s: ${outcome.error_code} ${outcome.description}`,
          );
          await sleep(retryAfterS * 1000, signal);
          continue;
        }
        if (outcome.error_code < FIRST_SERVER_ERROR) return outcome;
      }
      const reason = outcome instanceof HttpError
        ? "network error"
        : `${outcome.error_code} ${outcome.description}`;
      // Waiting past the deadline only to stop there would delay the failure.
      if (now() + backoffMs > deadlineMs) {
        log(
          `Cannot call ${method}: gave up after ${giveUpAfterMs} ms: ${reason}`,
        );
        if (outcome instanceof HttpError) throw outcome;
        return outcome;
      }
      log(`Retrying ${method} in ${backoffMs} ms: ${reason}`);
      await sleep(backoffMs, signal);
      backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
    }
  };
}

/**
 * Turns a thrown `HttpError` into a value to retry on; rethrows aborts (the
 * caller chose to stop) and any other error (a bug, not a flaky network).
 */
function keepNetworkFailure(
  signal: AbortSignal | undefined,
): (error: unknown) => HttpError {
  return (error) => {
    if (error instanceof HttpError && !signal?.aborted) return error;
    throw error;
  };
}

/** Waits `ms` on the real clock; rejects with the signal's reason on abort. */
function sleepOnSystemClock(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const onAbort = () => {
      cancel();
      reject(signal?.reason);
    };
    const cancel = systemClock.after(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
