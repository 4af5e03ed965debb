// A fake `claude` CLI for tests and benchmarks: speaks the long-lived
// stream-json protocol of Claude Code 2.1.197 (shared/claude-cli.md) with no
// model behind it. It imports only `node:` built-ins on purpose: it starts fast
// and is an implementation of the protocol independent of stream_json.ts, so
// tests that parse its output with stream_json.ts cross-check both sides.
//
// A user message is echoed (`echo: <text>`) unless it starts with a directive:
//   !history        reply with this conversation's earlier user messages (JSON)
//   !slow MS        stream "slow reply" over MS milliseconds (interruptible)
//   !long N         about N characters of Markdown in 3 text blocks
//   !tools N        N Bash tool_use/tool_result pairs, then a short text
//   !tools N !long M  the same, then about M characters of Markdown instead
//   !crash          some text, garbage on stderr, exit 3 mid-turn
//   !hang           init, then nothing until interrupted or killed
//   !garbage        malformed and unknown lines around a normal echo turn
//   !error          an API error turn (synthetic "API Error: 500 …" text)
//   !tool-sleep S   start a detached `setsid sleep S` like the Bash tool does
//   !ask CMD        ask permission to run CMD (`!ask A && !ask B` asks twice)
//
// Environment: CLAUDE_CONFIG_DIR (history as the real CLI keeps it, in
// <dir>/projects/<escaped cwd>/<id>.jsonl), else FAKE_CLAUDE_STATE_DIR
// (history in the fake's own JSON; default $HOME/.fake-claude),
// FAKE_CLAUDE_LOG (JSON lines: argv, env names and every stdin line),
// FAKE_CLAUDE_IGNORE_SIGTERM=1, FAKE_CLAUDE_START_DELAY_MS,
// FAKE_CLAUDE_CHARS_PER_SEC (default: instant), FAKE_CLAUDE_FIRST_TOKEN_MS
// (a model's time to first token: a pause before a turn's first text),
// FAKE_CLAUDE_LOG_TIMES=1 (for benchmarks: stdin lines get `t`, the receipt
// time, the start line gets the process's start time, each result adds a
// `{pid, result, t}` line and each text delta a `{pid, delta, block, t}` line
// (its length and content block index); t is epoch ms with sub-ms precision).

import { dirname, join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";

const CLI_VERSION = "2.1.197";
const DEFAULT_MODEL = "claude-opus-4-8[1m]";
const CONTEXT_WINDOW = 200_000;
const COST_PER_TURN_USD = 0.01;
const PERMISSION_MODES = [
  "acceptEdits",
  "auto",
  "bypassPermissions",
  "default",
  "dontAsk",
  "plan",
];
const UUID_PATTERN =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Default text chunk of one stream_event delta, about what the API sends.
const DELTA_CHARS = 40;

interface Options {
  includePartialMessages: boolean;
  resumeId?: string;
  model: string;
  permissionMode: string;
  hasStdioPermissionPrompt: boolean;
  allowedTools: string[];
}

/** A command line the real CLI rejects; its message goes to stderr, exit 1. */
class UsageError extends Error {
  override name = "UsageError";
}

const BOOLEAN_FLAGS = new Set([
  "-p",
  "--print",
  "--verbose",
  "--include-partial-messages",
]);
const VALUE_FLAGS = new Set([
  "--input-format",
  "--output-format",
  "-r",
  "--resume",
  "--model",
  "--append-system-prompt",
  "--permission-mode",
  "--permission-prompt-tool",
  "--max-budget-usd",
]);
// Commander's variadic `<tools...>`: every following non-flag argument.
const LIST_FLAGS = new Set(["--allowedTools", "--allowed-tools"]);
// Variadic too; the fake lets tools use any folder, so it only checks them.
const ADD_DIR_FLAG = "--add-dir";

function parseArgs(args: string[]): Options {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const allowedTools: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (BOOLEAN_FLAGS.has(arg)) {
      flags.add(arg);
    } else if (VALUE_FLAGS.has(arg)) {
      const value = args[++i];
      if (value === undefined) {
        throw new UsageError(`error: option '${arg} <value>' argument missing`);
      }
      values.set(arg, value);
    } else if (arg === ADD_DIR_FLAG) {
      if (i + 1 >= args.length || args[i + 1].startsWith("-")) {
        throw new UsageError(
          `error: option '${arg} <directories...>' argument missing`,
        );
      }
      while (i + 1 < args.length && !args[i + 1].startsWith("-")) i++;
    } else if (LIST_FLAGS.has(arg)) {
      while (i + 1 < args.length && !args[i + 1].startsWith("-")) {
        allowedTools.push(args[++i]);
      }
    } else if (arg.startsWith("-")) {
      throw new UsageError(`error: unknown option '${arg}'`);
    } else {
      throw new UsageError(
        `error: fake claude takes no prompt argument ('${arg}'): ` +
          "write stream-json user messages to stdin",
      );
    }
  }
  const permissionMode = values.get("--permission-mode") ?? "default";
  if (!PERMISSION_MODES.includes(permissionMode)) {
    throw new UsageError(
      `error: option '--permission-mode <mode>' argument '${permissionMode}' ` +
        `is invalid. Allowed choices are ${PERMISSION_MODES.join(", ")}.`,
    );
  }
  const budget = values.get("--max-budget-usd");
  if (budget !== undefined && !(Number(budget) > 0)) {
    throw new UsageError(
      `error: option '--max-budget-usd <amount>' argument '${budget}' is invalid`,
    );
  }
  if (!flags.has("-p") && !flags.has("--print")) {
    throw new UsageError("error: fake claude supports only -p (print) mode");
  }
  const outputFormat = values.get("--output-format");
  if (outputFormat === "stream-json" && !flags.has("--verbose")) {
    throw new UsageError(
      "Error: When using --print, --output-format=stream-json requires --verbose",
    );
  }
  if (
    outputFormat !== "stream-json" ||
    values.get("--input-format") !== "stream-json"
  ) {
    throw new UsageError(
      "error: fake claude supports only --input-format stream-json " +
        "--output-format stream-json",
    );
  }
  if (
    permissionMode === "bypassPermissions" && Deno.uid() === 0 &&
    Deno.env.get("IS_SANDBOX") !== "1"
  ) {
    throw new UsageError(
      "--dangerously-skip-permissions cannot be used with root/sudo " +
        "privileges for security reasons",
    );
  }
  return {
    includePartialMessages: flags.has("--include-partial-messages"),
    resumeId: values.get("--resume") ?? values.get("-r"),
    model: values.get("--model") ?? DEFAULT_MODEL,
    permissionMode,
    hasStdioPermissionPrompt:
      values.get("--permission-prompt-tool") === "stdio",
    allowedTools,
  };
}

type Json = Record<string, unknown>;
type TextBlock = { type: "text"; text: string };
type ToolUseBlock = {
  type: "tool_use";
  id: string;
  name: string;
  input: { command: string; description: string };
};
type Block = TextBlock | ToolUseBlock;
type PermissionAnswer =
  | { behavior: "allow"; command: string }
  | { behavior: "deny"; message: string };

/** How fast a text block streams: chunk size and the pause before a chunk. */
interface Pace {
  chunkChars: number;
  delayMs(chunk: string, index: number, chunkCount: number): number;
}

/** State of the turn being played. */
interface Turn {
  readonly userText: string;
  readonly startedAt: number;
  readonly controller: AbortController;
  apiCalls: number;
  outputChars: number;
  lastText: string;
  apiErrorStatus: number | null;
  isWaitingForTool: boolean;
  permissionDenials: Json[];
  // Unknown fields merged into every event of a `!garbage` turn.
  extraFields: Json;
}

// Reads a control_response to can_use_tool; an allow's `updatedInput`
// replaces the tool input, as it does for the real CLI.
function permissionAnswerOf(
  response: Json,
  command: string,
): PermissionAnswer {
  const decision = (response.response ?? {}) as Json;
  if (response.subtype === "success" && decision.behavior === "allow") {
    const updatedInput = (decision.updatedInput ?? {}) as Json;
    return {
      behavior: "allow",
      command: typeof updatedInput.command === "string"
        ? updatedInput.command
        : command,
    };
  }
  const message = decision.message ?? response.error ?? "Permission denied";
  return { behavior: "deny", message: String(message) };
}

function textBlock(text: string): TextBlock {
  return { type: "text", text };
}

function userTextOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  const blocks = content.filter((block): block is Json =>
    typeof block === "object" && block !== null
  );
  const texts = blocks.filter((block) => block.type === "text")
    .map((block) => String(block.text));
  const imageCount = blocks.filter((block) => block.type === "image").length;
  return texts.join("\n") + " [image]".repeat(imageCount);
}

function chunksOf(text: string, size: number): string[] {
  const chunks = [];
  for (let i = 0; i < text.length; i += size) {
    chunks.push(text.slice(i, i + size));
  }
  return chunks;
}

// Pauses keep the event loop alive like the real CLI's pending API request;
// a zero pause stays synchronous so an instant turn is one macrotask.
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  if (ms > 0) await sleep(ms, undefined, { signal });
}

// Waits for `promise` unless the turn is interrupted first. The open timer
// keeps the process alive meanwhile, as the real CLI's pending request does.
function unlessAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const keepAlive = setInterval(() => {}, 2 ** 30);
    const settle = (finish: () => void) => {
      clearInterval(keepAlive);
      signal.removeEventListener("abort", onAbort);
      finish();
    };
    const onAbort = () => settle(() => reject(signal.reason));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort);
    promise.then(
      (value) => settle(() => resolve(value)),
      (error) => settle(() => reject(error)),
    );
  });
}

function longMarkdown(targetChars: number): string {
  const sections = [];
  let length = 0;
  for (let n = 1; length < targetChars; n++) {
    const section = [
      `## Step ${n}: check the <config> & state`,
      `Paragraph ${n} explains why a < b && c > d matters here, with **bold**,` +
      ` _italic_ and \`inline code\`. It keeps going for a while so the ` +
      `message has realistic prose between the structured parts.`,
      `- first point of step ${n}\n- second point with a [link](https://example.com/${n})\n- third point`,
      `| key | value |\n| --- | --- |\n| step | ${n} |\n| ok | a < b & c |`,
      "```ts\n" +
      `function step${n}(a: number, b: number): boolean {\n` +
      `  return a < b && b > 0; // <${n}> & more\n}\n` +
      "```",
    ].join("\n\n");
    sections.push(section);
    length += section.length + 2;
  }
  return sections.join("\n\n");
}

// Splits at paragraph breaks, which never fall inside a code block or table
// (they hold no blank line); every section has five paragraphs to share.
function splitInThree(markdown: string): string[] {
  const paragraphs = markdown.split("\n\n");
  const size = Math.ceil(paragraphs.length / 3);
  return [0, 1, 2].map((part) =>
    paragraphs.slice(part * size, (part + 1) * size).join("\n\n")
  );
}

function directoryListing(n: number): string {
  return [
    "total 12",
    "drwxr-xr-x 2 user user 4096 Nov 25 23:43 .",
    "drwxr-xr-x 9 user user 4096 Nov 25 23:43 ..",
    `-rw-r--r-- 1 user user  812 Nov 25 23:43 module_${n}.ts`,
  ].join("\n");
}

/** The process: options, conversation state, the turn queue and its output. */
class FakeClaude {
  readonly #options: Options;
  readonly #sessionId: string;
  readonly #historyFile: string;
  readonly #readyAt: number;
  readonly #charsPerSec: number;
  readonly #firstTokenMs: number;
  readonly #isLoggingTimes: boolean;
  // Undefined until the first message: resume is checked only then.
  #earlierMessages: string[] | undefined;
  #totalCostUsd = 0;
  #totalInputTokens = 0;
  #totalOutputTokens = 0;
  #messageCount = 0;
  #isLastResultError = false;
  #isExiting = false;
  #current: { turn: Turn; done: Promise<void> } | undefined;
  #turns: Promise<void> = Promise.resolve();
  // The `response` object of each awaited control_response, by request id.
  readonly #pendingPermissions = new Map<string, (response: Json) => void>();

  constructor(options: Options) {
    this.#options = options;
    this.#sessionId = options.resumeId ?? crypto.randomUUID();
    const home = Deno.env.get("HOME") ?? "/tmp";
    // Like ~/.claude/projects/<escaped cwd>/<id>.jsonl: resume depends on cwd.
    const project = Deno.cwd().replace(/[^a-zA-Z0-9]/g, "-");
    const configDir = Deno.env.get("CLAUDE_CONFIG_DIR");
    this.#historyFile = configDir
      ? join(configDir, "projects", project, `${this.#sessionId}.jsonl`)
      : join(
        Deno.env.get("FAKE_CLAUDE_STATE_DIR") ?? join(home, ".fake-claude"),
        project,
        `${this.#sessionId}.json`,
      );
    this.#readyAt = Date.now() +
      Number(Deno.env.get("FAKE_CLAUDE_START_DELAY_MS") ?? 0);
    this.#charsPerSec = Number(Deno.env.get("FAKE_CLAUDE_CHARS_PER_SEC") ?? 0);
    this.#firstTokenMs = Number(
      Deno.env.get("FAKE_CLAUDE_FIRST_TOKEN_MS") ?? 0,
    );
    this.#isLoggingTimes = Deno.env.get("FAKE_CLAUDE_LOG_TIMES") === "1";
  }

  /** Handles one stdin line; control messages act at once, turns queue. */
  receive(line: string): void {
    const receivedAt = epochMs();
    if (line.trim() === "") return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.#failInput(line, String(error));
    }
    if (typeof message !== "object" || message === null) {
      this.#failInput(line, "not a JSON object");
    }
    appendLog({ pid: Deno.pid, stdin: message, ...this.#timeOf(receivedAt) });
    const input = message as Json;
    const body =
      (input.message ?? input.request ?? input.response ?? {}) as Json;
    if (input.type === "user") {
      this.#turns = this.#turns.then(() => this.#runTurn(body.content));
    } else if (input.type === "control_request") {
      this.#onControlRequest(String(input.request_id), body);
    } else if (input.type === "control_response") {
      this.#onPermissionAnswer(body);
    }
  }

  // One bad stdin line is fatal for the real CLI too.
  #failInput(line: string, detail: string): never {
    writeStderr(`Error parsing streaming input line: ${line}: ${detail}`);
    Deno.exit(1);
  }

  /** stdin EOF: the running and queued turns finish, then the process exits. */
  async finish(): Promise<never> {
    await this.#turns;
    Deno.exit(this.#isLastResultError ? 1 : 0);
  }

  /** SIGINT: interrupts the running turn, then exits 0 like the real CLI. */
  async interruptAndExit(): Promise<never> {
    this.#isExiting = true;
    const current = this.#current;
    if (current) {
      current.turn.controller.abort();
      await current.done;
    }
    Deno.exit(0);
  }

  /** SIGTERM: exits 143 at once, flushing the prompt of a running turn. */
  terminate(): never {
    const current = this.#current;
    if (current && this.#earlierMessages) {
      this.#saveHistory([...this.#earlierMessages, current.turn.userText]);
    }
    Deno.exit(143);
  }

  #onControlRequest(requestId: string, request: Json): void {
    if (request.subtype !== "interrupt") {
      this.#print({
        type: "control_response",
        response: {
          subtype: "error",
          request_id: requestId,
          error: `Unsupported control request subtype: ${request.subtype}`,
        },
      });
      return;
    }
    this.#print({
      type: "control_response",
      response: { subtype: "success", request_id: requestId },
    });
    this.#current?.turn.controller.abort();
  }

  #onPermissionAnswer(response: Json): void {
    this.#pendingPermissions.get(String(response.request_id))?.(response);
  }

  async #runTurn(content: unknown): Promise<void> {
    if (this.#isExiting) return;
    const startDelayMs = this.#readyAt - Date.now();
    if (startDelayMs > 0) await sleep(startDelayMs);
    this.#earlierMessages ??= this.#loadHistory();
    const turn: Turn = {
      userText: userTextOf(content),
      startedAt: Date.now(),
      controller: new AbortController(),
      apiCalls: 0,
      outputChars: 0,
      lastText: "",
      apiErrorStatus: null,
      isWaitingForTool: false,
      permissionDenials: [],
      extraFields: {},
    };
    const done = this.#playTurn(turn);
    this.#current = { turn, done };
    await done;
    this.#current = undefined;
  }

  #loadHistory(): string[] {
    const resumeId = this.#options.resumeId;
    if (resumeId === undefined) return [];
    const saved = UUID_PATTERN.test(resumeId)
      ? readHistoryIfExists(this.#historyFile)
      : undefined;
    if (saved === undefined) this.#failResume(resumeId);
    return saved.userMessages;
  }

  #failResume(resumeId: string): never {
    const message = `No conversation found with session ID: ${resumeId}`;
    writeStderr(message);
    this.#print({
      type: "result",
      subtype: "error_during_execution",
      duration_ms: 0,
      duration_api_ms: 0,
      is_error: true,
      num_turns: 0,
      stop_reason: null,
      session_id: resumeId,
      total_cost_usd: 0,
      usage: apiUsage(0, 0),
      modelUsage: {},
      permission_denials: [],
      uuid: crypto.randomUUID(),
      errors: [message],
    });
    Deno.exit(1);
  }

  async #playTurn(turn: Turn): Promise<void> {
    this.#printInit(turn);
    try {
      await this.#reply(turn);
      this.#printResult(turn, {
        subtype: "success",
        isError: turn.apiErrorStatus !== null,
        terminalReason: "completed",
      });
    } catch (error) {
      if (!turn.controller.signal.aborted) throw error;
      this.#printInterrupted(turn);
    }
    this.#earlierMessages = [...this.#earlierMessages ?? [], turn.userText];
    this.#saveHistory(this.#earlierMessages);
  }

  async #reply(turn: Turn): Promise<void> {
    const [, directive = "", argument = ""] =
      /^(![a-z-]+)\s*(.*)$/s.exec(turn.userText.trimStart()) ?? [];
    const count = Number.parseInt(argument, 10);
    switch (directive) {
      case "!history":
        return await this.#message(turn, [
          textBlock(JSON.stringify(this.#earlierMessages)),
        ]);
      case "!slow":
        return await this.#slowReply(turn, Number.isNaN(count) ? 1000 : count);
      case "!long": {
        const markdown = longMarkdown(Number.isNaN(count) ? 5000 : count);
        return await this.#message(turn, splitInThree(markdown).map(textBlock));
      }
      case "!tools": {
        const longChars = /!long\s+(\d+)/.exec(argument)?.[1];
        return await this.#toolsReply(turn, {
          count: Number.isNaN(count) ? 1 : count,
          longChars: longChars === undefined ? undefined : Number(longChars),
        });
      }
      case "!crash":
        return this.#crash(turn);
      case "!hang":
        return await unlessAborted(
          new Promise<never>(() => {}),
          turn.controller.signal,
        );
      case "!garbage":
        return await this.#garbageReply(turn);
      case "!error":
        return this.#apiError(turn);
      case "!tool-sleep":
        return await this.#toolSleepReply(turn, argument.trim() || "60");
      case "!ask":
        return await this.#askReply(turn);
      default:
        return await this.#message(turn, [textBlock(`echo: ${turn.userText}`)]);
    }
  }

  async #slowReply(turn: Turn, durationMs: number): Promise<void> {
    // The first delta comes at once so a test can interrupt mid-stream.
    await this.#message(turn, [textBlock("slow reply")], {
      chunkChars: 1,
      delayMs: (_chunk, index, chunkCount) =>
        index === 0 ? 0 : durationMs / (chunkCount - 1),
    });
  }

  async #toolsReply(
    turn: Turn,
    { count, longChars }: { count: number; longChars?: number },
  ): Promise<void> {
    for (let n = 1; n <= count; n++) {
      const toolUse = this.#bashToolUse(`ls -la src/${n}`, `List src/${n}`);
      const intro = n === 1 ? [textBlock("Let me look at the sources.")] : [];
      await this.#message(turn, [...intro, toolUse]);
      this.#printToolResult(turn, toolUse.id, directoryListing(n), false);
    }
    const answer = longChars === undefined
      ? [`Looked at ${count} directories.`]
      : splitInThree(longMarkdown(longChars));
    await this.#message(turn, answer.map(textBlock));
  }

  #crash(turn: Turn): never {
    const text = "Working on it";
    if (this.#options.includePartialMessages) {
      this.#printStreamEvent(turn, {
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text },
      });
    } else {
      this.#printAssistant(turn, "msg_fake_crash", "req_fake_crash", [
        textBlock(text),
      ]);
    }
    writeStderr(
      "\x1b[31mpanic\x1b[0m: fake crash \u0000\ufffd{not json\n" +
        "    at <anonymous> (fake_claude.ts:1:1)",
    );
    Deno.exit(3);
  }

  async #garbageReply(turn: Turn): Promise<void> {
    this.#printRaw("this line is not JSON {");
    this.#printRaw(`{"type":"mystery_event"}`);
    this.#printRaw("[1, 2, 3]");
    turn.extraFields = {
      future_field: { nested: [1, "two"] },
      another_new_flag: true,
    };
    await this.#message(turn, [textBlock(`echo: ${turn.userText}`)]);
    this.#printRaw(`{"type":"assistant","message":`);
  }

  #apiError(turn: Turn): void {
    const text = "API Error: 500 " + JSON.stringify({
      type: "error",
      error: { type: "api_error", message: "Internal server error" },
    });
    turn.apiErrorStatus = 500;
    turn.lastText = text;
    this.#print({
      type: "assistant",
      message: {
        id: crypto.randomUUID(),
        container: null,
        model: "<synthetic>",
        role: "assistant",
        stop_reason: "stop_sequence",
        stop_sequence: "",
        type: "message",
        usage: apiUsage(0, 0),
        content: [textBlock(text)],
        context_management: null,
      },
      parent_tool_use_id: null,
      session_id: this.#sessionId,
      uuid: crypto.randomUUID(),
      error: "server_error",
    }, turn);
  }

  async #toolSleepReply(turn: Turn, seconds: string): Promise<void> {
    const toolUse = this.#bashToolUse(`sleep ${seconds}`, "Sleep");
    await this.#message(turn, [toolUse]);
    // Like the Bash tool: its own session, the CLI's environment, not waited.
    const sleeper = new Deno.Command("setsid", {
      args: ["sleep", seconds],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    sleeper.unref();
    this.#printToolResult(turn, toolUse.id, `sleep pid: ${sleeper.pid}`, false);
    await this.#message(turn, [textBlock(`started sleep ${sleeper.pid}`)]);
  }

  async #askReply(turn: Turn): Promise<void> {
    const commands = turn.userText.split("&&")
      .map((part) => part.trim().replace(/^!ask\s*/, ""));
    const toolUses = commands.map((command) =>
      this.#bashToolUse(command, `Run ${command}`)
    );
    await this.#message(turn, [
      textBlock("I need to run a command."),
      ...toolUses,
    ]);
    turn.isWaitingForTool = true;
    const answers = await Promise.all(
      toolUses.map((toolUse) => this.#decidePermission(turn, toolUse)),
    );
    turn.isWaitingForTool = false;
    const lines = answers.map((answer, i) => {
      const toolUse = toolUses[i];
      if (answer.behavior === "allow") {
        this.#printToolResult(
          turn,
          toolUse.id,
          `ran: ${answer.command}`,
          false,
        );
        return `Allowed: ${answer.command}`;
      }
      turn.permissionDenials.push({
        tool_name: toolUse.name,
        tool_use_id: toolUse.id,
        tool_input: toolUse.input,
      });
      this.#printToolResult(turn, toolUse.id, answer.message, true);
      return `Denied: ${answer.message}`;
    });
    await this.#message(turn, [textBlock(lines.join("\n"))]);
  }

  async #decidePermission(
    turn: Turn,
    toolUse: ToolUseBlock,
  ): Promise<PermissionAnswer> {
    const { command } = toolUse.input;
    const isPreapproved =
      this.#options.permissionMode === "bypassPermissions" ||
      this.#options.allowedTools.some((tool) =>
        tool === "Bash" || tool.startsWith("Bash(")
      );
    if (isPreapproved) return { behavior: "allow", command };
    if (!this.#options.hasStdioPermissionPrompt) {
      // In -p mode without a prompt tool the CLI denies on its own.
      return {
        behavior: "deny",
        message: "Claude requested permissions to use Bash, but you haven't " +
          "granted it yet.",
      };
    }
    const requestId = crypto.randomUUID();
    const response = new Promise<Json>((resolve) => {
      this.#pendingPermissions.set(requestId, resolve);
    });
    this.#print({
      type: "control_request",
      request_id: requestId,
      request: {
        subtype: "can_use_tool",
        tool_name: "Bash",
        display_name: "Bash",
        input: toolUse.input,
        description: toolUse.input.description,
        permission_suggestions: [{
          type: "addRules",
          rules: [{ toolName: "Bash", ruleContent: command }],
          behavior: "allow",
          destination: "localSettings",
        }],
        tool_use_id: toolUse.id,
      },
    }, turn);
    try {
      const answer = await unlessAborted(response, turn.controller.signal);
      return permissionAnswerOf(answer, command);
    } finally {
      this.#pendingPermissions.delete(requestId);
    }
  }

  #bashToolUse(command: string, description: string): ToolUseBlock {
    return {
      type: "tool_use",
      id: `toolu_fake_${crypto.randomUUID().slice(0, 8)}`,
      name: "Bash",
      input: { command, description },
    };
  }

  /** Plays one API response: a message of blocks, streamed when asked to. */
  async #message(
    turn: Turn,
    blocks: Block[],
    pace: Pace = this.#defaultPace(),
  ): Promise<void> {
    const signal = turn.controller.signal;
    this.#messageCount++;
    const messageId = `msg_fake_${String(this.#messageCount).padStart(4, "0")}`;
    const requestId = `req_fake_${this.#messageCount}`;
    const isStreaming = this.#options.includePartialMessages;
    if (isStreaming) {
      this.#print({
        type: "system",
        subtype: "status",
        status: "requesting",
        uuid: crypto.randomUUID(),
        session_id: this.#sessionId,
      }, turn);
      this.#printStreamEvent(turn, {
        type: "message_start",
        message: this.#apiMessage(messageId, []),
      });
    }
    for (const [index, block] of blocks.entries()) {
      if (isStreaming) {
        this.#printStreamEvent(turn, {
          type: "content_block_start",
          index,
          content_block: block.type === "text"
            ? textBlock("")
            : { ...block, input: {} },
        });
      }
      if (block.type === "text") {
        const chunks = chunksOf(block.text, pace.chunkChars);
        for (const [i, chunk] of chunks.entries()) {
          const isFirstToken = turn.outputChars === 0 && i === 0;
          await pause(
            pace.delayMs(chunk, i, chunks.length) +
              (isFirstToken ? this.#firstTokenMs : 0),
            signal,
          );
          if (isStreaming) {
            this.#printStreamEvent(turn, {
              type: "content_block_delta",
              index,
              delta: { type: "text_delta", text: chunk },
            });
            if (this.#isLoggingTimes) {
              appendLog({
                pid: Deno.pid,
                delta: chunk.length,
                block: index,
                t: epochMs(),
              });
            }
          }
        }
        turn.lastText = block.text;
        turn.outputChars += block.text.length;
      } else if (isStreaming) {
        this.#printStreamEvent(turn, {
          type: "content_block_delta",
          index,
          delta: {
            type: "input_json_delta",
            partial_json: JSON.stringify(block.input),
          },
        });
      }
      // As observed: the full block comes before its content_block_stop.
      this.#printAssistant(turn, messageId, requestId, [block]);
      if (isStreaming) {
        this.#printStreamEvent(turn, { type: "content_block_stop", index });
      }
    }
    if (isStreaming) {
      this.#printStreamEvent(turn, {
        type: "message_delta",
        delta: {
          stop_reason: blocks.at(-1)?.type === "tool_use"
            ? "tool_use"
            : "end_turn",
          stop_sequence: null,
        },
        usage: { output_tokens: Math.ceil(turn.outputChars / 4) },
      });
      this.#printStreamEvent(turn, { type: "message_stop" });
    }
    turn.apiCalls++;
  }

  #defaultPace(): Pace {
    const charsPerSec = this.#charsPerSec;
    return {
      chunkChars: DELTA_CHARS,
      delayMs: (chunk) =>
        charsPerSec > 0 ? chunk.length * 1000 / charsPerSec : 0,
    };
  }

  #apiModel(): string {
    return this.#options.model.replace(/\[1m\]$/, "");
  }

  #apiMessage(id: string, content: Block[]): Json {
    return {
      id,
      type: "message",
      role: "assistant",
      model: this.#apiModel(),
      content,
      stop_reason: null,
      stop_sequence: null,
      usage: apiUsage(this.#inputTokensPerCall(), 1),
    };
  }

  #inputTokensPerCall(): number {
    return 1600 + 40 * (this.#earlierMessages?.length ?? 0);
  }

  #printInit(turn: Turn): void {
    this.#print({
      type: "system",
      subtype: "init",
      cwd: Deno.cwd(),
      session_id: this.#sessionId,
      tools: ["Task", "Bash", "Edit", "Read", "Write"],
      mcp_servers: [],
      model: this.#options.model,
      permissionMode: this.#options.permissionMode,
      slash_commands: ["compact", "context", "usage"],
      apiKeySource: "none",
      claude_code_version: CLI_VERSION,
      output_style: "default",
      agents: [],
      skills: [],
      plugins: [],
      uuid: crypto.randomUUID(),
      fast_mode_state: "off",
    }, turn);
  }

  #printAssistant(
    turn: Turn,
    messageId: string,
    requestId: string,
    content: Block[],
  ): void {
    this.#print({
      type: "assistant",
      message: {
        ...this.#apiMessage(messageId, content),
        context_management: null,
      },
      parent_tool_use_id: null,
      session_id: this.#sessionId,
      uuid: crypto.randomUUID(),
      request_id: requestId,
    }, turn);
  }

  #printStreamEvent(turn: Turn, event: Json): void {
    this.#print({
      type: "stream_event",
      event,
      session_id: this.#sessionId,
      parent_tool_use_id: null,
      uuid: crypto.randomUUID(),
    }, turn);
  }

  #printToolResult(
    turn: Turn,
    toolUseId: string,
    content: string,
    isError: boolean,
  ): void {
    this.#print({
      type: "user",
      message: {
        role: "user",
        content: [{
          tool_use_id: toolUseId,
          type: "tool_result",
          content,
          is_error: isError,
        }],
      },
      parent_tool_use_id: null,
      session_id: this.#sessionId,
      uuid: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      tool_use_result: isError ? `Error: ${content}` : {
        stdout: content,
        stderr: "",
        interrupted: false,
        isImage: false,
        noOutputExpected: false,
      },
    }, turn);
  }

  #printInterrupted(turn: Turn): void {
    const marker = turn.isWaitingForTool
      ? "[Request interrupted by user for tool use]"
      : "[Request interrupted by user]";
    this.#print({
      type: "user",
      message: { role: "user", content: [textBlock(marker)] },
      parent_tool_use_id: null,
      session_id: this.#sessionId,
      uuid: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
    }, turn);
    this.#printResult(turn, {
      subtype: "error_during_execution",
      isError: true,
      terminalReason: turn.isWaitingForTool
        ? "aborted_tools"
        : "aborted_streaming",
      errors: [
        "[ede_diagnostic] result_type=user last_content_type=n/a " +
        "stop_reason=null",
      ],
    });
  }

  #printResult(
    turn: Turn,
    end: {
      subtype: string;
      isError: boolean;
      terminalReason: string;
      errors?: string[];
    },
  ): void {
    // Cost and modelUsage are cumulative for the process, usage per turn,
    // as the real CLI reports them. Only completed API calls cost money.
    const inputTokens = turn.apiCalls * this.#inputTokensPerCall();
    const outputTokens = Math.ceil(turn.outputChars / 4);
    if (turn.apiCalls > 0) {
      this.#totalCostUsd = Math.round(
        (this.#totalCostUsd + COST_PER_TURN_USD) * 1e6,
      ) / 1e6;
      this.#totalInputTokens += inputTokens;
      this.#totalOutputTokens += outputTokens;
    }
    const modelUsage = this.#totalCostUsd === 0 ? {} : {
      [this.#options.model]: {
        inputTokens: this.#totalInputTokens,
        outputTokens: this.#totalOutputTokens,
        cacheReadInputTokens: 0,
        cacheCreationInputTokens: 0,
        webSearchRequests: 0,
        costUSD: this.#totalCostUsd,
        contextWindow: CONTEXT_WINDOW,
        maxOutputTokens: 64000,
      },
    };
    const isSuccess = end.subtype === "success";
    const emittedAt = epochMs();
    this.#print({
      type: "result",
      subtype: end.subtype,
      is_error: end.isError,
      api_error_status: turn.apiErrorStatus,
      duration_ms: Date.now() - turn.startedAt,
      duration_api_ms: 0,
      num_turns: Math.max(1, turn.apiCalls),
      ...(isSuccess && { result: turn.lastText }),
      stop_reason: isSuccess ? "end_turn" : null,
      session_id: this.#sessionId,
      total_cost_usd: this.#totalCostUsd,
      usage: apiUsage(inputTokens, outputTokens),
      modelUsage,
      permission_denials: turn.permissionDenials,
      terminal_reason: end.terminalReason,
      fast_mode_state: "off",
      uuid: crypto.randomUUID(),
      ...(end.errors && { errors: end.errors }),
    }, turn);
    this.#isLastResultError = end.isError;
    // Logged after the line is out, so the log write never delays it.
    if (this.#isLoggingTimes) {
      appendLog({ pid: Deno.pid, result: end.subtype, t: emittedAt });
    }
  }

  #timeOf(at: number): Json {
    return this.#isLoggingTimes ? { t: at } : {};
  }

  #print(event: Json, turn?: Turn): void {
    this.#printRaw(JSON.stringify({ ...event, ...turn?.extraFields }));
  }

  #printRaw(line: string): void {
    writeAll(Deno.stdout, `${line}\n`);
  }

  #saveHistory(userMessages: string[]): void {
    Deno.mkdirSync(dirname(this.#historyFile), { recursive: true });
    const sessionId = this.#sessionId;
    const cwd = Deno.cwd();
    Deno.writeTextFileSync(
      this.#historyFile,
      this.#historyFile.endsWith(".jsonl")
        // The real CLI's records (claude-cli.md §6), user prompts only.
        ? userMessages.map((text) =>
          `${
            JSON.stringify({
              type: "user",
              message: { role: "user", content: text },
              uuid: crypto.randomUUID(),
              timestamp: new Date().toISOString(),
              cwd,
              sessionId,
              version: CLI_VERSION,
            })
          }\n`
        ).join("")
        : JSON.stringify({ sessionId, cwd, userMessages }),
    );
  }
}

function apiUsage(inputTokens: number, outputTokens: number): Json {
  return {
    input_tokens: inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: outputTokens,
    server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
    service_tier: "standard",
  };
}

// Synchronous writes keep stdout lines in order and flushed before any exit.
function writeAll(
  file: { writeSync(bytes: Uint8Array): number },
  text: string,
) {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
}

function writeStderr(text: string): void {
  writeAll(Deno.stderr, `${text}\n`);
}

// Epoch ms with sub-ms precision, comparable across processes on one machine.
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

function appendLog(entry: Json): void {
  const logFile = Deno.env.get("FAKE_CLAUDE_LOG");
  if (logFile) {
    Deno.writeTextFileSync(logFile, `${JSON.stringify(entry)}\n`, {
      append: true,
    });
  }
}

// The fake's own JSON, or the user prompts of the real CLI's records (.jsonl).
function readHistoryIfExists(
  path: string,
): { userMessages: string[] } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  if (!path.endsWith(".jsonl")) return JSON.parse(text);
  const userMessages = text.split("\n").filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((record) =>
      record.type === "user" && typeof record.message?.content === "string"
    )
    .map((record) => record.message.content as string);
  return { userMessages };
}

async function main(): Promise<void> {
  appendLog({
    pid: Deno.pid,
    argv: Deno.args,
    cwd: Deno.cwd(),
    envKeys: Object.keys(Deno.env.toObject()).sort(),
    marker: Deno.env.get("CLAUDE_TELEGRAM_MARKER") ?? null,
    // When the process started (benchmarks time the CLI's own start).
    ...(Deno.env.get("FAKE_CLAUDE_LOG_TIMES") === "1" &&
      { t: performance.timeOrigin }),
  });
  let options: Options;
  try {
    options = parseArgs(Deno.args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeStderr(error.message);
    Deno.exit(1);
  }
  const cli = new FakeClaude(options);
  // A listener replaces the default action, so ignoring SIGTERM is a no-op one.
  const ignoresSigterm = Deno.env.get("FAKE_CLAUDE_IGNORE_SIGTERM") === "1";
  Deno.addSignalListener("SIGTERM", () => {
    if (!ignoresSigterm) cli.terminate();
  });
  Deno.addSignalListener("SIGINT", () => void cli.interruptAndExit());
  for await (const line of createInterface({ input: process.stdin })) {
    cli.receive(line);
  }
  await cli.finish();
}

await main();
