// What changed in a working tree against HEAD, for /diff: per-file line
// counts, the untracked files, and the full patch text.
import { type Git, inspectWorkingTree } from "./git.ts";

/** One tracked file that differs from HEAD. */
export interface FileChange {
  /** Path relative to the working tree's top. */
  path: string;
  /** Lines added; undefined for a binary file. */
  added?: number;
  /** Lines deleted; undefined for a binary file. */
  deleted?: number;
}

/** The changes of a working tree against its HEAD. */
export interface DiffSummary {
  /** Tracked files that differ from HEAD (staged or not), in git's order. */
  changed: FileChange[];
  /** Untracked files that are not ignored, relative to the top. */
  untracked: string[];
  /**
   * `git diff HEAD` of the tracked files; empty when none changed. Untracked
   * files are not in it, as with git.
   */
  patch: string;
}

/**
 * Options every diff here runs with: renames as delete + add so each line
 * names one path, and no external diff or textconv programs from the user's
 * config (they could be slow or interactive).
 */
const DIFF_OPTIONS = [
  "--no-renames",
  "--no-ext-diff",
  "--no-textconv",
  "--no-color",
];

/**
 * Summarises what changed in the working tree at `dir` against its HEAD (in
 * a repository without commits yet: against nothing).
 * @throws {NotAGitRepositoryError} when `dir` is not the top of a working tree
 * @throws {GitCommandError} when git fails
 */
export async function diffSummary(git: Git, dir: string): Promise<DiffSummary> {
  await inspectWorkingTree(git, dir);
  const base = await diffBase(git, dir);
  const numstat = await git.run(dir, [
    "diff",
    "--numstat",
    "-z",
    ...DIFF_OPTIONS,
    base,
    "--",
  ]);
  const patch = await git.run(dir, ["diff", ...DIFF_OPTIONS, base, "--"]);
  const untracked = await git.run(dir, [
    "ls-files",
    "--others",
    "--exclude-standard",
    "-z",
  ]);
  return {
    changed: parseNumstat(numstat.stdout),
    untracked: untracked.stdout.split("\0").filter(Boolean),
    patch: patch.stdout,
  };
}

/** HEAD, or the empty tree when the branch has no commit yet. */
async function diffBase(git: Git, dir: string): Promise<string> {
  const head = await git.run(
    dir,
    ["rev-parse", "--verify", "--quiet", "HEAD"],
    {
      okExitCodes: [0, 1],
    },
  );
  if (head.code === 0) return "HEAD";
  // Hashing an empty tree gives its id in the repository's own hash format.
  const emptyTree = await git.run(dir, [
    "hash-object",
    "-t",
    "tree",
    "--stdin",
  ]);
  return emptyTree.stdout.trim();
}

/** Parses `git diff --numstat -z` without renames: `added TAB deleted TAB path NUL`. */
function parseNumstat(text: string): FileChange[] {
  const changes: FileChange[] = [];
  for (const record of text.split("\0")) {
    const match = /^(\d+|-)\t(\d+|-)\t(.+)$/s.exec(record);
    if (match === null) continue;
    const [, added, deleted, path] = match;
    changes.push({
      path,
      // git prints "-" for both counts of a binary file.
      ...(added === "-" ? {} : { added: Number(added) }),
      ...(deleted === "-" ? {} : { deleted: Number(deleted) }),
    });
  }
  return changes;
}
