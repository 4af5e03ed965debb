// Retries Bot API calls that Telegram throttled (429) or that failed in
// transit or on Telegram's side (network errors, 5xx). A plain policy: the
// edge (app.ts) installs it as a grammY API transformer. grammY's auto-retry
// plugin would pull grammY's Node build and need unscoped --allow-env, hence
// this small replacement.

import { sleep as sleepOn, systemClock } from "./clock.ts";

/** The answer of one Bot API call, as a transformer sees it. */
export interface ApiOutcome {
  ok: boolean;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

/** Dependencies and limits of {@linkcode retryPolicy}. */
export interface RetryOptions {
  /** Whether a thrown error is a failure in transit (grammY's HttpError), worth retrying. */
  isNetworkError: (error: unknown) => boolean;
  /** Abortable wait; default a real timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Cap of one backoff step (default 60 s). */
  maxBackoffMs?: number;
  /** Stop retrying network/5xx failures after this long (default 1 h) so a reply is delivered when Telegram is back but not forever. */
  giveUpAfterMs?: number;
  /** Time source for the give-up deadline; default the system clock. */
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
 * A retry policy that honours 429 retry_after and retries network errors
 * and 5xx with capped exponential backoff (1 s, 2 s, 4 s … maxBackoffMs).
 * getUpdates is passed through untouched (grammY's polling loop has its own
 * error handling). Aborts promptly when the call's signal aborts.
 *
 * Other 4xx responses (400 "message is not modified", 403 blocked, a 429
 * without retry_after …) are returned as they are. A network error after
 * Telegram accepted a message can make a retry send it twice: a duplicate
 * beats a lost reply. Once the next backoff would end past `giveUpAfterMs`
 * from the first attempt, the last failure is returned (5xx) or thrown
 * (network). Log lines name only the method, codes and descriptions:
 * grammY's URLs, which network errors may quote, contain the bot token.
 *
 * @example
 * ```ts
 * const retry = retryPolicy({ isNetworkError: (e) => e instanceof HttpError });
 * bot.api.config.use((prev, method, payload, signal) =>
 *   retry(method, () => prev(method, payload, signal), signal));
 * ```
 */
export function retryPolicy(
  options: RetryOptions,
): <R extends ApiOutcome>(
  method: string,
  attempt: () => Promise<R>,
  signal?: unknown,
) => Promise<R> {
  const sleep = options.sleep ?? sleepOnSystemClock;
  const maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  const giveUpAfterMs = options.giveUpAfterMs ?? DEFAULT_GIVE_UP_AFTER_MS;
  const now = options.now ?? systemClock.now;
  const log = options.log ?? console.warn;
  const { isNetworkError } = options;

  return async (method, attempt, callSignal) => {
    if (method === "getUpdates") return await attempt();
    // grammY types signals with the abort-controller polyfill, which lacks
    // `reason`; at run time it hands on the caller's own web AbortSignal.
    const signal = callSignal as AbortSignal | undefined;
    const deadlineMs = now() + giveUpAfterMs;
    let backoffMs = FIRST_BACKOFF_MS;
    for (;;) {
      const outcome = await attempt().then(
        (response) => ({ response }),
        (error) => {
          // An abort (the caller chose to stop) and any other error (a bug,
          // not a flaky network) are not retried.
          if (!isNetworkError(error) || signal?.aborted) throw error;
          return { error };
        },
      );
      if ("response" in outcome) {
        const { response } = outcome;
        if (response.ok) return response;
        const retryAfterS = response.parameters?.retry_after;
        if (
          response.error_code === TOO_MANY_REQUESTS &&
          retryAfterS !== undefined
        ) {
          log(
            `Retrying ${method} in ${retryAfterS} s: ${response.error_code} ${response.description}`,
          );
          await sleep(retryAfterS * 1000, signal);
          continue;
        }
        if ((response.error_code ?? 0) < FIRST_SERVER_ERROR) return response;
      }
      const reason = "response" in outcome
        ? `${outcome.response.error_code} ${outcome.response.description}`
        : "network error";
      // Waiting past the deadline only to stop there would delay the failure.
      if (now() + backoffMs > deadlineMs) {
        log(
          `Cannot call ${method}: gave up after ${giveUpAfterMs} ms: ${reason}`,
        );
        if ("response" in outcome) return outcome.response;
        throw outcome.error;
      }
      log(`Retrying ${method} in ${backoffMs} ms: ${reason}`);
      await sleep(backoffMs, signal);
      backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
    }
  };
}

/** Waits `ms` on the real clock; rejects with the signal's reason on abort. */
function sleepOnSystemClock(ms: number, signal?: AbortSignal): Promise<void> {
  return sleepOn(systemClock, ms, signal);
}
