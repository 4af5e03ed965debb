// Real git repositories in a temp dir for tests: create, write, commit, and
// put one into the middle of a merge or rebase. Removed on dispose.

import { dirname, join } from "node:path";
import { Git } from "../../git.ts";
import { runCommand, systemSpawn } from "../../spawner.ts";

/** Bound on each git command a test runs itself. */
const TEST_GIT_TIMEOUT_MS = 20_000;

/** A temp dir holding test repositories, with HOME inside it so no user gitconfig leaks in. */
export class GitSandbox implements AsyncDisposable {
  readonly root: string;
  /** HOME for every git run here: an empty dir, so the user's ~/.gitconfig is never read. */
  readonly home: string;

  private constructor(root: string) {
    this.root = root;
    this.home = join(root, "home");
  }

  /** Creates the temp dir (with an empty HOME inside). */
  static async create(): Promise<GitSandbox> {
    // realPath: /tmp may be a symlink, and git reports real paths.
    const root = await Deno.realPath(
      await Deno.makeTempDir({ prefix: "git_sandbox_" }),
    );
    const sandbox = new GitSandbox(root);
    await Deno.mkdir(sandbox.home);
    return sandbox;
  }

  /** A Git runner like production's, on this sandbox's HOME. */
  git(options: { timeoutMs?: number } = {}): Git {
    return new Git({
      spawn: systemSpawn,
      env: { PATH: Deno.env.get("PATH"), HOME: this.home },
      timeoutMs: options.timeoutMs,
    });
  }

  /**
   * Creates a repository at `relPath` (parents made) on branch "main" with
   * `files` committed as "initial".
   */
  async repo(
    relPath: string,
    files: Record<string, string> = { "README.md": "hello\n" },
  ): Promise<TestRepo> {
    const path = join(this.root, relPath);
    await Deno.mkdir(path, { recursive: true });
    const repo = new TestRepo(path, this.home);
    await repo.git("init", "-q", "-b", "main");
    await repo.git("config", "user.name", "Test User");
    await repo.git("config", "user.email", "test@example.com");
    await repo.git("config", "commit.gpgsign", "false");
    await repo.commitFiles(files, "initial");
    return repo;
  }

  /** Creates a plain directory (not a repository) at `relPath`. */
  async dir(relPath: string): Promise<string> {
    const path = join(this.root, relPath);
    await Deno.mkdir(path, { recursive: true });
    return path;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }
}

/** One test repository; every helper runs real git in it. */
export class TestRepo {
  readonly path: string;
  #home: string;

  constructor(path: string, home: string) {
    this.path = path;
    this.#home = home;
  }

  /** Runs git here and returns its trimmed stdout; throws on a non-zero exit. */
  async git(...args: string[]): Promise<string> {
    return await this.gitIn(this.path, args);
  }

  /** Runs git in `cwd` (a worktree, say) and returns its trimmed stdout. */
  async gitIn(
    cwd: string,
    args: string[],
    okExitCodes: readonly number[] = [0],
  ): Promise<string> {
    const output = await runCommand(systemSpawn, "git", {
      args,
      cwd,
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        HOME: this.#home,
        LC_ALL: "C",
        GIT_TERMINAL_PROMPT: "0",
      },
      clearEnv: true,
      timeoutMs: TEST_GIT_TIMEOUT_MS,
    });
    if (!okExitCodes.includes(output.code)) {
      throw new Error(
        `test git ${args.join(" ")} failed (${output.code}): ${output.stderr}`,
      );
    }
    return output.stdout.trim();
  }

  /** The checked-out branch name, or "HEAD" when detached. */
  async currentBranch(): Promise<string> {
    return await this.git("rev-parse", "--abbrev-ref", "HEAD");
  }

  /** Writes `text` to `relPath` (parents made) without committing. */
  async write(relPath: string, text: string): Promise<void> {
    const path = join(this.path, relPath);
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, text);
  }

  /** Writes every file and commits them all. */
  async commitFiles(
    files: Record<string, string>,
    message: string,
  ): Promise<void> {
    for (const [relPath, text] of Object.entries(files)) {
      await this.write(relPath, text);
    }
    await this.git("add", "-A");
    await this.git("commit", "-q", "-m", message);
  }

  /**
   * Leaves the repository in a conflicted merge: branch "other" and "main"
   * both change `conflict.txt`, and "main" merges "other".
   */
  async startConflictedMerge(): Promise<void> {
    await this.#divergeOnConflictFile();
    await this.git("checkout", "-q", "main");
    await this.gitIn(this.path, ["merge", "-q", "other"], [1]);
  }

  /**
   * Leaves the repository in a conflicted rebase of "other" onto "main"
   * (HEAD detached, as git leaves it).
   */
  async startConflictedRebase(): Promise<void> {
    await this.#divergeOnConflictFile();
    await this.gitIn(this.path, ["rebase", "-q", "main"], [1]);
  }

  async #divergeOnConflictFile(): Promise<void> {
    await this.commitFiles({ "conflict.txt": "base\n" }, "base");
    await this.git("checkout", "-q", "-b", "other");
    await this.commitFiles({ "conflict.txt": "other\n" }, "other side");
    await this.git("checkout", "-q", "main");
    await this.commitFiles({ "conflict.txt": "main\n" }, "main side");
    await this.git("checkout", "-q", "other");
  }
}
