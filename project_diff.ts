// How /diff reads in the chat: changed files with their +/− counts, the
// untracked ones, and the patch inline when it fits a message (else the
// caller attaches it as changes.diff).
import { truncate } from "./format.ts";
import type { DiffSummary } from "./git_diff.ts";
import { escapeHtml } from "./render.ts";

/** The /diff message, and the full patch when it did not fit in it. */
export interface DiffReport {
  html: string;
  /** The patch, to attach as changes.diff; undefined when the message holds it or there is none. */
  patch?: string;
}

/** A longer path is cut: one must not fill the message. */
const MAX_PATH_CHARS = 300;
/**
 * Room for the whole message: Telegram's limit is 4096 characters of text;
 * entities and escapes make the HTML a little longer than the text.
 */
const MAX_MESSAGE_CHARS = 3800;

/**
 * The /diff message of a working tree's changes.
 * @param options.title the session, as HTML
 */
export function diffReport(
  summary: DiffSummary,
  options: { title: string },
): DiffReport {
  const { changed, untracked, patch } = summary;
  if (changed.length === 0 && untracked.length === 0) {
    return {
      html:
        `No changes in ${options.title} against HEAD: the working tree is clean.`,
    };
  }
  const lines = [`<b>Changes</b> in ${options.title} against HEAD:`];
  // Each list gets half the room left for the file names.
  const room = (MAX_MESSAGE_CHARS - lines[0].length - 200) / 2;
  const changedShown = fit(
    changed.map((file) =>
      `• <code>${escapeHtml(truncate(file.path, MAX_PATH_CHARS))}</code> ${
        file.added === undefined ? "binary" : `+${file.added} −${file.deleted}`
      }`
    ),
    room,
  );
  lines.push(...changedShown);
  const isCut = changedShown.length < changed.length;
  if (isCut) {
    lines.push(`… and ${changed.length - changedShown.length} more file(s).`);
  }
  if (untracked.length > 0) {
    const untrackedShown = fit(
      untracked.map((path) =>
        `• <code>${escapeHtml(truncate(path, MAX_PATH_CHARS))}</code>`
      ),
      room,
    );
    lines.push(`Untracked (not in the patch):`, ...untrackedShown);
    if (untrackedShown.length < untracked.length) {
      lines.push(`… and ${untracked.length - untrackedShown.length} more.`);
    }
  }
  const list = lines.join("\n");
  if (patch === "") return { html: list };
  const inline = `${list}\n<pre><code class="language-diff">${
    escapeHtml(patch)
  }</code></pre>`;
  if (!isCut && inline.length <= MAX_MESSAGE_CHARS) return { html: inline };
  return { html: `${list}\nThe full patch is in changes.diff.`, patch };
}

/** The first of `lines` that fit in `chars`; always at least one. */
function fit(lines: readonly string[], chars: number): string[] {
  const shown: string[] = [];
  let used = 0;
  for (const line of lines) {
    used += line.length + 1;
    if (used > chars && shown.length > 0) break;
    shown.push(line);
  }
  return shown;
}
