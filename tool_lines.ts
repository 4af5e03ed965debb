// How Claude's tool calls read in the chat: a compact log line per call and
// an excerpt of its result (verbose mode), or a one-line status (normal mode).
import { basename } from "node:path";
import { truncate } from "./format.ts";
import { escapeHtml } from "./render.ts";
import type { ClaudeEvent } from "./stream_json.ts";

type ToolUse = Extract<ClaudeEvent, { type: "tool_use" }>;
type ToolResult = Extract<ClaudeEvent, { type: "tool_result" }>;

/** Input fields that say what a call does, most telling first. */
const KEY_FIELDS = [
  "command",
  "file_path",
  "notebook_path",
  "pattern",
  "path",
  "url",
  "query",
  "description",
  "prompt",
];
const PATH_FIELDS = new Set(["file_path", "notebook_path", "path"]);
const SUMMARY_CHARS = 100;
const EXCERPT_LINES = 3;
const EXCERPT_LINE_CHARS = 120;

/** The key argument of a call (the Bash command, the file path, the search pattern); "" if none. */
export function toolSummary(event: ToolUse): string {
  const field = KEY_FIELDS.find((name) =>
    typeof event.input[name] === "string"
  );
  if (field === undefined) return "";
  const value = String(event.input[field]);
  if (PATH_FIELDS.has(field) && value.length > SUMMARY_CHARS) {
    // The end of a path names the file; its start is the same every time.
    return `…${value.slice(-(SUMMARY_CHARS - 1))}`;
  }
  const [firstLine] = value.split("\n");
  return truncate(
    firstLine === value ? value : `${firstLine} …`,
    SUMMARY_CHARS,
  );
}

/** The verbose log line of a call: `⚙️ <b>Bash</b> <code>npm test</code>`. */
export function toolLineHtml(event: ToolUse): string {
  const summary = toolSummary(event);
  return `⚙️ <b>${escapeHtml(event.name)}</b>${
    summary ? ` <code>${escapeHtml(summary)}</code>` : ""
  }`;
}

/** The first lines of a result as a quote, marking what was cut; "" for no output. */
export function toolResultHtml(event: ToolResult): string {
  const lines = event.content.trimEnd().split("\n");
  if (lines.length === 1 && lines[0].trim() === "") return "";
  const shown = lines.slice(0, EXCERPT_LINES)
    .map((line) => truncate(line, EXCERPT_LINE_CHARS));
  const cut = lines.length - shown.length;
  if (cut > 0) shown.push(`… ${cut} more line${cut === 1 ? "" : "s"}`);
  return `<blockquote>${event.isError ? "❌ " : ""}${
    escapeHtml(shown.join("\n"))
  }</blockquote>`;
}

/** Normal mode's status of a running call: "Running Bash: npm test…", "Editing main.ts…". */
export function toolStatus(event: ToolUse): string {
  const summary = toolSummary(event);
  const file = typeof event.input.file_path === "string"
    ? basename(event.input.file_path)
    : summary;
  switch (event.name) {
    case "Edit":
    case "MultiEdit":
    case "NotebookEdit":
    case "Write":
      return `Editing ${file}…`;
    case "Read":
      return `Reading ${file}…`;
    case "Grep":
    case "Glob":
      return `Searching for ${summary}…`;
    case "WebFetch":
      return `Fetching ${summary}…`;
    case "WebSearch":
      return `Searching the web for ${summary}…`;
    case "TodoWrite":
      return "Updating the to-do list…";
    default:
      return `Running ${event.name}${summary ? `: ${summary}` : ""}…`;
  }
}
