// What an approval request looks like in the chat: the tool and the whole of
// its key input, with invisible and direction-changing characters shown as
// ⟨U+XXXX⟩; long input shows its start and end and comes along in full as a
// document. Always under Telegram's 4096 characters, as HTML and as plain text.
import { truncate } from "./format.ts";
import { escapeHtml } from "./render.ts";
import type { ClaudeEvent } from "./stream_json.ts";

type PermissionRequest = Extract<ClaudeEvent, { type: "permission_request" }>;

/** One request, ready to send. */
export interface RequestView {
  html: string;
  /** The same text without markup, for when Telegram refuses the HTML. */
  plain: string;
  /** The full input, when the message had to shorten some of it. */
  attachment?: { fileName: string; content: string; caption: string };
}

/**
 * Room for the shown input: with the title, the description and an outcome
 * line added later, the message stays under Telegram's 4096 characters.
 */
const COMMAND_CHARS = 3_000;
const PATH_CHARS = 1_000;
const QUERY_CHARS = 500;
const INPUT_JSON_CHARS = 1_500;
const DESCRIPTION_CHARS = 300;
const TOOL_NAME_CHARS = 100;

/**
 * Characters a reader cannot see or that reorder what they see: C0/C1
 * controls (the caller may keep newline and tab), soft hyphen, Arabic letter
 * mark, Mongolian vowel separator, zero-width and direction marks, line and
 * paragraph separators, bidi embeddings, overrides and isolates, invisible
 * operators, BOM, interlinear annotations and Unicode tag characters.
 */
const INVISIBLE =
  // deno-lint-ignore no-control-regex -- control characters are what it finds
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/u;

type Part = { style: "title" | "pre" | "code" | "italic"; text: string };

/** The request as the user sees it: tool, the whole key input, Claude's description. */
export function describeRequest(request: PermissionRequest): RequestView {
  const { toolName, input } = request;
  const parts: Part[] = [{
    style: "title",
    text: reveal(truncate(toolName, TOOL_NAME_CHARS), false),
  }];
  let isShortened = false;
  const show = (
    style: Part["style"],
    text: string,
    limit: number,
    keepLines: boolean,
  ) => {
    const shown = headAndTail(revealUnits(text, keepLines), limit);
    isShortened ||= shown.isShortened;
    parts.push({ style, text: shown.text });
  };
  const text = (name: string) =>
    typeof input[name] === "string" ? input[name] as string : undefined;
  const command = text("command");
  const path = text("file_path") ?? text("notebook_path") ?? text("path");
  if (command !== undefined) show("pre", command, COMMAND_CHARS, true);
  else if (path !== undefined) show("code", path, PATH_CHARS, false);
  const oldText = text("old_string");
  const newText = text("new_string") ?? text("content");
  if (newText !== undefined) {
    const count = (s?: string) => s === undefined ? 0 : s.split("\n").length;
    parts.push({
      style: "italic",
      text: `−${count(oldText)} +${count(newText)} lines`,
    });
  }
  const query = text("url") ?? text("pattern") ?? text("query");
  if (query !== undefined) show("code", query, QUERY_CHARS, false);
  if (command === undefined && path === undefined && query === undefined) {
    if (newText === undefined) {
      show("pre", JSON.stringify(input, null, 1), INPUT_JSON_CHARS, true);
    }
  }
  if (request.description) {
    parts.push({
      style: "italic",
      text: reveal(truncate(request.description, DESCRIPTION_CHARS), true),
    });
  }
  return {
    html: parts.map(toHtml).join("\n"),
    plain: parts.map(toPlain).join("\n"),
    attachment: isShortened ? fullInput(request, command) : undefined,
  };
}

function fullInput(
  request: PermissionRequest,
  command: string | undefined,
): RequestView["attachment"] {
  const caption = `The whole ${truncate(request.toolName, 100)} request`;
  return command === undefined
    ? {
      fileName: "input.json",
      content: JSON.stringify(request.input, null, 2),
      caption,
    }
    : { fileName: "command.txt", content: command, caption };
}

function toHtml(part: Part): string {
  const text = escapeHtml(part.text);
  switch (part.style) {
    case "title":
      return `🔐 Claude wants to use <b>${text}</b>`;
    case "pre":
      return `<pre>${text}</pre>`;
    case "code":
      return `<code>${text}</code>`;
    case "italic":
      return `<i>${text}</i>`;
  }
}

function toPlain(part: Part): string {
  return part.style === "title"
    ? `🔐 Claude wants to use ${part.text}`
    : part.text;
}

/** `text` with every invisible character written as ⟨U+XXXX⟩. */
function reveal(text: string, keepLines: boolean): string {
  return revealUnits(text, keepLines).join("");
}

/** The text as display units: one per code point, never half a surrogate pair. */
function revealUnits(text: string, keepLines: boolean): string[] {
  return Array.from(text, (char) => {
    if (keepLines && (char === "\n" || char === "\t")) return char;
    if (!INVISIBLE.test(char)) return char;
    const code = char.codePointAt(0)!.toString(16).toUpperCase();
    return `⟨U+${code.padStart(4, "0")}⟩`;
  });
}

/**
 * The units whole when they fit in `limit` characters; else the start and the
 * end with a line saying how much is left out between them.
 */
function headAndTail(
  units: string[],
  limit: number,
): { text: string; isShortened: boolean } {
  const length = units.reduce((sum, unit) => sum + unit.length, 0);
  if (length <= limit) return { text: units.join(""), isShortened: false };
  const half = Math.floor((limit - 80) / 2);
  const head = takeWhileFits(units, half);
  const tail = takeWhileFits([...units].reverse(), half).reverse();
  const omitted = units.length - head.length - tail.length;
  return {
    text: `${head.join("")}\n⋯ ${omitted} characters not shown: the whole ` +
      `request is attached ⋯\n${tail.join("")}`,
    isShortened: true,
  };
}

function takeWhileFits(units: string[], limit: number): string[] {
  const taken: string[] = [];
  let length = 0;
  for (const unit of units) {
    if (length + unit.length > limit) break;
    taken.push(unit);
    length += unit.length;
  }
  return taken;
}
