// Tests for projects.ts on real temp folders and repositories: discovery,
// warnings, naming collisions, lookup and statuses.

import assert from "node:assert/strict";
import { join } from "node:path";
import { NotAGitRepositoryError } from "../git.ts";
import {
  describeDiscoveryWarning,
  discoverProjects,
  findProject,
  type Project,
  readProjectStatuses,
} from "../projects.ts";
import { GitSandbox } from "./fakes/git_repo.ts";

Deno.test("discoverProjects() finds listed repositories and their repository subfolders", async () => {
  await using sandbox = await GitSandbox.create();
  const code = await sandbox.dir("code");
  const api = await sandbox.repo("code/api");
  const web = await sandbox.repo("code/web");
  await sandbox.dir("code/notes");
  await sandbox.repo("code/.hidden");
  await Deno.writeTextFile(join(code, "file.txt"), "not a folder\n");
  await sandbox.repo("code/api/nested");
  const single = await sandbox.repo("elsewhere/single");
  await sandbox.repo("elsewhere/single/sub");

  const { projects, warnings } = await discoverProjects([code, single.path]);
  assert.deepEqual(projects, [
    { name: "api", path: api.path },
    { name: "web", path: web.path },
    { name: "single", path: single.path },
    { name: "sub", path: join(single.path, "sub") },
  ]);
  assert.deepEqual(warnings, []);
});

Deno.test("discoverProjects() warns about missing and odd entries and keeps going", async () => {
  await using sandbox = await GitSandbox.create();
  const missing = join(sandbox.root, "nope");
  const file = join(sandbox.root, "file.txt");
  await Deno.writeTextFile(file, "x\n");
  const repo = await sandbox.repo("code/api");
  await Deno.symlink(
    join(sandbox.root, "gone"),
    join(sandbox.root, "code", "dangling"),
  );

  const { projects, warnings } = await discoverProjects([
    missing,
    file,
    join(sandbox.root, "code"),
  ]);
  assert.deepEqual(projects, [{ name: "api", path: repo.path }]);
  assert.deepEqual(warnings, [
    { kind: "missing", dir: missing },
    { kind: "not-a-directory", dir: file },
  ]);
});

Deno.test("discoverProjects() refuses a relative folder", async () => {
  await assert.rejects(discoverProjects(["relative/dir"]), TypeError);
});

Deno.test("discoverProjects() names collisions predictably", async (t) => {
  await using sandbox = await GitSandbox.create();

  await t.step(
    "the first listed keeps the name, later ones get -2, -3",
    async () => {
      const a = await sandbox.repo("a/api");
      const b = await sandbox.repo("b/api");
      const c = await sandbox.repo("c/api");
      const { projects, warnings } = await discoverProjects([
        join(sandbox.root, "a"),
        join(sandbox.root, "b"),
        join(sandbox.root, "c"),
      ]);
      assert.deepEqual(projects, [
        { name: "api", path: a.path },
        { name: "api-2", path: b.path },
        { name: "api-3", path: c.path },
      ]);
      assert.deepEqual(warnings, [
        { kind: "renamed", path: b.path, name: "api-2" },
        { kind: "renamed", path: c.path, name: "api-3" },
      ]);
    },
  );

  await t.step(
    "a folder really named api-2 keeps its name; case is ignored",
    async () => {
      const first = await sandbox.repo("d/api");
      const real = await sandbox.repo("e/api-2");
      const upper = await sandbox.repo("e/API");
      const { projects } = await discoverProjects([
        join(sandbox.root, "d"),
        join(sandbox.root, "e"),
      ]);
      assert.deepEqual(projects, [
        { name: "api", path: first.path },
        { name: "API-3", path: upper.path },
        { name: "api-2", path: real.path },
      ]);
    },
  );

  await t.step("whitespace and @ become -", async () => {
    const odd = await sandbox.repo("f/my project@work");
    const { projects, warnings } = await discoverProjects([
      join(sandbox.root, "f"),
    ]);
    assert.deepEqual(projects, [{ name: "my-project-work", path: odd.path }]);
    assert.deepEqual(warnings, [
      { kind: "renamed", path: odd.path, name: "my-project-work" },
    ]);
  });

  await t.step("the same repository listed twice is one project", async () => {
    const repo = await sandbox.repo("g/api");
    await Deno.symlink(repo.path, join(sandbox.root, "g", "link"));
    const { projects } = await discoverProjects([
      join(sandbox.root, "g"),
      repo.path,
    ]);
    assert.deepEqual(projects, [{ name: "api", path: repo.path }]);
  });
});

Deno.test("findProject() matches exactly, else ignoring case", () => {
  const projects: Project[] = [
    { name: "api", path: "/p/api" },
    { name: "Web", path: "/p/Web" },
  ];
  assert.equal(findProject(projects, "api")?.path, "/p/api");
  assert.equal(findProject(projects, "Api")?.path, "/p/api");
  assert.equal(findProject(projects, "web")?.path, "/p/Web");
  assert.equal(findProject(projects, "nope"), undefined);
});

Deno.test("readProjectStatuses() reads each project and reports failures in place", async () => {
  await using sandbox = await GitSandbox.create();
  const clean = await sandbox.repo("code/clean");
  const dirty = await sandbox.repo("code/dirty");
  await dirty.write("README.md", "changed\n");
  const branch = await sandbox.repo("code/branch");
  await branch.git("checkout", "-q", "-b", "feature");
  const moved = await sandbox.repo("code/moved");
  const { projects } = await discoverProjects([join(sandbox.root, "code")]);
  await Deno.remove(moved.path, { recursive: true });

  const statuses = await readProjectStatuses(sandbox.git(), projects);
  assert.deepEqual(
    statuses.map((entry) => entry.project.name),
    ["branch", "clean", "dirty", "moved"],
  );
  assert.deepEqual(
    statuses.slice(0, 3).map((entry) => "status" in entry && entry.status),
    [
      { branch: "feature", isDirty: false, changedFileCount: 0 },
      { branch: "main", isDirty: false, changedFileCount: 0 },
      { branch: "main", isDirty: true, changedFileCount: 1 },
    ],
  );
  const last = statuses[3];
  assert.ok("error" in last && last.error instanceof NotAGitRepositoryError);
  assert.equal(clean.path, projects[1].path);
});

Deno.test("describeDiscoveryWarning() names the entry and what happens to it", () => {
  assert.equal(
    describeDiscoveryWarning({ kind: "missing", dir: "/srv/gone" }),
    'PROJECTS_DIRS entry "/srv/gone" does not exist; its projects are left out until it does',
  );
  assert.match(
    describeDiscoveryWarning({ kind: "not-a-directory", dir: "/etc/hosts" }),
    /"\/etc\/hosts" is not a folder/,
  );
  assert.match(
    describeDiscoveryWarning({
      kind: "unreadable",
      dir: "/root",
      error: "PermissionDenied",
    }),
    /Cannot read "\/root" for projects: PermissionDenied/,
  );
  assert.match(
    describeDiscoveryWarning({
      kind: "renamed",
      path: "/a/api",
      name: "api-2",
    }),
    /"\/a\/api" is called "api-2"/,
  );
});
