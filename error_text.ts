// The one mapping from errors to chat text, and errors as log lines: known
// errors get a short, plain reply; others a generic one, details in the log.
import { AtomicWriteError } from "./atomic_file.ts";
import {
  FileTooLargeError as ExportTooLargeError,
  PathNotFoundError,
  PathOutsideWorkspaceError,
} from "./file_export.ts";
import { byteSize, humanDuration, truncate, usd } from "./format.ts";
import type { Clock } from "./clock.ts";
import {
  BadBranchNameError,
  GitCommandError,
  NotAGitRepositoryError,
  RepositoryBusyError,
} from "./git.ts";
import { WorktreePathTakenError } from "./git_worktrees.ts";
import { FileDownloadError, FileTooLargeError } from "./intake.ts";
import { PersonasFileError } from "./personas.ts";
import { escapeHtml } from "./render.ts";
import {
  BudgetExceededError,
  SessionBusyError,
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
  const projectText = projectErrorText(error, log);
  if (projectText !== undefined) return projectText;
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

/** The errors of projects, worktrees, /get and /handoff; undefined for others. */
function projectErrorText(
  error: unknown,
  log: (message: string) => void,
): string | undefined {
  if (error instanceof SessionBusyError) {
    return `Claude is working on a turn in <b>${error.sessionName}</b>: wait for its answer (or /stop it), then try again.`;
  }
  if (error instanceof BadBranchNameError) {
    return `"${
      escapeHtml(truncate(error.branch, 60))
    }" is not a valid branch name (git check-ref-format refuses it). Nothing was changed.`;
  }
  if (error instanceof RepositoryBusyError) {
    return `That repository is in the middle of a ${error.operation}: finish or abort it first (git ${error.operation} --continue or --abort), then try again. Nothing was changed.`;
  }
  if (error instanceof WorktreePathTakenError) {
    // Named from DATA_DIR on: the rest of the host path stays out of the chat.
    const tail = error.path.split("/worktrees/").at(-1) ?? "";
    return `The worktree folder for that branch, worktrees/${
      escapeHtml(truncate(tail, 100))
    } in the data directory, is taken by something that is not this branch's worktree. Move it away or choose another branch. Nothing was changed.`;
  }
  if (error instanceof NotAGitRepositoryError) {
    log(error.message);
    return "That folder is not a git repository (any more?), so this cannot work there. Nothing was changed.";
  }
  if (error instanceof GitCommandError) {
    log(error.message);
    return `⚠️ git ${
      escapeHtml(error.args[0] ?? "")
    } failed; the details are in the bot's log. Nothing was changed.`;
  }
  if (error instanceof PathOutsideWorkspaceError) {
    return `"${
      escapeHtml(truncate(error.path, 60))
    }" leads outside the session's folder; /get sends only what is inside it.`;
  }
  if (error instanceof PathNotFoundError) {
    return `There is no file or folder "${
      escapeHtml(truncate(error.path, 60))
    }" in the session's folder.`;
  }
  if (error instanceof ExportTooLargeError) {
    return `"${escapeHtml(truncate(error.path, 60))}" is too large to send: ${
      error.isFolder ? "the folder comes to" : "it is"
    } ${byteSize(error.sizeBytes)}, and Telegram takes at most ${
      byteSize(error.limitBytes)
    } from a bot.`;
  }
  return undefined;
}
