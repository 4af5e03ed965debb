// The one mapping from errors to chat text, and errors as log lines: known
// errors get a short, plain reply; others a generic one, details in the log.
import { AtomicWriteError } from "./atomic_file.ts";
import { humanDuration, truncate, usd } from "./format.ts";
import type { Clock } from "./clock.ts";
import { FileDownloadError, FileTooLargeError } from "./intake.ts";
import { PersonasFileError } from "./personas.ts";
import { escapeHtml } from "./render.ts";
import {
  BudgetExceededError,
  SessionExistsError,
  SessionNameError,
  ShuttingDownError,
  UnknownSessionError,
} from "./session_errors.ts";
import { StoreWriteError } from "./store.ts";
import { TranscriptionError } from "./transcribe.ts";
import { TRANSCRIBE_TIMEOUT_MS, VoiceNotConfiguredError } from "./voice.ts";

/** What errorText needs besides the error. */
export interface ErrorTextOptions {
  /** Tells how long until the daily budget resets. */
  clock: Clock;
  /** MAX_UPLOAD_MB in bytes, named in the reply to a file too large. */
  maxUploadBytes: number;
  /** Receives the details of errors the reply leaves out. */
  log: (message: string) => void;
}

/**
 * The chat HTML for an error. Stacks and host paths never reach the chat:
 * errors the user cannot act on are logged in full, and the reply says so.
 */
export function errorText(error: unknown, options: ErrorTextOptions): string {
  const { log } = options;
  if (error instanceof SessionNameError) {
    return `"${
      escapeHtml(truncate(error.sessionName, 40))
    }" is not a valid session name: use 1–32 letters, digits, _ or -.`;
  }
  if (error instanceof UnknownSessionError) {
    return `There is no session named "${
      escapeHtml(truncate(error.sessionName, 40))
    }". /sessions lists them.`;
  }
  if (error instanceof SessionExistsError) {
    return `A session named <b>${error.sessionName}</b> already exists: /switch ${error.sessionName}`;
  }
  if (error instanceof BudgetExceededError) {
    return `The daily budget of ${usd(error.budgetUsd)} is spent (${
      usd(error.spentUsd)
    } today), so no new turns start. It resets at 00:00 UTC, in ${
      humanDuration(error.resetsAtMs - options.clock.now())
    }.`;
  }
  if (error instanceof ShuttingDownError) {
    return "The bot is restarting; please send that again in a moment.";
  }
  if (error instanceof StoreWriteError || error instanceof AtomicWriteError) {
    log(error.message);
    return "⚠️ Could not save to the data directory (disk full or read-only?). Nothing was changed.";
  }
  if (error instanceof FileTooLargeError) {
    return `That file is too large: the limit is ${
      Math.round(options.maxUploadBytes / 1024 / 1024)
    } MB (MAX_UPLOAD_MB).`;
  }
  if (error instanceof PersonasFileError) {
    log(error.message);
    return "⚠️ personas.json in the data directory is invalid; see the log.";
  }
  if (error instanceof FileDownloadError) {
    log(error.message);
    return "⚠️ Telegram did not deliver the file; please try again.";
  }
  if (error instanceof VoiceNotConfiguredError) {
    return "🎤 Voice notes are off: no transcription service is set up. To turn them on, set <code>TRANSCRIBE_API_URL</code> (an OpenAI-compatible API, e.g. <code>https://api.openai.com/v1</code>), <code>TRANSCRIBE_API_KEY</code> and, if needed, <code>TRANSCRIBE_MODEL</code> (default whisper-1) in the bot's environment, then restart it. Until then, please type your message.";
  }
  if (error instanceof TranscriptionError) {
    log(error.message);
    return `⚠️ Could not transcribe the voice note: ${
      transcriptionProblem(error)
    }. Nothing was sent to Claude.`;
  }
  // The log is token-redacted where it is made (app.ts).
  log(
    `Unexpected error: ${
      error instanceof Error ? error.stack ?? error.message : error
    }`,
  );
  return "⚠️ Something went wrong; the details are in the bot's log.";
}

function transcriptionProblem(error: TranscriptionError): string {
  switch (error.reason) {
    case "timeout":
      return `the transcription service did not answer within ${
        humanDuration(TRANSCRIBE_TIMEOUT_MS)
      }`;
    case "network":
      return "the transcription service cannot be reached";
    case "http":
      return error.status === 401 || error.status === 403
        ? `the transcription service refused the key (HTTP ${error.status}); check TRANSCRIBE_API_KEY`
        : `the transcription service answered with an error (HTTP ${error.status})`;
    case "empty":
      return "no speech was recognised";
    case "bad_response":
      return "the transcription service answered without a transcript";
  }
}
