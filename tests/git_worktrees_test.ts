// Tests for git_worktrees.ts against real repositories in temp dirs: create,
// reuse, refuse, and remove worktrees, never touching the repo's own checkout.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BadBranchNameError,
  GitCommandError,
  NotAGitRepositoryError,
  RepositoryBusyError,
} from "../git.ts";
import {
  ensureWorktree,
  managedWorktreePath,
  removeWorktreeIfClean,
  WorktreePathTakenError,
} from "../git_worktrees.ts";
import { GitSandbox } from "./fakes/git_repo.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("managedWorktreePath() nests branch folders under the project", () => {
  assert.equal(
    managedWorktreePath("/data/worktrees", { project: "api", branch: "fix" }),
    "/data/worktrees/api/fix",
  );
  assert.equal(
    managedWorktreePath("/data/worktrees", {
      project: "api",
      branch: "feature/login",
    }),
    "/data/worktrees/api/feature/login",
  );
});

Deno.test("ensureWorktree() creates and reuses worktrees", async (t) => {
  await using sandbox = await GitSandbox.create();
  const git = sandbox.git();
  const repo = await sandbox.repo("api", { "a.txt": "a\n" });
  const worktrees = join(sandbox.root, "data", "worktrees");
  const headBefore = await repo.git("rev-parse", "HEAD");

  await t.step(
    "a new branch is created from HEAD in a new worktree",
    async () => {
      const path = managedWorktreePath(worktrees, {
        project: "api",
        branch: "feature/one",
      });
      const worktree = await ensureWorktree(git, {
        repo: repo.path,
        branch: "feature/one",
        path,
      });
      assert.deepEqual(worktree, {
        path,
        isManaged: true,
        isBranchCreated: true,
        isWorktreeCreated: true,
      });
      assert.equal(
        await repo.gitIn(path, ["branch", "--show-current"]),
        "feature/one",
      );
      assert.equal(await repo.gitIn(path, ["rev-parse", "HEAD"]), headBefore);
      assert.equal(await Deno.readTextFile(join(path, "a.txt")), "a\n");
      assert.equal(await repo.currentBranch(), "main", "repo stays on main");
    },
  );

  await t.step("an existing branch is checked out, not moved", async () => {
    await repo.git("branch", "old", "HEAD");
    await repo.commitFiles({ "b.txt": "b\n" }, "second");
    const oldHead = await repo.git("rev-parse", "old");
    const path = join(worktrees, "api", "old");
    const worktree = await ensureWorktree(git, {
      repo: repo.path,
      branch: "old",
      path,
    });
    assert.equal(worktree.isBranchCreated, false);
    assert.equal(worktree.isWorktreeCreated, true);
    assert.equal(await repo.gitIn(path, ["rev-parse", "HEAD"]), oldHead);
    assert.equal(await exists(join(path, "b.txt")), false);
    assert.equal(await repo.currentBranch(), "main");
  });

  await t.step("asking again reuses the worktree", async () => {
    const path = join(worktrees, "api", "old");
    await Deno.writeTextFile(join(path, "work.txt"), "in progress\n");
    const worktree = await ensureWorktree(git, {
      repo: repo.path,
      branch: "old",
      path,
    });
    assert.deepEqual(worktree, {
      path,
      isManaged: true,
      isBranchCreated: false,
      isWorktreeCreated: false,
    });
    assert.equal(await exists(join(path, "work.txt")), true);
  });

  await t.step(
    "a branch checked out elsewhere is reused there, unmanaged",
    async () => {
      const elsewhere = join(sandbox.root, "by-hand");
      await repo.git("worktree", "add", "-q", "-b", "manual", elsewhere);
      const worktree = await ensureWorktree(git, {
        repo: repo.path,
        branch: "manual",
        path: join(worktrees, "api", "manual"),
      });
      assert.equal(worktree.path, elsewhere);
      assert.equal(worktree.isManaged, false);
      assert.equal(await exists(join(worktrees, "api", "manual")), false);
    },
  );

  await t.step(
    "the repo's own branch is the repo itself, unmanaged",
    async () => {
      const worktree = await ensureWorktree(git, {
        repo: repo.path,
        branch: "main",
        path: join(worktrees, "api", "main"),
      });
      assert.equal(worktree.path, repo.path);
      assert.equal(worktree.isManaged, false);
    },
  );

  await t.step(
    "a worktree folder deleted by hand is created again",
    async () => {
      const path = join(worktrees, "api", "gone");
      await ensureWorktree(git, { repo: repo.path, branch: "gone", path });
      await Deno.remove(path, { recursive: true });
      const worktree = await ensureWorktree(git, {
        repo: repo.path,
        branch: "gone",
        path,
      });
      assert.equal(worktree.isWorktreeCreated, true);
      assert.equal(worktree.isBranchCreated, false);
      assert.equal(
        await repo.gitIn(path, ["branch", "--show-current"]),
        "gone",
      );
    },
  );

  await t.step("an empty folder at the path is used", async () => {
    const path = join(worktrees, "api", "empty");
    await Deno.mkdir(path, { recursive: true });
    const worktree = await ensureWorktree(git, {
      repo: repo.path,
      branch: "empty",
      path,
    });
    assert.equal(worktree.isWorktreeCreated, true);
  });
});

Deno.test("ensureWorktree() refuses bad requests and changes nothing", async (t) => {
  await using sandbox = await GitSandbox.create();
  const git = sandbox.git();
  const worktrees = join(sandbox.root, "worktrees");

  await t.step("a path taken by a file or a non-empty folder", async () => {
    const repo = await sandbox.repo("taken");
    const folder = join(worktrees, "taken", "x");
    await Deno.mkdir(folder, { recursive: true });
    await Deno.writeTextFile(join(folder, "mine.txt"), "keep\n");
    await assert.rejects(
      ensureWorktree(git, { repo: repo.path, branch: "x", path: folder }),
      (e) => e instanceof WorktreePathTakenError && e.path === folder,
    );
    const file = join(worktrees, "taken", "y");
    await Deno.writeTextFile(file, "a file\n");
    await assert.rejects(
      ensureWorktree(git, { repo: repo.path, branch: "y", path: file }),
      WorktreePathTakenError,
    );
    assert.equal(await repo.git("branch", "--list", "x", "y"), "");
    assert.equal(await Deno.readTextFile(join(folder, "mine.txt")), "keep\n");
  });

  await t.step("a path that is another branch's worktree", async () => {
    const repo = await sandbox.repo("other-branch");
    const path = join(worktrees, "other-branch", "shared");
    await ensureWorktree(git, { repo: repo.path, branch: "first", path });
    await assert.rejects(
      ensureWorktree(git, { repo: repo.path, branch: "second", path }),
      WorktreePathTakenError,
    );
    assert.equal(await repo.git("branch", "--list", "second"), "");
  });

  await t.step("a bad branch name", async () => {
    const repo = await sandbox.repo("bad-name");
    const path = join(worktrees, "bad-name", "x");
    await assert.rejects(
      ensureWorktree(git, { repo: repo.path, branch: "a..b", path }),
      (e) => e instanceof BadBranchNameError && e.branch === "a..b",
    );
    assert.equal(await exists(path), false);
  });

  await t.step("a repository in the middle of a merge", async () => {
    const repo = await sandbox.repo("merging");
    await repo.startConflictedMerge();
    const path = join(worktrees, "merging", "x");
    await assert.rejects(
      ensureWorktree(git, { repo: repo.path, branch: "x", path }),
      (e) => e instanceof RepositoryBusyError && e.operation === "merge",
    );
    assert.equal(await exists(path), false);
    assert.equal(await repo.git("branch", "--list", "x"), "");
  });

  await t.step("a repository in the middle of a rebase", async () => {
    const repo = await sandbox.repo("rebasing");
    await repo.startConflictedRebase();
    const path = join(worktrees, "rebasing", "x");
    await assert.rejects(
      ensureWorktree(git, { repo: repo.path, branch: "x", path }),
      (e) => e instanceof RepositoryBusyError && e.operation === "rebase",
    );
    assert.equal(await exists(path), false);
  });

  await t.step("a folder that is not a repository", async () => {
    const plain = await sandbox.dir("plain");
    await assert.rejects(
      ensureWorktree(git, {
        repo: plain,
        branch: "x",
        path: join(worktrees, "plain", "x"),
      }),
      NotAGitRepositoryError,
    );
  });

  await t.step(
    "a repository without commits has no HEAD to branch from",
    async () => {
      const empty = await sandbox.dir("empty-repo");
      const repo = await sandbox.repo("helper");
      await repo.gitIn(empty, ["init", "-q", "-b", "main"]);
      await assert.rejects(
        ensureWorktree(git, {
          repo: empty,
          branch: "x",
          path: join(worktrees, "empty-repo", "x"),
        }),
        GitCommandError,
      );
    },
  );
});

Deno.test("removeWorktreeIfClean()", async (t) => {
  await using sandbox = await GitSandbox.create();
  const git = sandbox.git();
  const repo = await sandbox.repo("api", { ".gitignore": "build/\n" });
  const worktrees = join(sandbox.root, "worktrees");
  const open = async (branch: string) =>
    (await ensureWorktree(git, {
      repo: repo.path,
      branch,
      path: join(worktrees, "api", branch),
    })).path;

  await t.step("a clean worktree is removed, its branch kept", async () => {
    const path = await open("clean");
    await Deno.mkdir(join(path, "build"));
    await Deno.writeTextFile(join(path, "build", "out.js"), "ignored\n");
    assert.deepEqual(
      await removeWorktreeIfClean(git, { repo: repo.path, path }),
      { removed: true, isDirty: false },
    );
    assert.equal(await exists(path), false);
    assert.equal(await repo.git("branch", "--list", "clean"), "clean");
    assert.equal(await repo.currentBranch(), "main");
  });

  await t.step("a worktree with a modified file stays", async () => {
    const path = await open("modified");
    await Deno.writeTextFile(join(path, ".gitignore"), "changed\n");
    assert.deepEqual(
      await removeWorktreeIfClean(git, { repo: repo.path, path }),
      { removed: false, isDirty: true },
    );
    assert.equal(
      await Deno.readTextFile(join(path, ".gitignore")),
      "changed\n",
    );
  });

  await t.step("a worktree with an untracked file stays", async () => {
    const path = await open("untracked");
    await Deno.writeTextFile(join(path, "notes.txt"), "mine\n");
    assert.deepEqual(
      await removeWorktreeIfClean(git, { repo: repo.path, path }),
      { removed: false, isDirty: true },
    );
    assert.equal(await exists(join(path, "notes.txt")), true);
  });

  await t.step(
    "committed work is clean: removed, the commit kept on its branch",
    async () => {
      const path = await open("committed");
      await Deno.writeTextFile(join(path, "done.txt"), "done\n");
      await repo.gitIn(path, ["add", "done.txt"]);
      await repo.gitIn(path, ["commit", "-q", "-m", "work"]);
      const commit = await repo.gitIn(path, ["rev-parse", "HEAD"]);
      assert.deepEqual(
        await removeWorktreeIfClean(git, { repo: repo.path, path }),
        { removed: true, isDirty: false },
      );
      assert.equal(await repo.git("rev-parse", "committed"), commit);
    },
  );

  await t.step("a worktree already gone counts as removed", async () => {
    const path = await open("vanished");
    await Deno.remove(path, { recursive: true });
    assert.deepEqual(
      await removeWorktreeIfClean(git, { repo: repo.path, path }),
      { removed: true, isDirty: false },
    );
    assert.equal(
      await repo.git("worktree", "list").then((l) => l.includes(path)),
      false,
    );
  });

  await t.step(
    "a folder that is no worktree of the repo is refused",
    async () => {
      const path = join(worktrees, "api", "stranger");
      await Deno.mkdir(path, { recursive: true });
      await assert.rejects(
        removeWorktreeIfClean(git, { repo: repo.path, path }),
        WorktreePathTakenError,
      );
      assert.equal(await exists(path), true);
    },
  );

  await t.step("the repository's own checkout is never removed", async () => {
    await assert.rejects(
      removeWorktreeIfClean(git, { repo: repo.path, path: repo.path }),
      TypeError,
    );
    assert.equal(await exists(join(repo.path, ".gitignore")), true);
  });
});
