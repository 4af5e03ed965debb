// Tests for git_diff.ts against real repositories in temp dirs: counts,
// untracked and binary files, the patch, worktrees, and non-repositories.

import assert from "node:assert/strict";
import { join } from "node:path";
import { NotAGitRepositoryError } from "../git.ts";
import { diffSummary } from "../git_diff.ts";
import { ensureWorktree } from "../git_worktrees.ts";
import { GitSandbox } from "./fakes/git_repo.ts";

Deno.test("diffSummary() of a clean repository is empty", async () => {
  await using sandbox = await GitSandbox.create();
  const repo = await sandbox.repo("clean");
  assert.deepEqual(await diffSummary(sandbox.git(), repo.path), {
    changed: [],
    untracked: [],
    patch: "",
  });
});

Deno.test("diffSummary() lists modified, deleted, staged, binary and untracked files", async () => {
  await using sandbox = await GitSandbox.create();
  const repo = await sandbox.repo("api", {
    "a.txt": "one\ntwo\nthree\n",
    "gone.txt": "bye\n",
    "staged.txt": "s\n",
    ".gitignore": "*.log\n",
  });
  await repo.write("a.txt", "one\nTWO\nthree\nfour\n");
  await Deno.remove(join(repo.path, "gone.txt"));
  await repo.write("staged.txt", "s\nmore\n");
  await repo.git("add", "staged.txt");
  await Deno.writeFile(join(repo.path, "image.bin"), new Uint8Array([0, 1, 2]));
  await repo.git("add", "image.bin");
  await repo.write("new dir/new file.txt", "fresh\n");
  await repo.write("noise.log", "ignored\n");

  const summary = await diffSummary(sandbox.git(), repo.path);
  assert.deepEqual(summary.changed, [
    { path: "a.txt", added: 2, deleted: 1 },
    { path: "gone.txt", added: 0, deleted: 1 },
    { path: "image.bin" },
    { path: "staged.txt", added: 1, deleted: 0 },
  ]);
  assert.deepEqual(summary.untracked, ["new dir/new file.txt"]);
  assert.match(summary.patch, /^diff --git a\/a\.txt b\/a\.txt$/m);
  assert.match(summary.patch, /^-two$/m);
  assert.match(summary.patch, /^\+TWO$/m);
  assert.match(summary.patch, /^deleted file mode/m);
  assert.doesNotMatch(summary.patch, /noise\.log|fresh/);
});

Deno.test("diffSummary() in a repository without commits compares with nothing", async () => {
  await using sandbox = await GitSandbox.create();
  const helper = await sandbox.repo("helper");
  const dir = await sandbox.dir("fresh");
  await helper.gitIn(dir, ["init", "-q", "-b", "main"]);
  await Deno.writeTextFile(join(dir, "added.txt"), "a\nb\n");
  await helper.gitIn(dir, ["add", "added.txt"]);
  await Deno.writeTextFile(join(dir, "loose.txt"), "x\n");
  const summary = await diffSummary(sandbox.git(), dir);
  assert.deepEqual(summary.changed, [{
    path: "added.txt",
    added: 2,
    deleted: 0,
  }]);
  assert.deepEqual(summary.untracked, ["loose.txt"]);
});

Deno.test("diffSummary() of a worktree compares with the worktree's own HEAD", async () => {
  await using sandbox = await GitSandbox.create();
  const git = sandbox.git();
  const repo = await sandbox.repo("api", { "a.txt": "a\n" });
  const { path } = await ensureWorktree(git, {
    repo: repo.path,
    branch: "feature",
    path: join(sandbox.root, "worktrees", "api", "feature"),
  });
  await Deno.writeTextFile(join(path, "a.txt"), "a\nb\n");
  await repo.write("main-only.txt", "not in the worktree\n");
  const summary = await diffSummary(git, path);
  assert.deepEqual(summary.changed, [{ path: "a.txt", added: 1, deleted: 0 }]);
  assert.deepEqual(summary.untracked, []);
});

Deno.test("diffSummary() refuses folders that are not a repository's top", async (t) => {
  await using sandbox = await GitSandbox.create();
  const git = sandbox.git();
  await t.step("a plain folder", async () => {
    const plain = await sandbox.dir("plain");
    await assert.rejects(
      diffSummary(git, plain),
      (e) => e instanceof NotAGitRepositoryError && e.dir === plain,
    );
  });
  await t.step("a folder inside a repository", async () => {
    const repo = await sandbox.repo("outer");
    await repo.write("inner/x.txt", "x\n");
    await assert.rejects(
      diffSummary(git, join(repo.path, "inner")),
      NotAGitRepositoryError,
    );
  });
  await t.step("a missing folder", async () => {
    await assert.rejects(
      diffSummary(git, join(sandbox.root, "missing")),
      NotAGitRepositoryError,
    );
  });
});
