// An in-memory stand-in for a Claude process, so session lifecycle tests can
// hold a stop or a turn open at exactly the point a race needs.
import type { ClaudeHandle, LaunchFn, LaunchRequest } from "../../launcher.ts";
import type { ClaudeEvent } from "../../stream_json.ts";
import type { ClaudeExit } from "../../subprocess.ts";

/** One fake process; answers `echo: <text>` unless `autoReply` is off. */
export class MemoryClaude implements ClaudeHandle {
  readonly pid: number;
  readonly exited: Promise<ClaudeExit>;
  readonly events: ReadableStream<ClaudeEvent>;
  readonly options: LaunchRequest;
  readonly inputs: string[] = [];
  autoReply = true;
  /** Refuse a --resume like the CLI does for an unknown session id. */
  refusesResume = false;
  /** When set, stop() waits for it: a suspend held open. */
  stopGate?: Promise<void>;
  #exit = Promise.withResolvers<ClaudeExit>();
  #emit!: ReadableStreamDefaultController<ClaudeEvent>;
  #isAlive = true;
  #costUsd = 0;
  #sessionId: string;

  constructor(options: LaunchRequest, pid: number) {
    this.options = options;
    this.pid = pid;
    this.exited = this.#exit.promise;
    this.events = new ReadableStream({
      start: (controller) => {
        this.#emit = controller;
      },
    });
    this.#sessionId = options.settings.resumeSessionId ?? crypto.randomUUID();
  }

  get isAlive(): boolean {
    return this.#isAlive;
  }

  startTime(): Promise<string | undefined> {
    return Promise.resolve("Thu Jan  1 00:00:00 2026");
  }

  sendUserMessage(content: unknown): Promise<void> {
    const text = typeof content === "string"
      ? content
      : JSON.stringify(content);
    this.inputs.push(text);
    if (this.refusesResume && this.options.settings.resumeSessionId) {
      queueMicrotask(() => this.refuseResume());
    } else if (this.autoReply) {
      queueMicrotask(() => this.reply(`echo: ${text}`));
    }
    return Promise.resolve();
  }

  /** Emits a whole turn: init, one text block, result. */
  reply(text: string): void {
    this.#costUsd += 0.01;
    const events: ClaudeEvent[] = [
      { type: "init", sessionId: this.#sessionId },
      { type: "text", text },
      {
        type: "result",
        subtype: "success",
        isError: false,
        sessionId: this.#sessionId,
        text,
        totalCostUsd: this.#costUsd,
        errors: [],
      },
    ];
    for (const event of events) this.#emit.enqueue(event);
  }

  /** Ends like the CLI does for an unknown --resume id. */
  refuseResume(): void {
    this.#emit.enqueue({
      type: "result",
      subtype: "error_during_execution",
      isError: true,
      errors: [`No conversation found with session ID: ${this.#sessionId}`],
    });
    this.exit(1);
  }

  interrupt(): Promise<void> {
    queueMicrotask(() =>
      this.#emit.enqueue({
        type: "result",
        subtype: "error_during_execution",
        isError: true,
        errors: [],
      })
    );
    return Promise.resolve();
  }

  answerPermission(): Promise<void> {
    return Promise.resolve();
  }

  async stop(): Promise<ClaudeExit> {
    await this.stopGate;
    this.exit(0);
    return await this.exited;
  }

  /** Exits with a code (a crash when a turn runs). */
  exit(code: number): void {
    if (!this.#isAlive) return;
    this.#isAlive = false;
    this.#emit.close();
    this.#exit.resolve({ code, signal: null, stderrTail: "" });
  }
}

/** A LaunchFn that records every MemoryClaude it starts. */
export function memoryClaudeStarter(
  options: { refuseResumes?: boolean } = {},
): {
  start: LaunchFn;
  started: MemoryClaude[];
  live: () => MemoryClaude[];
} {
  const started: MemoryClaude[] = [];
  return {
    started,
    live: () => started.filter((p) => p.isAlive),
    start: (processOptions) => {
      const process = new MemoryClaude(processOptions, 50_000 + started.length);
      process.refusesResume = options.refuseResumes ?? false;
      started.push(process);
      return process;
    },
  };
}
