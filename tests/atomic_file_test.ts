// Tests for atomic_file.ts: replacement, private mode, the directory sync
// after the rename, and the start-up sweep of temp files.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  AtomicWriteError,
  removeTempFiles,
  syncDirectory,
  writeTextFileAtomic,
} from "../atomic_file.ts";

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "atomic_file_test_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/**
 * Records, while `fn` runs, which paths were opened and which of the opened
 * files were fsynced, in order: the only way to see a directory sync happen.
 */
async function recordSyncs(fn: () => Promise<void>): Promise<string[]> {
  const events: string[] = [];
  const paths = new WeakMap<Deno.FsFile, string>();
  const open = Deno.open;
  const { sync, syncData } = Deno.FsFile.prototype;
  const patched = Deno as { open: typeof Deno.open };
  patched.open = async (path, options) => {
    const file = await open(path, options);
    paths.set(file, String(path));
    return file;
  };
  Deno.FsFile.prototype.sync = function () {
    events.push(`sync ${paths.get(this)}`);
    return sync.call(this);
  };
  Deno.FsFile.prototype.syncData = function () {
    events.push(`syncData ${paths.get(this)}`);
    return syncData.call(this);
  };
  try {
    await fn();
  } finally {
    patched.open = open;
    Object.assign(Deno.FsFile.prototype, { sync, syncData });
  }
  return events;
}

Deno.test("writeTextFileAtomic() replaces the file, private, leaving no temp file", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "sessions.json");
  await Deno.writeTextFile(path, "old");
  await writeTextFileAtomic(path, "new ✓");
  assert.equal(await Deno.readTextFile(path), "new ✓");
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  const names = await Array.fromAsync(Deno.readDir(dir.path), (e) => e.name);
  assert.deepEqual(names, ["sessions.json"]);
});

Deno.test("writeTextFileAtomic() syncs the data, then the directory after the rename", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "chats.json");
  const events = await recordSyncs(() => writeTextFileAtomic(path, "{}"));
  assert.equal(events.length, 2, JSON.stringify(events));
  assert.match(events[0], /^syncData .*chats\.json\.tmp-/);
  assert.equal(events[1], `sync ${dir.path}`);
});

Deno.test("writeTextFileAtomic() into a missing folder fails typed and creates nothing", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "gone", "x.json");
  const error = await writeTextFileAtomic(path, "{}").then(
    () => assert.fail("wrote into a missing folder"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof AtomicWriteError);
  assert.equal(error.path, path);
  assert.deepEqual(await Array.fromAsync(Deno.readDir(dir.path)), []);
});

Deno.test("syncDirectory() syncs an existing folder and rejects a missing one", async () => {
  await using dir = await tempDir();
  await syncDirectory(dir.path);
  await assert.rejects(
    syncDirectory(join(dir.path, "missing")),
    Deno.errors.NotFound,
  );
});

Deno.test("removeTempFiles() removes only writeTextFileAtomic's leftovers", async () => {
  await using dir = await tempDir();
  const uuid = () => crypto.randomUUID();
  const leftovers = [`a.json.tmp-${uuid()}`, `entry-7.json.tmp-${uuid()}`];
  const kept = [
    "a.json",
    "notes.tmp-1",
    `not-a-uuid.json.tmp-${uuid().slice(1)}`,
    `a.json.tmp-${uuid()}.bak`,
  ];
  for (const name of [...leftovers, ...kept]) {
    await Deno.writeTextFile(join(dir.path, name), "x");
  }
  // A folder of that name is not one of ours.
  await Deno.mkdir(join(dir.path, `d.tmp-${uuid()}`));
  const removed = await removeTempFiles(dir.path);
  assert.deepEqual(
    removed.sort(),
    leftovers.map((name) => join(dir.path, name)).sort(),
  );
  const left = await Array.fromAsync(Deno.readDir(dir.path), (e) => e.name);
  assert.equal(left.length, kept.length + 1);
  for (const name of kept) assert.ok(left.includes(name), name);
});

Deno.test("removeTempFiles() of a missing folder removes nothing", async () => {
  await using dir = await tempDir();
  assert.deepEqual(await removeTempFiles(join(dir.path, "none")), []);
});
