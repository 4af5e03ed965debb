// A fake OpenAI-compatible transcription API on 127.0.0.1: it records each
// request (headers, form fields, the uploaded file) and answers the way a
// test tells it to: a transcript, an error status, a raw body, or not at all.

/** How the fake answers the next requests. */
export type FakeTranscriberBehaviour =
  /** 200 with `{"text": text}`. */
  | { kind: "text"; text: string }
  /** This status with an OpenAI-style error body. */
  | { kind: "status"; status: number }
  /** 200 with this body as is. */
  | { kind: "raw"; body: string }
  /** No answer until the fake closes (for timeouts). */
  | { kind: "hold" };

/** One request the fake received. */
export interface TranscriptionRequest {
  method: string;
  /** The URL's path, e.g. /v1/audio/transcriptions. */
  path: string;
  /** The Authorization header, or undefined. */
  authorization?: string;
  /** Every header, names lowercased. */
  headers: Record<string, string>;
  /** Text fields of the multipart form (model, …). */
  fields: Record<string, string>;
  /** File fields of the form by field name. */
  files: Record<string, { name: string; type: string; bytes: Uint8Array }>;
}

/** Options of {@linkcode FakeTranscriber.start}. */
export interface FakeTranscriberOptions {
  /** The first behaviour; default a transcript "hello from the fake". */
  behaviour?: FakeTranscriberBehaviour;
  /** When set, requests without `Bearer <key>` get 401, as OpenAI does. */
  key?: string;
}

/** The path prefix of {@linkcode FakeTranscriber.apiUrl}, like OpenAI's /v1. */
const API_PREFIX = "/v1";
const DEFAULT_TEXT = "hello from the fake";
const DEFAULT_WAIT_MS = 5000;

/** A fake transcription API; `await using` closes it. */
export class FakeTranscriber implements AsyncDisposable {
  /** Pass as TRANSCRIBE_API_URL / `apiUrl`. */
  readonly apiUrl: string;
  /** Every request, in arrival order. */
  readonly requests: TranscriptionRequest[] = [];
  /** How the next requests are answered; tests may change it at any time. */
  behaviour: FakeTranscriberBehaviour;

  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #listening: Promise<void>;
  readonly #key?: string;
  readonly #held = new Set<() => void>();
  readonly #onRequest = new Set<() => void>();
  #closing?: Promise<void>;

  private constructor(options: FakeTranscriberOptions) {
    this.behaviour = options.behaviour ?? { kind: "text", text: DEFAULT_TEXT };
    this.#key = options.key;
    const listening = Promise.withResolvers<void>();
    this.#listening = listening.promise;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => listening.resolve() },
      (request) => this.#handle(request),
    );
    this.apiUrl = `http://127.0.0.1:${this.#server.addr.port}${API_PREFIX}`;
  }

  /** Starts a fake on a free 127.0.0.1 port. */
  static async start(
    options: FakeTranscriberOptions = {},
  ): Promise<FakeTranscriber> {
    const fake = new FakeTranscriber(options);
    await fake.#listening;
    return fake;
  }

  /** Resolves once `count` requests arrived; rejects after `timeoutMs` (default 5000). */
  waitForRequests(
    count: number,
    options: { timeoutMs?: number } = {},
  ): Promise<TranscriptionRequest[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.requests.length < count) return;
        done();
        resolve(this.requests.slice());
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `Timed out waiting for ${count} transcription requests (got ${this.requests.length})`,
          ),
        );
      }, options.timeoutMs ?? DEFAULT_WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        this.#onRequest.delete(check);
      };
      this.#onRequest.add(check);
      check();
    });
  }

  /** Answers held requests with 503 and stops the server; safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const release of [...this.#held]) release();
      await this.#server.shutdown();
    })();
    return this.#closing;
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #handle(request: Request): Promise<Response> {
    const recorded = await record(request);
    this.requests.push(recorded);
    for (const check of [...this.#onRequest]) check();
    if (
      request.method !== "POST" ||
      recorded.path !== `${API_PREFIX}/audio/transcriptions`
    ) {
      return errorResponse(404, "Not found");
    }
    if (
      this.#key !== undefined &&
      recorded.authorization !== `Bearer ${this.#key}`
    ) {
      return errorResponse(401, "Incorrect API key provided");
    }
    const behaviour = this.behaviour;
    switch (behaviour.kind) {
      case "text":
        return Response.json({ text: behaviour.text });
      case "status":
        return errorResponse(behaviour.status, "The fake was told to fail");
      case "raw":
        return new Response(behaviour.body, {
          headers: { "content-type": "application/json" },
        });
      case "hold":
        // Released by close(); request.signal is not used (see deno-facts §8).
        await new Promise<void>((resolve) => {
          const release = () => {
            this.#held.delete(release);
            resolve();
          };
          this.#held.add(release);
        });
        return errorResponse(503, "The fake closed");
    }
  }
}

async function record(request: Request): Promise<TranscriptionRequest> {
  const headers = Object.fromEntries(request.headers);
  const fields: Record<string, string> = {};
  const files: TranscriptionRequest["files"] = {};
  if (headers["content-type"]?.startsWith("multipart/form-data")) {
    for (const [name, value] of await request.formData()) {
      if (typeof value === "string") fields[name] = value;
      else {
        files[name] = {
          name: value.name,
          type: value.type,
          bytes: new Uint8Array(await value.arrayBuffer()),
        };
      }
    }
  } else {
    await request.body?.cancel();
  }
  return {
    method: request.method,
    path: new URL(request.url).pathname,
    authorization: headers["authorization"],
    headers,
    fields,
    files,
  };
}

function errorResponse(status: number, message: string): Response {
  return Response.json({
    error: { message, type: "invalid_request_error", code: null },
  }, { status });
}
