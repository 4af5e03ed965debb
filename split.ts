// Cuts rendered Telegram HTML into messages that each fit Telegram's length
// limit and each parse on their own (tags closed at a cut, reopened after it).

/** Telegram's maximum message length. */
export const TELEGRAM_MESSAGE_LIMIT = 4096;

/** A piece of HTML that is never cut: a tag, an entity or one code point. */
type Atom =
  | { readonly kind: "text"; readonly html: string }
  | { readonly kind: "open"; readonly html: string; readonly closeHtml: string }
  | { readonly kind: "close"; readonly html: string };

type OpenAtom = Extract<Atom, { kind: "open" }>;

/** Places to cut, best first: between paragraphs, lines, words. */
type BreakKind = "paragraph" | "line" | "word";
const BREAK_PREFERENCE: readonly BreakKind[] = ["paragraph", "line", "word"];

interface BreakCandidate {
  readonly kind: BreakKind;
  /** Index of the whitespace atom the cut drops. */
  readonly index: number;
  /** Chunk length if cut here. */
  readonly length: number;
}

const ATOM_PATTERN =
  /<\/?[A-Za-z][A-Za-z0-9-]*(?:[^"'<>]|"[^"]*"|'[^']*')*>|&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);|[\s\S]/gu;
const TAG_NAME = /^<\/?([A-Za-z][A-Za-z0-9-]*)/;

/**
 * Splits Telegram HTML into chunks of at most `maxLength` characters of HTML source each (default TELEGRAM_MESSAGE_LIMIT).
 *
 * Lengths are UTF-16 code units, as Telegram counts them. Tags open at a cut
 * are closed at the end of one chunk and reopened at the start of the next;
 * when those tags alone would not leave room for text, the innermost ones are
 * left out of that chunk (losing formatting there, never text).
 * @param html Well-formed Telegram HTML, such as `renderMarkdown` output.
 * @throws {RangeError} if `maxLength` is not a positive integer, or is shorter than an entity of `html`.
 */
export function splitHtml(
  html: string,
  options: { maxLength?: number } = {},
): string[] {
  const maxLength = options.maxLength ?? TELEGRAM_MESSAGE_LIMIT;
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new RangeError(
      `Cannot split HTML: maxLength must be a positive integer, got ${maxLength}`,
    );
  }
  const atoms = tokenize(html);
  const chunks: string[] = [];
  let start = 0;
  let openTags: OpenAtom[] = [];
  while (start < atoms.length) {
    ({ start, openTags } = skipToText(atoms, start, openTags));
    if (start >= atoms.length) break;
    const plan = planChunk(atoms, start, openTags, maxLength);
    const chunk = renderChunk(atoms, start, plan.end, openTags, plan.kept);
    if (hasVisibleText(atoms, start, plan.end)) chunks.push(chunk);
    openTags = advanceOpenTags(atoms, start, plan.next, openTags);
    start = plan.next;
  }
  return chunks;
}

function tokenize(html: string): Atom[] {
  return Array.from(html.matchAll(ATOM_PATTERN), ([piece]): Atom => {
    const name = piece.startsWith("<") ? TAG_NAME.exec(piece)?.[1] : undefined;
    if (name === undefined) return { kind: "text", html: piece };
    if (piece.startsWith("</")) return { kind: "close", html: piece };
    return { kind: "open", html: piece, closeHtml: `</${name}>` };
  });
}

function isWhitespace(atom: Atom | undefined): boolean {
  return atom?.kind === "text" && /^\s$/.test(atom.html);
}

function isNewline(atom: Atom | undefined): boolean {
  return atom?.kind === "text" && atom.html === "\n";
}

/**
 * Moves a chunk's start past tags and blank lines to its first text atom, so
 * that every tag open there can be reopened (or dropped) as a unit.
 */
function skipToText(
  atoms: readonly Atom[],
  start: number,
  openTags: readonly OpenAtom[],
): { start: number; openTags: OpenAtom[] } {
  let index = start;
  const tags = [...openTags];
  for (;;) {
    const atom = atoms[index];
    if (atom?.kind === "open") {
      tags.push(atom);
      index++;
      continue;
    }
    if (atom?.kind === "close") {
      tags.pop();
      index++;
      continue;
    }
    let end = index;
    while (isWhitespace(atoms[end])) end++;
    const lastNewline = atoms.slice(index, end).findLastIndex(isNewline);
    // Keep the spaces after the last newline: they may be code indentation.
    if (lastNewline === -1) return { start: index, openTags: tags };
    index += lastNewline + 1;
  }
}

/** Chooses how many reopened tags fit, and where the chunk ends. */
function planChunk(
  atoms: readonly Atom[],
  start: number,
  openTags: readonly OpenAtom[],
  maxLength: number,
): { kept: number; end: number; next: number } {
  for (let kept = openTags.length; kept >= 0; kept--) {
    const overhead = openTags
      .slice(0, kept)
      .reduce((sum, tag) => sum + tag.html.length + tag.closeHtml.length, 0);
    const scan = scanFitting(atoms, start, { overhead, maxLength });
    if (scan.fitEnd === atoms.length) {
      return { kept, end: atoms.length, next: atoms.length };
    }
    if (scan.fitEnd > start) {
      return { kept, ...chooseCut(atoms, start, scan, maxLength) };
    }
  }
  throw new RangeError(
    `Cannot split HTML: maxLength ${maxLength} is too small for "${
      atoms[start].html
    }"`,
  );
}

/**
 * Walks forward from `start` while the chunk still fits. Costs are never
 * negative, so the first atom that does not fit ends the scan.
 */
function scanFitting(
  atoms: readonly Atom[],
  start: number,
  { overhead, maxLength }: { overhead: number; maxLength: number },
): { fitEnd: number; candidates: BreakCandidate[] } {
  const candidates: BreakCandidate[] = [];
  let length = overhead;
  let index = start;
  for (; index < atoms.length; index++) {
    // The whitespace a cut drops need not fit, so record breaks before fitting.
    const kind = breakKind(atoms, index);
    if (kind && index > start) candidates.push({ kind, index, length });
    const cost = atomCost(atoms[index]);
    if (length + cost > maxLength) break;
    length += cost;
  }
  return { fitEnd: index, candidates };
}

/**
 * Length an atom adds to a chunk. An open tag pays for its close tag up front,
 * so close tags are free: either already paid for or, for a tag left out of
 * this chunk, not emitted at all.
 */
function atomCost(atom: Atom): number {
  if (atom.kind === "open") return atom.html.length + atom.closeHtml.length;
  return atom.kind === "close" ? 0 : atom.html.length;
}

function breakKind(atoms: readonly Atom[], index: number): BreakKind | null {
  const atom = atoms[index];
  if (isNewline(atom)) {
    return isNewline(atoms[index - 1]) ? "paragraph" : "line";
  }
  return isWhitespace(atom) ? "word" : null;
}

/**
 * Takes the best kind of break that still fills at least half the chunk, so a
 * paragraph break near the start does not leave a tiny message; with no such
 * break (one very long word or line), cuts at the limit.
 */
function chooseCut(
  atoms: readonly Atom[],
  start: number,
  scan: { fitEnd: number; candidates: readonly BreakCandidate[] },
  maxLength: number,
): { end: number; next: number } {
  const { fitEnd, candidates } = scan;
  for (const kind of BREAK_PREFERENCE) {
    const cut = candidates.findLast((candidate) =>
      candidate.kind === kind && candidate.length >= maxLength / 2
    );
    if (cut) return { end: cut.index, next: cut.index + 1 };
  }
  // A hard cut: leave tags that would open on nothing for the next chunk.
  let end = fitEnd;
  while (end > start + 1 && atoms[end - 1].kind === "open") end--;
  return { end, next: end };
}

/** Emits atoms [start, end) with trailing whitespace trimmed and tags balanced. */
function renderChunk(
  atoms: readonly Atom[],
  start: number,
  end: number,
  openTags: readonly OpenAtom[],
  kept: number,
): string {
  let trimmedEnd = end;
  while (trimmedEnd > start && isWhitespace(atoms[trimmedEnd - 1])) {
    trimmedEnd--;
  }
  const emitted: (OpenAtom | null)[] = [
    ...openTags.slice(0, kept),
    ...openTags.slice(kept).map(() => null),
  ];
  let html = openTags.slice(0, kept).map((tag) => tag.html).join("");
  for (const atom of atoms.slice(start, trimmedEnd)) {
    if (atom.kind === "open") emitted.push(atom);
    if (atom.kind === "close" && emitted.pop() === null) continue;
    html += atom.html;
  }
  return html + emitted
    .filter((tag) => tag !== null)
    .reverse()
    .map((tag) => tag.closeHtml)
    .join("");
}

function hasVisibleText(
  atoms: readonly Atom[],
  start: number,
  end: number,
): boolean {
  return atoms
    .slice(start, end)
    .some((atom) => atom.kind === "text" && !isWhitespace(atom));
}

function advanceOpenTags(
  atoms: readonly Atom[],
  start: number,
  next: number,
  openTags: readonly OpenAtom[],
): OpenAtom[] {
  const tags = [...openTags];
  for (const atom of atoms.slice(start, next)) {
    if (atom.kind === "open") tags.push(atom);
    if (atom.kind === "close") tags.pop();
  }
  return tags;
}
