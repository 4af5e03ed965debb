// Validates Telegram HTML as strictly as the Bot API's parse_mode "HTML" does, so
// tests and the fake Bot API server catch 400 "can't parse entities" locally.

/** Tags Telegram's HTML parse mode understands. */
const SUPPORTED_TAGS = new Set([
  "a",
  "b",
  "blockquote",
  "code",
  "del",
  "em",
  "i",
  "ins",
  "pre",
  "s",
  "span",
  "strike",
  "strong",
  "tg-emoji",
  "tg-spoiler",
  "u",
]);

/** The only named entities the Bot API documents. */
const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  gt: ">",
  lt: "<",
  quot: '"',
};

const TAG_NAME = /[A-Za-z][A-Za-z0-9-]*/y;
const ATTRIBUTE_NAME = /[A-Za-z0-9_-]+/y;
const UNQUOTED_VALUE = /[^\s"'<>=`]+/y;
const ENTITY = /&(?:#([0-9]+)|#[xX]([0-9A-Fa-f]+)|([A-Za-z][A-Za-z0-9]*));/y;
const WHITESPACE = /\s*/y;

/**
 * Parses Telegram HTML like the Bot API does; returns the visible text.
 * @throws {SyntaxError} with a message like Telegram's "Can't parse entities: …" description when Telegram would refuse it.
 */
export function parseTelegramHtml(html: string): string {
  return new TelegramHtmlParser(html).parse();
}

class TelegramHtmlParser {
  readonly #html: string;
  #index = 0;
  #visible = "";
  /** Names of the tags open at #index, innermost last. */
  readonly #stack: string[] = [];

  constructor(html: string) {
    this.#html = html;
  }

  parse(): string {
    while (this.#index < this.#html.length) {
      const char = this.#html[this.#index];
      if (char === "<") this.#parseTag();
      else if (char === "&") this.#parseEntity();
      else {
        this.#visible += char;
        this.#index++;
      }
    }
    const unclosed = this.#stack.at(-1);
    if (unclosed) {
      this.#fail(
        `Can't find end tag corresponding to start tag "${unclosed}"`,
      );
    }
    return this.#visible;
  }

  #parseTag(): void {
    const tagStart = this.#index;
    this.#index++;
    if (this.#html[this.#index] === "/") {
      this.#index++;
      this.#parseEndTag(tagStart);
      return;
    }
    const name = this.#match(TAG_NAME)?.[0].toLowerCase();
    if (!name) {
      this.#fail(`Unexpected end of name token at byte offset`, tagStart);
    }
    if (!SUPPORTED_TAGS.has(name)) {
      this.#fail(`Unsupported start tag "${name}" at byte offset`, tagStart);
    }
    const attributes = this.#parseAttributes(name, tagStart);
    this.#checkAttributes(name, attributes, tagStart);
    this.#stack.push(name);
  }

  #parseEndTag(tagStart: number): void {
    const name = this.#match(TAG_NAME)?.[0].toLowerCase() ?? "";
    this.#match(WHITESPACE);
    if (this.#html[this.#index] !== ">") {
      this.#fail(`Unclosed end tag at byte offset`, tagStart);
    }
    this.#index++;
    const open = this.#stack.pop();
    if (!open) this.#fail(`Unexpected end tag at byte offset`, tagStart);
    if (open !== name) {
      this.#fail(
        `Unmatched end tag at byte offset ${this.#byteOffset(tagStart)}, ` +
          `expected "</${open}>", found "</${name}>"`,
      );
    }
  }

  #parseAttributes(tag: string, tagStart: number): Map<string, string> {
    const attributes = new Map<string, string>();
    for (;;) {
      this.#match(WHITESPACE);
      const char = this.#html[this.#index];
      if (char === undefined) {
        this.#fail(`Unclosed start tag at byte offset`, tagStart);
      }
      if (char === ">") {
        this.#index++;
        return attributes;
      }
      const name = this.#match(ATTRIBUTE_NAME)?.[0].toLowerCase();
      if (!name) {
        this.#fail(
          `Empty attribute name in the tag "${tag}" at byte offset`,
          tagStart,
        );
      }
      this.#match(WHITESPACE);
      let value = "";
      if (this.#html[this.#index] === "=") {
        this.#index++;
        this.#match(WHITESPACE);
        value = this.#parseAttributeValue(tagStart);
      }
      attributes.set(name, value);
    }
  }

  #parseAttributeValue(tagStart: number): string {
    const quote = this.#html[this.#index];
    if (quote !== '"' && quote !== "'") {
      const unquoted = this.#match(UNQUOTED_VALUE)?.[0];
      if (unquoted === undefined) {
        this.#fail(`Unclosed start tag at byte offset`, tagStart);
      }
      return unquoted;
    }
    const end = this.#html.indexOf(quote, this.#index + 1);
    if (end === -1) this.#fail(`Unclosed start tag at byte offset`, tagStart);
    const raw = this.#html.slice(this.#index + 1, end);
    this.#index = end + 1;
    return decodeAttributeEntities(raw);
  }

  #checkAttributes(
    tag: string,
    attributes: ReadonlyMap<string, string>,
    tagStart: number,
  ): void {
    const allowed = ALLOWED_ATTRIBUTES[tag] ?? [];
    for (const name of attributes.keys()) {
      if (!allowed.includes(name)) {
        this.#fail(
          `Unsupported attribute "${name}" in the tag "${tag}" at byte offset`,
          tagStart,
        );
      }
    }
    const className = attributes.get("class");
    if (tag === "span" && className !== "tg-spoiler") {
      this.#fail(
        `Tag "span" must have class "tg-spoiler" at byte offset`,
        tagStart,
      );
    }
    if (tag === "code" && className !== undefined) {
      if (!/^language-\S+$/.test(className)) {
        this.#fail(
          `Unsupported class "${className}" of the tag "code" at byte offset`,
          tagStart,
        );
      }
      if (this.#stack.at(-1) !== "pre") {
        this.#fail(
          `Tag "code" with a language must be directly inside "pre" at byte offset`,
          tagStart,
        );
      }
    }
    if (tag === "blockquote" && (attributes.get("expandable") ?? "") !== "") {
      this.#fail(
        `Attribute "expandable" of the tag "blockquote" must have no value at byte offset`,
        tagStart,
      );
    }
    if (
      tag === "tg-emoji" && !/^[0-9]+$/.test(attributes.get("emoji-id") ?? "")
    ) {
      this.#fail(`Custom emoji identifier expected at byte offset`, tagStart);
    }
  }

  #parseEntity(): void {
    const start = this.#index;
    const decoded = decodeEntityAt(this.#html, start);
    if (decoded === undefined) {
      this.#fail(
        `Character "&" does not start a supported HTML entity at byte offset`,
        start,
      );
    }
    this.#visible += decoded.text;
    this.#index = decoded.end;
  }

  #match(pattern: RegExp): RegExpExecArray | undefined {
    pattern.lastIndex = this.#index;
    const match = pattern.exec(this.#html) ?? undefined;
    if (match) this.#index = pattern.lastIndex;
    return match;
  }

  #byteOffset(index: number): number {
    return new TextEncoder().encode(this.#html.slice(0, index)).length;
  }

  /** Throws Telegram's refusal; a trailing "at byte offset" gets the offset of `at`. */
  #fail(description: string, at?: number): never {
    const where = at === undefined ? "" : ` ${this.#byteOffset(at)}`;
    throw new SyntaxError(`Can't parse entities: ${description}${where}`);
  }
}

/** Attributes each tag may carry; Telegram silently ignores others, we refuse them to catch renderer bugs. */
const ALLOWED_ATTRIBUTES: Record<string, readonly string[]> = {
  a: ["href"],
  blockquote: ["expandable"],
  code: ["class"],
  span: ["class"],
  "tg-emoji": ["emoji-id"],
};

/** Decodes the entity starting at `start`, or returns undefined when Telegram would not accept it. */
function decodeEntityAt(
  html: string,
  start: number,
): { text: string; end: number } | undefined {
  ENTITY.lastIndex = start;
  const match = ENTITY.exec(html);
  if (!match) return undefined;
  const [, decimal, hex, name] = match;
  let text: string | undefined;
  if (name !== undefined) text = NAMED_ENTITIES[name];
  else {
    const codePoint = decimal !== undefined
      ? Number.parseInt(decimal, 10)
      : Number.parseInt(hex, 16);
    const isSurrogate = codePoint >= 0xd800 && codePoint <= 0xdfff;
    if (codePoint > 0 && codePoint <= 0x10ffff && !isSurrogate) {
      text = String.fromCodePoint(codePoint);
    }
  }
  return text === undefined ? undefined : { text, end: ENTITY.lastIndex };
}

function decodeAttributeEntities(raw: string): string {
  let decoded = "";
  for (let index = 0; index < raw.length;) {
    const entity = raw[index] === "&" ? decodeEntityAt(raw, index) : undefined;
    if (entity) {
      decoded += entity.text;
      index = entity.end;
    } else {
      decoded += raw[index];
      index++;
    }
  }
  return decoded;
}
