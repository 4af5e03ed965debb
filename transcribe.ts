// Speech to text through an OpenAI-compatible transcription API: posts one
// audio file and returns the transcript, or a typed error saying why not.

/** Why a transcription failed; `http` carries the status. */
export type TranscriptionFailure =
  | { reason: "timeout" }
  | { reason: "network" }
  | { reason: "http"; status: number }
  | { reason: "empty" }
  | { reason: "bad_response" };

/** A transcription failed; nothing usable came back. */
export class TranscriptionError extends Error {
  override name = "TranscriptionError";
  readonly reason: TranscriptionFailure["reason"];
  /** The HTTP status when `reason` is "http". */
  readonly status?: number;
  constructor(failure: TranscriptionFailure, detail: string, cause?: unknown) {
    super(`Cannot transcribe audio: ${detail}`, { cause });
    this.reason = failure.reason;
    if (failure.reason === "http") this.status = failure.status;
  }
}

/** Options of {@linkcode transcribe}. */
export interface TranscribeOptions {
  /** Base URL of the API, e.g. https://api.openai.com/v1 (a trailing slash is fine). */
  apiUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; omitted when undefined. */
  apiKey?: string;
  /** The `model` field, e.g. whisper-1. */
  model: string;
  /** Name of the uploaded file; servers guess the format from its extension. */
  fileName: string;
  /** Type of the uploaded file, e.g. audio/ogg. */
  mimeType: string;
  /** Bounds the whole call, the answer's body included. */
  timeoutMs: number;
  /** Cancels the call; it then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Defaults to the global fetch; tests may pass another. */
  fetch?: typeof fetch;
}

// Error bodies are logged shortened: a proxy may answer with a whole page.
const MAX_DETAIL_CHARS = 200;

/**
 * Transcribes `audio`: a multipart POST of exactly `file` and `model` to
 * `<apiUrl>/audio/transcriptions`, reading `text` from the JSON answer.
 * @returns the transcript, trimmed
 * @throws {TranscriptionError} on a timeout, a network failure, a non-2xx
 *   answer, an answer without a string `text`, or a blank transcript
 */
export async function transcribe(
  audio: Uint8Array,
  options: TranscribeOptions,
): Promise<string> {
  const url = `${options.apiUrl.replace(/\/+$/, "")}/audio/transcriptions`;
  const form = new FormData();
  form.append(
    "file",
    new File([audio.slice()], options.fileName, { type: options.mimeType }),
  );
  form.append("model", options.model);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal
    ? AbortSignal.any([options.signal, timeout])
    : timeout;
  try {
    const response = await (options.fetch ?? fetch)(url, {
      method: "POST",
      headers: options.apiKey === undefined
        ? {}
        : { authorization: `Bearer ${options.apiKey}` },
      body: form,
      signal,
    });
    return await readTranscript(response);
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (error instanceof TranscriptionError) throw error;
    if (timeout.aborted) {
      throw new TranscriptionError(
        { reason: "timeout" },
        `no answer from "${url}" within ${options.timeoutMs} ms`,
        error,
      );
    }
    // fetch rejects with a TypeError when the host cannot be reached.
    if (error instanceof TypeError) {
      throw new TranscriptionError(
        { reason: "network" },
        `"${url}" is unreachable: ${error.message}`,
        error,
      );
    }
    throw error;
  }
}

async function readTranscript(response: Response): Promise<string> {
  if (!response.ok) {
    const body = await response.text();
    throw new TranscriptionError(
      { reason: "http", status: response.status },
      `the API answered ${response.status}: ${body.slice(0, MAX_DETAIL_CHARS)}`,
    );
  }
  const body = await response.text();
  let text: unknown;
  try {
    text = (JSON.parse(body) as { text?: unknown } | null)?.text;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    text = undefined;
  }
  if (typeof text !== "string") {
    throw new TranscriptionError(
      { reason: "bad_response" },
      `the answer has no "text": ${body.slice(0, MAX_DETAIL_CHARS)}`,
    );
  }
  if (text.trim() === "") {
    throw new TranscriptionError(
      { reason: "empty" },
      "the transcript is empty",
    );
  }
  return text.trim();
}
