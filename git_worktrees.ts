// Git worktrees for branch sessions: find or create the worktree of a branch
// without ever switching the repository's own checkout, and remove one only
// when it holds no uncommitted work. Branches are never deleted.
import { join } from "node:path";
import {
  checkBranchName,
  type Git,
  inspectWorkingTree,
  isSameDirectory,
  pathExists,
  RepositoryBusyError,
  repositoryStatus,
} from "./git.ts";

/** Thrown when a worktree path is occupied by something other than the branch's worktree. */
export class WorktreePathTakenError extends Error {
  override name = "WorktreePathTakenError";
  readonly path: string;
  constructor(path: string) {
    super(`Cannot use "${path}" for a worktree: the path is already taken`);
    this.path = path;
  }
}

/** Where a branch is checked out after {@linkcode ensureWorktree}. */
export interface Worktree {
  /**
   * The worktree's directory: the requested path, or wherever the branch was
   * already checked out (another worktree, or the repository itself).
   */
  path: string;
  /**
   * True when `path` is the requested one, i.e. a worktree the bot manages;
   * only those may later go to {@linkcode removeWorktreeIfClean}.
   */
  isManaged: boolean;
  /** True when the branch did not exist and was created from HEAD. */
  isBranchCreated: boolean;
  /** True when this call added the worktree. */
  isWorktreeCreated: boolean;
}

/**
 * The directory the bot gives a branch of a project:
 * `<worktreesDir>/<project>/<branch>`. A branch with slashes nests folders;
 * git allows no two branches where one is a folder of the other, so two
 * branches never share a path.
 */
export function managedWorktreePath(
  worktreesDir: string,
  target: { project: string; branch: string },
): string {
  return join(worktreesDir, target.project, ...target.branch.split("/"));
}

/**
 * Returns a worktree of `branch` of the repository `repo`, at `path` unless
 * the branch is already checked out somewhere (then that place is reused).
 * A branch that does not exist is created from the repository's current
 * HEAD. The repository's own checkout is never switched.
 * @throws {NotAGitRepositoryError} when `repo` is not a repository's top
 * @throws {RepositoryBusyError} when the repository is mid rebase or merge
 *   (its HEAD is not a sensible starting point)
 * @throws {BadBranchNameError} when git refuses `branch`
 * @throws {WorktreePathTakenError} when `path` holds anything else
 * @throws {GitCommandError} when git itself fails (an empty repository has no
 *   HEAD to branch from, say)
 */
export async function ensureWorktree(
  git: Git,
  target: { repo: string; branch: string; path: string },
): Promise<Worktree> {
  const { repo, branch, path } = target;
  const { operation } = await inspectWorkingTree(git, repo);
  if (operation !== undefined) throw new RepositoryBusyError(repo, operation);
  await checkBranchName(git, branch);

  let worktrees = await listWorktrees(git, repo);
  // A worktree folder deleted by hand leaves a stale entry that blocks both
  // its path and its branch until pruned.
  const isStale = async (entry: WorktreeEntry) =>
    entry.isPrunable &&
    (entry.branch === branch || await isSameDirectory(entry.path, path));
  if ((await Promise.all(worktrees.map(isStale))).some(Boolean)) {
    await git.run(repo, ["worktree", "prune"]);
    worktrees = await listWorktrees(git, repo);
  }

  const existing = worktrees.find((entry) => entry.branch === branch);
  if (existing !== undefined) {
    return {
      path: existing.path,
      isManaged: await isSameDirectory(existing.path, path),
      isBranchCreated: false,
      isWorktreeCreated: false,
    };
  }
  if (!(await isFreeForWorktree(path))) throw new WorktreePathTakenError(path);

  const { code } = await git.run(
    repo,
    ["show-ref", "--verify", "--quiet", `refs/heads/${branch}`],
    { okExitCodes: [0, 1] },
  );
  const isBranchCreated = code !== 0;
  // "--" is not needed: the path is absolute and the branch passed
  // check-ref-format, so neither can be taken for an option.
  await git.run(
    repo,
    isBranchCreated
      ? ["worktree", "add", "--quiet", "-b", branch, path, "HEAD"]
      : ["worktree", "add", "--quiet", path, branch],
  );
  return { path, isManaged: true, isBranchCreated, isWorktreeCreated: true };
}

/** What {@linkcode removeWorktreeIfClean} did. */
export interface WorktreeRemoval {
  /** True when no worktree is left at the path (also when there was none). */
  removed: boolean;
  /** True when uncommitted changes or untracked files kept the worktree. */
  isDirty: boolean;
}

/**
 * Removes the worktree at `path` of `repo` when it holds no uncommitted
 * changes and no untracked files (ignored files, build output say, go with
 * it). A dirty worktree stays. The branch is never deleted.
 * @throws {TypeError} when `path` is the repository's own checkout
 * @throws {WorktreePathTakenError} when `path` exists but is not a worktree of `repo`
 * @throws {NotAGitRepositoryError} when `repo` is not a repository
 * @throws {GitCommandError} when git refuses (a locked worktree, say)
 */
export async function removeWorktreeIfClean(
  git: Git,
  target: { repo: string; path: string },
): Promise<WorktreeRemoval> {
  const { repo, path } = target;
  const worktrees = await listWorktrees(git, repo);
  const index = await findIndex(worktrees, (entry) => entry.path, path);
  if (index === 0) {
    throw new TypeError(`Cannot remove "${path}": it is the main checkout`);
  }
  const entry = worktrees[index];
  if (entry === undefined || entry.isPrunable) {
    if (await pathExists(path)) throw new WorktreePathTakenError(path);
    if (entry !== undefined) await git.run(repo, ["worktree", "prune"]);
    return { removed: true, isDirty: false };
  }
  if ((await repositoryStatus(git, entry.path)).isDirty) {
    return { removed: false, isDirty: true };
  }
  // Without --force git checks cleanliness again itself, so a file written
  // since the status above keeps the worktree instead of being lost.
  const { code } = await git.run(repo, ["worktree", "remove", entry.path], {
    okExitCodes: [0, 128],
  });
  if (code === 0) return { removed: true, isDirty: false };
  if ((await repositoryStatus(git, entry.path)).isDirty) {
    return { removed: false, isDirty: true };
  }
  // Refused for another reason: run it again to surface git's own error.
  await git.run(repo, ["worktree", "remove", entry.path]);
  return { removed: true, isDirty: false };
}

/** One entry of `git worktree list --porcelain`. */
interface WorktreeEntry {
  path: string;
  /** The short branch name; undefined when detached or bare. */
  branch?: string;
  /** True when the worktree's folder is gone. */
  isPrunable: boolean;
}

/** The repository's worktrees, its own checkout first. */
async function listWorktrees(git: Git, repo: string): Promise<WorktreeEntry[]> {
  const { stdout } = await git.run(repo, [
    "worktree",
    "list",
    "--porcelain",
    "-z",
  ]);
  const entries: WorktreeEntry[] = [];
  // -z: attributes end with NUL, entries with an empty attribute.
  for (const block of stdout.split("\0\0")) {
    const entry: WorktreeEntry = { path: "", isPrunable: false };
    for (const attribute of block.split("\0")) {
      const space = attribute.indexOf(" ");
      const key = space === -1 ? attribute : attribute.slice(0, space);
      const value = space === -1 ? "" : attribute.slice(space + 1);
      if (key === "worktree") entry.path = value;
      if (key === "branch") entry.branch = value.replace(/^refs\/heads\//, "");
      if (key === "prunable") entry.isPrunable = true;
    }
    if (entry.path !== "") entries.push(entry);
  }
  return entries;
}

async function findIndex<T>(
  items: readonly T[],
  pathOf: (item: T) => string,
  path: string,
): Promise<number> {
  for (const [index, item] of items.entries()) {
    if (await isSameDirectory(pathOf(item), path)) return index;
  }
  return -1;
}

/** A path git can put a new worktree at: nothing there, or an empty folder. */
async function isFreeForWorktree(path: string): Promise<boolean> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isDirectory) return false;
    for await (const _ of Deno.readDir(path)) return false;
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
}
