// Turns Claude's Markdown into the small HTML subset Telegram's parse_mode
// "HTML" accepts, and back into plain text when Telegram refuses it anyway.

import { Lexer, type Token, type Tokens } from "marked";

/** Link schemes Telegram opens; anything else (relative, javascript:) stays readable text. */
const LINKABLE_URL = /^(?:https?:|mailto:|tg:)/i;

/** Characters Telegram allows in a code block's language name. */
const LANGUAGE_DISALLOWED_CHARS = /[^A-Za-z0-9_+#.-]/g;

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
};

/** The only named entities Telegram accepts. */
const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  gt: ">",
  lt: "<",
  quot: '"',
};

const HORIZONTAL_RULE = "———";
const NESTED_LIST_INDENT = "  ";
const TABLE_COLUMN_SEPARATOR = " | ";

/** Escapes text for Telegram HTML (&, <, >). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>]/g, (char) => HTML_ESCAPES[char]);
}

/** Converts Claude's Markdown to Telegram's HTML subset. Never throws. */
export function renderMarkdown(markdown: string): string {
  let html: string;
  try {
    html = renderBlocks(new Lexer({ gfm: true }).lex(markdown), TOP_LEVEL);
  } catch {
    // marked can overflow the stack on absurdly deep nesting; escaped text is
    // still a message Telegram accepts, which beats losing the answer.
    html = escapeHtml(markdown);
  }
  // Telegram shows every newline; runs of blank lines only waste the screen.
  return html.replace(/\n{3,}/g, "\n\n").trimEnd();
}

/** One top-level block of Markdown: its source, and its HTML ("" for blank lines and link definitions). */
export interface MarkdownBlock {
  readonly raw: string;
  readonly html: string;
}

/**
 * Claude's Markdown as its top-level blocks, in order; their `raw` parts
 * make up the input exactly. Rendering blocks one by one and joining them
 * with a blank line is what renderMarkdown does, so a text cut between two
 * blocks renders as its two halves do. Never throws: input the lexer cannot
 * cut exactly is one block.
 */
export function markdownBlocks(markdown: string): MarkdownBlock[] {
  try {
    const tokens = new Lexer({ gfm: true }).lex(markdown);
    if (tokens.map((token) => token.raw).join("") === markdown) {
      return tokens.map((token) => ({
        raw: token.raw,
        html: renderBlock(token, TOP_LEVEL).replace(/\n{3,}/g, "\n\n")
          .trimEnd(),
      }));
    }
  } catch {
    // As in renderMarkdown: too deep for marked; one block is still right.
  }
  return [{ raw: markdown, html: renderMarkdown(markdown) }];
}

/** The plain text Telegram would display for Telegram HTML: tags dropped, entities decoded. Used to resend as plain text when Telegram refuses formatting. */
export function htmlToPlainText(html: string): string {
  return html
    .replace(/<\/?[A-Za-z][A-Za-z0-9-]*(?:[^"'>]|"[^"]*"|'[^']*')*>/g, "")
    .replace(
      /&(?:#([0-9]+)|#[xX]([0-9A-Fa-f]+)|(lt|gt|amp|quot));/g,
      (entity, decimal?: string, hex?: string, name?: string) => {
        if (name !== undefined) return NAMED_ENTITIES[name];
        const codePoint = decimal !== undefined
          ? Number.parseInt(decimal, 10)
          : Number.parseInt(hex ?? "", 16);
        return codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : entity;
      },
    );
}

function escapeAttribute(value: string): string {
  return escapeHtml(value).replaceAll('"', "&quot;");
}

/** Where a block sits: nested lists are indented, and Telegram cannot nest quotes. */
interface BlockContext {
  readonly listDepth: number;
  readonly isInQuote: boolean;
}

const TOP_LEVEL: BlockContext = { listDepth: 0, isInQuote: false };

function renderBlocks(tokens: readonly Token[], context: BlockContext): string {
  return tokens
    .map((token) => renderBlock(token, context))
    .filter((block) => block !== "")
    .join("\n\n");
}

function renderBlock(token: Token, context: BlockContext): string {
  switch (token.type) {
    case "space":
    case "def":
      return "";
    case "heading":
      return `<b>${renderInline(token.tokens ?? [])}</b>`;
    case "paragraph":
      return renderInline(token.tokens ?? []);
    case "code":
      return renderCodeBlock(token as Tokens.Code);
    case "blockquote":
      return renderQuote(token.tokens ?? [], context);
    case "list":
      return renderList(token as Tokens.List, context);
    case "table":
      return renderTable(token as Tokens.Table);
    case "hr":
      return HORIZONTAL_RULE;
    case "html":
      return escapeHtml(token.raw.trimEnd());
    default:
      return renderInline([token]);
  }
}

function renderQuote(tokens: readonly Token[], context: BlockContext): string {
  const inner = renderBlocks(tokens, { ...context, isInQuote: true });
  return context.isInQuote ? inner : `<blockquote>${inner}</blockquote>`;
}

function renderCodeBlock(token: Tokens.Code): string {
  // The info string may carry more than the language ("ts title=x").
  const infoWord = token.lang?.split(/\s/, 1)[0] ?? "";
  const language = infoWord.replace(LANGUAGE_DISALLOWED_CHARS, "");
  const open = language ? `<code class="language-${language}">` : "<code>";
  const code = token.text.replace(/\n+$/, "");
  return `<pre>${open}${escapeHtml(code)}</code></pre>`;
}

function renderList(list: Tokens.List, context: BlockContext): string {
  const indent = NESTED_LIST_INDENT.repeat(context.listDepth);
  const itemContext = { ...context, listDepth: context.listDepth + 1 };
  const start = typeof list.start === "number" ? list.start : 1;
  const separator = list.loose ? "\n\n" : "\n";
  return list.items
    .map((item, index) => {
      const number = list.ordered ? `${start + index}. ` : "";
      const bullet = item.task
        ? `${item.checked ? "☑" : "☐"} `
        : list.ordered
        ? ""
        : "• ";
      const body = item.tokens
        .filter((token) => token.type !== "checkbox")
        .map((token) => renderBlock(token, itemContext))
        .filter((block) => block !== "")
        .join(separator);
      return `${indent}${number}${bullet}${body}`.trimEnd();
    })
    .join(separator);
}

function renderTable(table: Tokens.Table): string {
  const rows = [table.header, ...table.rows].map((row) =>
    row.map((cell) => plainInline(cell.tokens).replace(/\s+/g, " ").trim())
  );
  const widths = table.header.map((_, column) =>
    Math.max(...rows.map((row) => displayWidth(row[column] ?? "")))
  );
  const lines = rows.map((row) =>
    widths
      .map((width, column) =>
        pad(row[column] ?? "", width, table.align[column] ?? null)
      )
      .join(TABLE_COLUMN_SEPARATOR)
      .trimEnd()
  );
  const rule = widths.map((width) => "-".repeat(width)).join("-+-");
  lines.splice(1, 0, rule);
  return `<pre>${escapeHtml(lines.join("\n"))}</pre>`;
}

function pad(
  text: string,
  width: number,
  align: "left" | "right" | "center" | null,
): string {
  const gap = width - displayWidth(text);
  if (align === "right") return " ".repeat(gap) + text;
  if (align === "center") {
    const left = Math.floor(gap / 2);
    return " ".repeat(left) + text + " ".repeat(gap - left);
  }
  return text + " ".repeat(gap);
}

/** East Asian wide characters and emoji take two monospace cells. */
const WIDE_GRAPHEME =
  /^(?:[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA960-\uA97F\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]|[\u{20000}-\u{3FFFD}]|\p{Extended_Pictographic})/u;

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

function displayWidth(text: string): number {
  let width = 0;
  for (const { segment } of graphemes.segment(text)) {
    width += WIDE_GRAPHEME.test(segment) ? 2 : 1;
  }
  return width;
}

function renderInline(tokens: readonly Token[]): string {
  return tokens.map(renderInlineToken).join("");
}

function renderInlineToken(token: Token): string {
  switch (token.type) {
    case "text":
      return token.tokens ? renderInline(token.tokens) : escapeHtml(token.text);
    case "escape":
      return escapeHtml(token.text);
    case "strong":
      return `<b>${renderInline(token.tokens ?? [])}</b>`;
    case "em":
      return `<i>${renderInline(token.tokens ?? [])}</i>`;
    case "del":
      return `<s>${renderInline(token.tokens ?? [])}</s>`;
    case "codespan":
      return `<code>${escapeHtml(token.text)}</code>`;
    case "br":
      return "\n";
    case "link":
      return renderLink(token.href, renderInline(token.tokens ?? []));
    case "image":
      return renderLink(
        token.href,
        escapeHtml(plainInline(token.tokens ?? [])),
      );
    case "html":
      return escapeHtml(token.raw);
    default: {
      const children = childTokensOf(token);
      return children ? renderInline(children) : escapeHtml(token.raw);
    }
  }
}

function renderLink(href: string, labelHtml: string): string {
  if (LINKABLE_URL.test(href)) {
    return `<a href="${escapeAttribute(href)}">${
      labelHtml || escapeHtml(href)
    }</a>`;
  }
  const url = escapeHtml(href);
  if (!labelHtml || labelHtml === url) return url;
  return href ? `${labelHtml} (${url})` : labelHtml;
}

/** The visible text of inline tokens, for places (table cells) that cannot hold tags. */
function plainInline(tokens: readonly Token[]): string {
  return tokens
    .map((token): string => {
      switch (token.type) {
        case "br":
          return " ";
        case "html":
          return token.raw;
        case "codespan":
        case "escape":
          return token.text;
        case "text":
          return token.tokens ? plainInline(token.tokens) : token.text;
        default: {
          const children = childTokensOf(token);
          return children ? plainInline(children) : token.raw;
        }
      }
    })
    .join("");
}

/** Nested tokens of formatting this module has no special case for. */
function childTokensOf(token: Token): Token[] | undefined {
  return "tokens" in token ? token.tokens : undefined;
}
