// Runs git for the bot: the one runner every git call goes through (bounded,
// never prompting, a small fixed environment), the typed errors a user can
// cause, branch-name checks and a repository's status.
import { resolve } from "node:path";
import { type CommandOutput, runCommand, type SpawnFn } from "./spawner.ts";

/** Default bound on one git command; a worktree checkout of a big repo needs a while. */
const DEFAULT_GIT_TIMEOUT_MS = 60_000;

/** How much of a failed command's stderr an error keeps: enough for a log line. */
const STDERR_TAIL_CHARS = 500;

/** Git exits with 128 on fatal errors, "not a git repository" among them. */
const GIT_FATAL_EXIT_CODE = 128;

/** Thrown when a git command exits with a code its caller did not expect. */
export class GitCommandError extends Error {
  override name = "GitCommandError";
  /** The git arguments, without the binary. */
  readonly args: readonly string[];
  readonly cwd: string;
  readonly exitCode: number;
  /** The end of git's stderr, trimmed (it says what went wrong). */
  readonly stderrTail: string;
  constructor(
    data: { args: string[]; cwd: string; exitCode: number; stderr: string },
  ) {
    const tail = data.stderr.trim().slice(-STDERR_TAIL_CHARS);
    super(
      `Cannot run "git ${data.args.join(" ")}" in "${data.cwd}": ` +
        `exit code ${data.exitCode}${tail ? `: ${tail}` : ""}`,
    );
    this.args = data.args;
    this.cwd = data.cwd;
    this.exitCode = data.exitCode;
    this.stderrTail = tail;
  }
}

/** Thrown when a directory is missing, or is not the top of a git working tree. */
export class NotAGitRepositoryError extends Error {
  override name = "NotAGitRepositoryError";
  readonly dir: string;
  constructor(dir: string) {
    super(`Cannot use "${dir}" as a git repository: not a git working tree`);
    this.dir = dir;
  }
}

/** Thrown when git refuses a name as a branch name (`git check-ref-format --branch`). */
export class BadBranchNameError extends Error {
  override name = "BadBranchNameError";
  readonly branch: string;
  constructor(branch: string) {
    super(`Cannot use "${branch}" as a branch name: git refuses it`);
    this.branch = branch;
  }
}

/** An operation that leaves a repository half-way until the user finishes it. */
export type GitOperation = "rebase" | "merge" | "cherry-pick" | "revert";

/** Thrown when a repository is in the middle of a rebase, merge, cherry-pick or revert. */
export class RepositoryBusyError extends Error {
  override name = "RepositoryBusyError";
  readonly repo: string;
  readonly operation: GitOperation;
  constructor(repo: string, operation: GitOperation) {
    super(`Cannot use repository "${repo}": a ${operation} is in progress`);
    this.repo = repo;
    this.operation = operation;
  }
}

/** Runs git with a bound, no prompts and only the environment it needs. */
export class Git {
  #spawn: SpawnFn;
  #bin: string;
  #env: Record<string, string>;
  #timeoutMs: number;

  /**
   * @param options.env PATH (to find git and its helpers) and HOME (the
   *   user's ~/.gitconfig); nothing else of the bot's environment reaches git
   * @param options.bin default "git"
   * @param options.timeoutMs bound on each command; default 60 s (a worktree
   *   checkout of a big repository needs a while). A command cut off by it
   *   fails as a GitCommandError with exit code 143 (SIGTERM).
   */
  constructor(options: {
    spawn: SpawnFn;
    env: { PATH?: string; HOME?: string };
    bin?: string;
    timeoutMs?: number;
  }) {
    this.#spawn = options.spawn;
    this.#bin = options.bin ?? "git";
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
    this.#env = {
      ...(options.env.PATH === undefined ? {} : { PATH: options.env.PATH }),
      ...(options.env.HOME === undefined ? {} : { HOME: options.env.HOME }),
      // Messages in English, so "not a git repository" can be recognised.
      LC_ALL: "C",
      // A credential prompt would hang until the timeout: fail at once.
      GIT_TERMINAL_PROMPT: "0",
      // Status would otherwise refresh the index under a lock and could
      // collide with the user's own git in a terminal.
      GIT_OPTIONAL_LOCKS: "0",
    };
  }

  /**
   * Runs `git <args>` in `cwd` and returns its output.
   * @param options.okExitCodes exit codes that are answers, not failures; default [0]
   * @throws {NotAGitRepositoryError} when `cwd` does not exist or git finds no repository
   * @throws {GitCommandError} on any other exit code
   */
  async run(
    cwd: string,
    args: string[],
    options: { okExitCodes?: readonly number[] } = {},
  ): Promise<CommandOutput> {
    let output: CommandOutput;
    try {
      output = await runCommand(this.#spawn, this.#bin, {
        args,
        cwd,
        env: this.#env,
        clearEnv: true,
        timeoutMs: this.#timeoutMs,
      });
    } catch (error) {
      // A missing cwd and a missing git binary both surface as NotFound.
      if (error instanceof Deno.errors.NotFound && !(await isDirectory(cwd))) {
        throw new NotAGitRepositoryError(cwd);
      }
      throw error;
    }
    if ((options.okExitCodes ?? [0]).includes(output.code)) return output;
    if (
      output.code === GIT_FATAL_EXIT_CODE &&
      output.stderr.includes("not a git repository")
    ) {
      throw new NotAGitRepositoryError(cwd);
    }
    throw new GitCommandError({
      args,
      cwd,
      exitCode: output.code,
      stderr: output.stderr,
    });
  }
}

/**
 * Checks a branch name the way `git branch` would and returns it.
 * @throws {BadBranchNameError} when git refuses it, or when it is shorthand
 *   (`@{-1}`) that git would expand into another name
 */
export async function checkBranchName(
  git: Git,
  branch: string,
): Promise<string> {
  const { code, stdout } = await git.run(
    // Outside any repository, so `@{-N}` cannot expand to a real branch.
    "/",
    ["check-ref-format", "--branch", branch],
    { okExitCodes: [0, GIT_FATAL_EXIT_CODE] },
  );
  if (code !== 0 || stdout.trim() !== branch) {
    throw new BadBranchNameError(branch);
  }
  return branch;
}

/** What a repository's working tree looks like now. */
export interface RepositoryStatus {
  /** The checked-out branch; undefined when HEAD is detached. */
  branch?: string;
  /** True when tracked files changed or untracked (not ignored) files exist. */
  isDirty: boolean;
  /** Changed tracked files plus untracked ones. */
  changedFileCount: number;
  /** An unfinished rebase, merge, cherry-pick or revert; undefined when none. */
  operation?: GitOperation;
}

/** Where git keeps the marker of each unfinished operation, checked in this order. */
const OPERATION_MARKERS: ReadonlyArray<[string, GitOperation]> = [
  ["rebase-merge", "rebase"],
  ["rebase-apply", "rebase"],
  ["MERGE_HEAD", "merge"],
  ["CHERRY_PICK_HEAD", "cherry-pick"],
  ["REVERT_HEAD", "revert"],
];

/**
 * Confirms `dir` is the top of a git working tree (the repository itself or
 * one of its worktrees) and returns its unfinished operation, if any. A folder
 * inside some other repository (a session folder under the bot's own clone,
 * say) is not one.
 * @throws {NotAGitRepositoryError}
 */
export async function inspectWorkingTree(
  git: Git,
  dir: string,
): Promise<{ operation?: GitOperation }> {
  const { stdout } = await git.run(dir, [
    "rev-parse",
    "--path-format=absolute",
    "--show-toplevel",
    ...OPERATION_MARKERS.flatMap(([marker]) => ["--git-path", marker]),
  ]);
  const [topLevel, ...markerPaths] = stdout.split("\n");
  if (!(await isSameDirectory(topLevel, dir))) {
    throw new NotAGitRepositoryError(dir);
  }
  for (const [index, [, operation]] of OPERATION_MARKERS.entries()) {
    if (await pathExists(markerPaths[index])) return { operation };
  }
  return {};
}

/**
 * Reads the branch, cleanliness and unfinished operation of the working tree
 * at `dir`.
 * @throws {NotAGitRepositoryError} when `dir` is not the top of a working tree
 */
export async function repositoryStatus(
  git: Git,
  dir: string,
): Promise<RepositoryStatus> {
  const { operation } = await inspectWorkingTree(git, dir);
  const { stdout } = await git.run(dir, [
    "status",
    "--porcelain=v2",
    "--branch",
    "--untracked-files=normal",
  ]);
  let branch: string | undefined;
  let changedFileCount = 0;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("# branch.head ")) {
      const head = line.slice("# branch.head ".length);
      branch = head === "(detached)" ? undefined : head;
    } else if (line !== "" && !line.startsWith("#")) {
      changedFileCount++;
    }
  }
  return {
    ...(branch === undefined ? {} : { branch }),
    isDirty: changedFileCount > 0,
    changedFileCount,
    ...(operation === undefined ? {} : { operation }),
  };
}

/** True when both paths name the same directory (symlinks resolved where they exist). */
export async function isSameDirectory(a: string, b: string): Promise<boolean> {
  return await realPathOrResolved(a) === await realPathOrResolved(b);
}

async function realPathOrResolved(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    // Missing or unreadable: compare the spelled-out path instead.
    return resolve(path);
  }
}

/** Whether something (a file, folder or symlink) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    // Missing or unreadable: either way git cannot run there.
    return false;
  }
}
