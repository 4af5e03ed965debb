// Voice notes and audio files as text: the journal input for one, its
// transcript from the configured speech-to-text API, and the transcript as
// the 🎤 quote the user sees before Claude reads it.
import type { TranscriptionConfig } from "./config.ts";
import { truncate } from "./format.ts";
import type { JournalInput } from "./journal.ts";
import { escapeHtml } from "./render.ts";
import { transcribe } from "./transcribe.ts";

/** A journaled voice note or audio file. */
export type VoiceInput = Extract<JournalInput, { kind: "voice" }>;

/** A voice message arrived but TRANSCRIBE_API_URL is not set. */
export class VoiceNotConfiguredError extends Error {
  override name = "VoiceNotConfiguredError";
  constructor() {
    super("Cannot transcribe a voice message: TRANSCRIBE_API_URL is not set");
  }
}

/**
 * Bounds one transcription, upload included: a few minutes of speech take
 * seconds on a fast API and tens of seconds on a small self-hosted one.
 */
export const TRANSCRIBE_TIMEOUT_MS = 60_000;

/** The fields of a Telegram Voice, Audio or Document this module reads. */
export interface TelegramAudio {
  file_id: string;
  file_size?: number;
  mime_type?: string;
  file_name?: string;
  duration?: number;
}

/** The journal input for a voice note, audio file or audio document. */
export function voiceInput(audio: TelegramAudio, caption?: string): VoiceInput {
  return {
    kind: "voice",
    fileId: audio.file_id,
    size: audio.file_size,
    mimeType: audio.mime_type,
    fileName: audio.file_name,
    duration: audio.duration,
    caption,
  };
}

/** Where {@linkcode transcribeVoice} gets the audio and sends it. */
export interface TranscribeVoiceOptions {
  /** Downloads a Telegram file within MAX_UPLOAD_MB (the intake's FileSource). */
  files: { download(fileId: string, size?: number): Promise<Uint8Array> };
  /** Undefined when voice is off. */
  transcription?: TranscriptionConfig;
}

/**
 * Downloads the audio and returns its transcript. Only the audio and the
 * model go to the API, with its own key: never the bot token.
 * @throws {VoiceNotConfiguredError} when `transcription` is undefined
 * @throws {TranscriptionError} when the API gives no transcript
 * @throws {FileTooLargeError} {FileDownloadError} from the download
 */
export async function transcribeVoice(
  input: VoiceInput,
  options: TranscribeVoiceOptions,
): Promise<string> {
  const { transcription } = options;
  if (transcription === undefined) throw new VoiceNotConfiguredError();
  const audio = await options.files.download(input.fileId, input.size);
  const mimeType = input.mimeType ?? DEFAULT_MIME_TYPE;
  return await transcribe(audio, {
    apiUrl: transcription.apiUrl,
    apiKey: transcription.apiKey,
    model: transcription.model,
    fileName: input.fileName ?? `voice.${EXTENSIONS[mimeType] ?? "ogg"}`,
    mimeType,
    timeoutMs: TRANSCRIBE_TIMEOUT_MS,
  });
}

// Telegram records voice notes as Opus in Ogg.
const DEFAULT_MIME_TYPE = "audio/ogg";

// Transcription APIs tell formats apart by the file's extension, and voice
// notes come without a name.
const EXTENSIONS: Readonly<Record<string, string>> = {
  "audio/ogg": "ogg",
  "audio/opus": "ogg",
  "audio/mpeg": "mp3",
  "audio/mp3": "mp3",
  "audio/mp4": "m4a",
  "audio/m4a": "m4a",
  "audio/x-m4a": "m4a",
  "audio/aac": "m4a",
  "audio/wav": "wav",
  "audio/x-wav": "wav",
  "audio/webm": "webm",
  "audio/flac": "flac",
  "audio/x-flac": "flac",
};

// Telegram allows 4,096 characters a message; the rest of a very long
// transcript still reaches Claude, only the quote is cut.
const MAX_SHOWN_CHARS = 3_500;
// Longer transcripts are folded so they do not push the answer off screen.
const FOLD_CHARS = 500;

/** The transcript as chat HTML: one quote starting with 🎤, folded when long. */
export function transcriptHtml(transcript: string): string {
  const fold = transcript.length > FOLD_CHARS ? " expandable" : "";
  return `<blockquote${fold}>🎤 ${
    escapeHtml(truncate(transcript, MAX_SHOWN_CHARS))
  }</blockquote>`;
}
