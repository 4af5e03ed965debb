// Tests for git.ts against real repositories in temp dirs: the runner's
// errors and environment, branch-name checks, status and unfinished operations.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BadBranchNameError,
  checkBranchName,
  Git,
  GitCommandError,
  inspectWorkingTree,
  NotAGitRepositoryError,
  repositoryStatus,
} from "../git.ts";
import type { SpawnFn } from "../spawner.ts";
import { systemSpawn } from "../spawner.ts";
import { GitSandbox } from "./fakes/git_repo.ts";

Deno.test("Git.run() passes only PATH, HOME and its own settings to git", async () => {
  let seen: Deno.CommandOptions | undefined;
  const spy: SpawnFn = (bin, options) => {
    seen = options;
    return systemSpawn(bin, options);
  };
  const git = new Git({
    spawn: spy,
    env: { PATH: Deno.env.get("PATH"), HOME: "/nonexistent-home" },
    timeoutMs: 5_000,
  });
  await git.run("/", ["--version"]);
  assert.equal(seen?.clearEnv, true);
  assert.deepEqual(seen?.env, {
    PATH: Deno.env.get("PATH"),
    HOME: "/nonexistent-home",
    LC_ALL: "C",
    GIT_TERMINAL_PROMPT: "0",
    GIT_OPTIONAL_LOCKS: "0",
  });
  assert.ok(seen?.signal instanceof AbortSignal, "bounded by a timeout");
});

Deno.test("Git.run() errors", async (t) => {
  await using sandbox = await GitSandbox.create();
  const git = sandbox.git();
  const repo = await sandbox.repo("repo");

  await t.step(
    "a failing command is a GitCommandError with code and stderr",
    async () => {
      const error = await git.run(repo.path, ["rev-parse", "--verify", "nope"])
        .then(() => undefined, (e) => e);
      assert.ok(error instanceof GitCommandError);
      assert.equal(error.exitCode, 128);
      assert.match(error.stderrTail, /Needed a single revision/);
      assert.deepEqual(error.args, ["rev-parse", "--verify", "nope"]);
    },
  );

  await t.step("okExitCodes turn a code into an answer", async () => {
    const output = await git.run(
      repo.path,
      ["rev-parse", "--verify", "--quiet", "refs/heads/nope"],
      { okExitCodes: [0, 1] },
    );
    assert.equal(output.code, 1);
  });

  await t.step("a plain folder is NotAGitRepositoryError", async () => {
    const plain = await sandbox.dir("plain");
    await assert.rejects(
      git.run(plain, ["status"]),
      (e) => e instanceof NotAGitRepositoryError && e.dir === plain,
    );
  });

  await t.step("a missing folder is NotAGitRepositoryError", async () => {
    const missing = join(sandbox.root, "missing");
    await assert.rejects(
      git.run(missing, ["status"]),
      NotAGitRepositoryError,
    );
  });
});

Deno.test("checkBranchName() accepts what git accepts and refuses the rest", async () => {
  await using sandbox = await GitSandbox.create();
  const git = sandbox.git();
  for (const good of ["feature", "feature/login", "fix-1.2", "@", "é"]) {
    assert.equal(await checkBranchName(git, good), good);
  }
  const bad = [
    "",
    "HEAD",
    "-x",
    "a b",
    "a..b",
    ".hidden",
    "x.lock",
    "a/",
    "a:b",
    "a~1",
    "@{-1}",
  ];
  for (const name of bad) {
    await assert.rejects(
      checkBranchName(git, name),
      (e) => e instanceof BadBranchNameError && e.branch === name,
      `"${name}" must be refused`,
    );
  }
});

Deno.test("repositoryStatus() reports branch, cleanliness and operation", async (t) => {
  await using sandbox = await GitSandbox.create();
  const git = sandbox.git();

  await t.step("a fresh repository is clean on main", async () => {
    const repo = await sandbox.repo("clean");
    assert.deepEqual(await repositoryStatus(git, repo.path), {
      branch: "main",
      isDirty: false,
      changedFileCount: 0,
    });
  });

  await t.step(
    "modified and untracked files make it dirty; ignored ones do not",
    async () => {
      const repo = await sandbox.repo("dirty", {
        "a.txt": "a\n",
        ".gitignore": "*.log\n",
      });
      await repo.write("a.txt", "changed\n");
      await repo.write("new.txt", "new\n");
      await repo.write("debug.log", "ignored\n");
      assert.deepEqual(await repositoryStatus(git, repo.path), {
        branch: "main",
        isDirty: true,
        changedFileCount: 2,
      });
    },
  );

  await t.step("another branch and a detached HEAD", async () => {
    const repo = await sandbox.repo("branches");
    await repo.git("checkout", "-q", "-b", "feature/x");
    assert.equal((await repositoryStatus(git, repo.path)).branch, "feature/x");
    await repo.git("checkout", "-q", "--detach");
    const status = await repositoryStatus(git, repo.path);
    assert.equal(status.branch, undefined);
    assert.equal(status.isDirty, false);
  });

  await t.step("a conflicted merge", async () => {
    const repo = await sandbox.repo("merging");
    await repo.startConflictedMerge();
    const status = await repositoryStatus(git, repo.path);
    assert.equal(status.operation, "merge");
    assert.equal(status.branch, "main");
    assert.equal(status.isDirty, true);
  });

  await t.step("a conflicted rebase", async () => {
    const repo = await sandbox.repo("rebasing");
    await repo.startConflictedRebase();
    const status = await repositoryStatus(git, repo.path);
    assert.equal(status.operation, "rebase");
    assert.equal(status.branch, undefined, "git detaches HEAD while rebasing");
  });

  await t.step("a folder inside a repository is not a repository", async () => {
    const repo = await sandbox.repo("outer");
    await repo.write("sub/file.txt", "x\n");
    await assert.rejects(
      repositoryStatus(git, join(repo.path, "sub")),
      NotAGitRepositoryError,
    );
  });

  await t.step("a plain folder is not a repository", async () => {
    await assert.rejects(
      inspectWorkingTree(git, await sandbox.dir("plain")),
      NotAGitRepositoryError,
    );
  });
});
