// Tests for store.ts against a real temp DATA_DIR: layout, round trips,
// atomic writes, quarantine of corrupt files, archiving and write failures.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemClock } from "../clock.ts";
import {
  type ChatRecord,
  type SessionRecord,
  SessionStore,
  StoreWriteError,
} from "../store.ts";

/** A temp dir holding one store's DATA_DIR; removed on dispose. */
class TempStore implements AsyncDisposable {
  readonly root: string;
  readonly store: SessionStore;

  private constructor(root: string) {
    this.root = root;
    // A subdirectory, so init() creates DATA_DIR itself.
    this.store = new SessionStore({
      dataDir: join(root, "data"),
      clock: systemClock,
    });
  }

  static async create(): Promise<TempStore> {
    const temp = new TempStore(
      await Deno.makeTempDir({ prefix: "store_test_" }),
    );
    await temp.store.init();
    return temp;
  }

  get dataDir(): string {
    return this.store.dataDir;
  }

  get stateDir(): string {
    return this.store.stateDir;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }
}

function sessionRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    name: "default",
    chatKey: "1001",
    workDir: "/nonexistent/work/1001/default",
    createdAt: 1_700_000_000_000,
    lastActiveAt: 1_700_000_060_000,
    state: "suspended",
    idleTimeoutMs: 15 * 60_000,
    outputMode: "normal",
    turns: 0,
    totalCostUsd: 0,
    lastTurnCostUsd: 0,
    alwaysAllowedTools: [],
    costByDay: {},
    ...overrides,
  };
}

async function listNames(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** Every file path under `dir`, relative to it. */
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const paths = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    paths.push(path);
    if (entry.isDirectory) paths.push(...await listTree(dir, path));
  }
  return paths.sort();
}

function byName(a: SessionRecord, b: SessionRecord): number {
  return a.name.localeCompare(b.name);
}

Deno.test("SessionStore.init() creates a private directory tree", async () => {
  await using temp = await TempStore.create();
  assert.deepEqual(await listTree(temp.dataDir), [
    "state",
    "state/archive",
    "state/chats",
    "state/sessions",
    "uploads",
    "work",
  ]);
  for (
    const dir of [
      "",
      "state",
      "state/archive",
      "state/chats",
      "state/sessions",
      "uploads",
      "work",
    ]
  ) {
    const { mode } = await Deno.stat(join(temp.dataDir, dir));
    assert.equal(mode! & 0o777, 0o700, `mode of "${dir || "."}"`);
  }
  // A second init (the next start of the bot) keeps what is there.
  await temp.store.saveChat({ chatKey: "1001" });
  await temp.store.init();
  assert.deepEqual((await temp.store.load()).chats, [{ chatKey: "1001" }]);
});

Deno.test("SessionStore.load() returns what was saved", async () => {
  await using temp = await TempStore.create();
  const full = sessionRecord({
    name: "api",
    chatKey: "-100123:7",
    state: "live",
    personaName: "reviewer",
    systemPrompt: "Be terse.",
    model: "sonnet",
    outputMode: "verbose",
    claudeSessionId: crypto.randomUUID(),
    pid: 4242,
    pidStartTime: "Wed Nov 25 23:43:00 2026",
    suspendedAt: 1_700_000_100_000,
    turns: 3,
    totalCostUsd: 0.42,
    lastTurnCostUsd: 0.01,
    contextUsed: 0.25,
  });
  const minimal = sessionRecord({ name: "default", chatKey: "1001" });
  const chats: ChatRecord[] = [
    { chatKey: "-100123:7", activeSession: "api" },
    { chatKey: "1001" },
  ];
  await temp.store.saveSession(full);
  await temp.store.saveSession(minimal);
  for (const chat of chats) await temp.store.saveChat(chat);

  const loaded = await new SessionStore({
    dataDir: temp.dataDir,
    clock: systemClock,
  }).load();
  assert.deepEqual(loaded.sessions.sort(byName), [full, minimal]);
  assert.deepEqual(
    loaded.chats.sort((a, b) => a.chatKey.localeCompare(b.chatKey)),
    chats,
  );
  assert.deepEqual(loaded.quarantined, []);
});

Deno.test("SessionStore.load() fills defaults of fields added later", async () => {
  await using temp = await TempStore.create();
  const {
    outputMode: _,
    turns: __,
    alwaysAllowedTools: ___,
    ...older
  } = sessionRecord();
  await Deno.writeTextFile(
    join(temp.stateDir, "sessions", "1001--default.json"),
    JSON.stringify(older),
  );
  const { sessions } = await temp.store.load();
  assert.deepEqual(sessions, [sessionRecord()]);
});

Deno.test("SessionStore writes atomically", async (t) => {
  await t.step("a save leaves only the record file", async () => {
    await using temp = await TempStore.create();
    await temp.store.saveSession(sessionRecord());
    await temp.store.saveSession(sessionRecord({ turns: 1 }));
    await temp.store.saveChat({ chatKey: "1001", activeSession: "default" });
    assert.deepEqual(await listTree(temp.stateDir), [
      "archive",
      "chats",
      "chats/1001.json",
      "sessions",
      "sessions/1001--default.json",
    ]);
    const { mode } = await Deno.stat(
      join(temp.stateDir, "sessions", "1001--default.json"),
    );
    assert.equal(mode! & 0o777, 0o600);
  });

  await t.step("a temp file left by a crash mid-write is ignored", async () => {
    await using temp = await TempStore.create();
    const record = sessionRecord();
    await temp.store.saveSession(record);
    // What `kill -9` between write and rename leaves: a partial temp file.
    const sessionsDir = join(temp.stateDir, "sessions");
    await Deno.writeTextFile(
      join(sessionsDir, `1001--default.json.tmp-${crypto.randomUUID()}`),
      '{"name": "default", "chatK',
    );
    await Deno.writeTextFile(
      join(sessionsDir, `1001--other.json.tmp-${crypto.randomUUID()}`),
      "",
    );
    const loaded = await temp.store.load();
    assert.deepEqual(loaded.sessions, [record]);
    assert.deepEqual(loaded.quarantined, []);
  });
});

Deno.test("SessionStore.load() quarantines corrupt files and loads the rest", async () => {
  await using temp = await TempStore.create();
  const good = sessionRecord({ name: "good" });
  await temp.store.saveSession(good);
  const sessionsDir = join(temp.stateDir, "sessions");
  const corrupt = {
    "1001--badjson.json": '{"name": "badjson", ',
    "1001--badschema.json": JSON.stringify({ ...good, idleTimeoutMs: -1 }),
    "1001--null.json": "null",
  };
  for (const [name, text] of Object.entries(corrupt)) {
    await Deno.writeTextFile(join(sessionsDir, name), text);
  }
  await Deno.writeTextFile(
    join(temp.stateDir, "chats", "2002.json"),
    JSON.stringify({ activeSession: "x" }),
  );

  const loaded = await temp.store.load();
  assert.deepEqual(loaded.sessions, [good]);
  assert.deepEqual(loaded.chats, []);
  assert.equal(loaded.quarantined.length, 4);
  const quarantineDir = join(temp.stateDir, "quarantine");
  for (const path of loaded.quarantined) {
    assert.equal(join(quarantineDir, path.split("/").pop()!), path);
  }
  // Each reported path holds the original bytes of one corrupt file.
  const moved = new Map<string, string>();
  for (const path of loaded.quarantined) {
    const original = path.split("/").pop()!.replace(/^\d+-/, "");
    moved.set(original, await Deno.readTextFile(path));
  }
  assert.deepEqual(
    Object.fromEntries(moved),
    {
      ...corrupt,
      "2002.json": JSON.stringify({ activeSession: "x" }),
    },
  );
  assert.deepEqual(await listNames(sessionsDir), ["1001--good.json"]);

  // Quarantined files are gone from the live set: the next load is clean.
  const again = await temp.store.load();
  assert.deepEqual(again.sessions, [good]);
  assert.deepEqual(again.quarantined, []);
});

Deno.test("SessionStore.instanceId() is created once and kept", async () => {
  await using temp = await TempStore.create();
  const id = await temp.store.instanceId();
  assert.match(
    id,
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  );
  assert.equal(await temp.store.instanceId(), id);
  const next = new SessionStore({ dataDir: temp.dataDir, clock: systemClock });
  assert.equal(await next.instanceId(), id);
  assert.equal(
    await Deno.readTextFile(join(temp.stateDir, "instance-id")),
    `${id}\n`,
  );
});

Deno.test("SessionStore.archiveSession() moves the record and frees the name", async () => {
  await using temp = await TempStore.create();
  const workDir = temp.store.workDirFor("-100123:7", "api");
  assert.equal(workDir, join(temp.dataDir, "work", "-100123_7", "api"));
  await Deno.mkdir(workDir, { recursive: true });
  await Deno.writeTextFile(join(workDir, "notes.md"), "kept");
  const record = sessionRecord({
    name: "api",
    chatKey: "-100123:7",
    workDir,
    archivedAt: Date.UTC(2026, 10, 25, 23, 43, 1, 5),
  });
  await temp.store.saveSession(record);
  await temp.store.saveSession(sessionRecord({ name: "other" }));

  const archived = await temp.store.archiveSession(record);

  const stamp = "2026-11-25T23-43-01-005Z";
  assert.deepEqual(archived, {
    ...record,
    state: "archived",
    workDir: `${workDir}.archived-${stamp}`,
  });
  assert.equal(
    await Deno.readTextFile(join(archived.workDir, "notes.md")),
    "kept",
  );
  await assert.rejects(Deno.stat(workDir), Deno.errors.NotFound);
  assert.deepEqual(
    JSON.parse(
      await Deno.readTextFile(
        join(temp.stateDir, "archive", `-100123_7--api--${stamp}.json`),
      ),
    ),
    archived,
  );
  const { sessions } = await temp.store.load();
  assert.deepEqual(sessions.map((s) => s.name), ["other"]);

  // The name is free: a new session of that name starts from scratch.
  const reborn = sessionRecord({ name: "api", chatKey: "-100123:7", workDir });
  await Deno.mkdir(workDir);
  await temp.store.saveSession(reborn);
  assert.deepEqual(
    (await temp.store.load()).sessions.sort(byName),
    [reborn, sessionRecord({ name: "other" })],
  );
});

Deno.test("SessionStore.archiveSession() works when the work dir never existed", async () => {
  await using temp = await TempStore.create();
  const record = sessionRecord({
    workDir: temp.store.workDirFor("1001", "default"),
    archivedAt: 1_700_000_000_000,
  });
  await temp.store.saveSession(record);
  const archived = await temp.store.archiveSession(record);
  assert.equal(archived.state, "archived");
  assert.deepEqual((await temp.store.load()).sessions, []);
  assert.equal(await temp.store.countArchived("1001"), 1);
});

Deno.test("SessionStore.archiveSession() is not undone by saves still in flight", async () => {
  await using temp = await TempStore.create();
  const record = sessionRecord({ archivedAt: 1_700_000_000_000 });
  // Fire-and-forget saves, as a turn's events trigger them, queue up on the
  // session file; the archive must land after them, not under them.
  const saves = Array.from(
    { length: 10 },
    (_, turns) => temp.store.saveSession({ ...record, turns }),
  );
  await temp.store.archiveSession(record);
  await Promise.all(saves);
  await temp.store.flush();
  assert.deepEqual((await temp.store.load()).sessions, []);
  assert.deepEqual(await listNames(join(temp.stateDir, "sessions")), []);
});

Deno.test("SessionStore.countArchived() counts one chat's archived sessions", async () => {
  await using temp = await TempStore.create();
  assert.equal(await temp.store.countArchived("1001"), 0);
  const archive = async (chatKey: string, name: string, archivedAt: number) => {
    const record = sessionRecord({
      chatKey,
      name,
      archivedAt,
      workDir: temp.store.workDirFor(chatKey, name),
    });
    await temp.store.saveSession(record);
    await temp.store.archiveSession(record);
  };
  await archive("1001", "a", 1);
  await archive("1001", "a", 2);
  await archive("1001", "b", 3);
  await archive("-1001", "a", 4);
  await archive("1001:5", "a", 5);
  assert.equal(await temp.store.countArchived("1001"), 3);
  assert.equal(await temp.store.countArchived("-1001"), 1);
  assert.equal(await temp.store.countArchived("1001:5"), 1);
  assert.equal(await temp.store.countArchived("2002"), 0);
});

Deno.test("SessionStore.saveSession() raises StoreWriteError and keeps the old state", async (t) => {
  await t.step("the target is a directory", async () => {
    await using temp = await TempStore.create();
    const sessionsDir = join(temp.stateDir, "sessions");
    const target = join(sessionsDir, "1001--default.json");
    await Deno.mkdir(target);
    await Deno.writeTextFile(join(target, "inside"), "untouched");

    const error = await temp.store.saveSession(sessionRecord()).then(
      () => assert.fail("the save succeeded"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof StoreWriteError);
    assert.equal(error.name, "StoreWriteError");
    assert.ok(error.message.includes(`"${target}"`), error.message);
    // Nothing replaced the target and no temp file is left behind.
    assert.deepEqual(await listTree(sessionsDir), [
      "1001--default.json",
      "1001--default.json/inside",
    ]);
    assert.equal(
      await Deno.readTextFile(join(target, "inside")),
      "untouched",
    );
  });

  await t.step("the sessions dir is not a directory", async () => {
    await using temp = await TempStore.create();
    const first = sessionRecord({ turns: 1 });
    await temp.store.saveSession(first);
    // Running as root, chmod cannot make a directory unwritable; a regular
    // file where the directory should be refuses every write.
    const sessionsDir = join(temp.stateDir, "sessions");
    const aside = join(temp.stateDir, "sessions-aside");
    await Deno.rename(sessionsDir, aside);
    await Deno.writeTextFile(sessionsDir, "not a directory");

    await assert.rejects(
      temp.store.saveSession(sessionRecord({ turns: 2 })),
      StoreWriteError,
    );

    await Deno.remove(sessionsDir);
    await Deno.rename(aside, sessionsDir);
    assert.deepEqual((await temp.store.load()).sessions, [first]);
    assert.deepEqual(await listNames(sessionsDir), ["1001--default.json"]);
  });
});

Deno.test("SessionStore.saveSession() keeps the last of concurrent saves", async () => {
  await using temp = await TempStore.create();
  const saves = Array.from(
    { length: 20 },
    (_, turns) => temp.store.saveSession(sessionRecord({ turns })),
  );
  await Promise.all(saves);
  const { sessions } = await temp.store.load();
  assert.deepEqual(sessions, [sessionRecord({ turns: 19 })]);
  assert.deepEqual(await listNames(join(temp.stateDir, "sessions")), [
    "1001--default.json",
  ]);
});

Deno.test("SessionStore.flush() waits for every write in flight", async () => {
  await using temp = await TempStore.create();
  const path = join(temp.stateDir, "sessions", "1001--default.json");
  const failing = join(temp.stateDir, "chats", "2002.json");
  await Deno.mkdir(failing);
  const writes = [
    ...Array.from(
      { length: 5 },
      (_, turns) => temp.store.saveSession(sessionRecord({ turns })),
    ),
    // A failed write must not make flush() reject or return early.
    temp.store.saveChat({ chatKey: "2002" }).catch((error) => error),
    temp.store.saveChat({ chatKey: "1001", activeSession: "default" }),
  ];
  await temp.store.flush();
  assert.deepEqual(
    JSON.parse(await Deno.readTextFile(path)),
    sessionRecord({ turns: 4 }),
  );
  assert.deepEqual(
    JSON.parse(
      await Deno.readTextFile(join(temp.stateDir, "chats", "1001.json")),
    ),
    { chatKey: "1001", activeSession: "default" },
  );
  assert.ok((await Promise.all(writes))[5] instanceof StoreWriteError);
  // Nothing started: flush() resolves at once.
  await temp.store.flush();
});

Deno.test("SessionStore.init() moves an older layout's state under state/, tightens DATA_DIR and clears temp files", async () => {
  const root = await Deno.makeTempDir({ prefix: "store_test_" });
  try {
    const dataDir = join(root, "data");
    await Deno.mkdir(join(dataDir, "sessions"), { recursive: true });
    await Deno.chmod(dataDir, 0o755);
    const record = sessionRecord();
    await Deno.writeTextFile(
      join(dataDir, "sessions", "1001--default.json"),
      JSON.stringify(record),
    );
    await Deno.writeTextFile(join(dataDir, "instance-id"), "x\n");
    const store = new SessionStore({ dataDir, clock: systemClock });
    await store.init();
    await Deno.writeTextFile(
      join(store.stateDir, "sessions", `a.json.tmp-${crypto.randomUUID()}`),
      "partial",
    );
    await store.init();
    assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
    assert.deepEqual(await listNames(join(store.stateDir, "sessions")), [
      "1001--default.json",
    ]);
    assert.deepEqual((await store.load()).sessions, [record]);
    assert.equal(
      await Deno.readTextFile(join(store.stateDir, "instance-id")),
      "x\n",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("SessionStore.load() quarantines a record that is not in its own file", async () => {
  await using temp = await TempStore.create();
  const planted = sessionRecord({ chatKey: "2002", name: "victim" });
  await Deno.writeTextFile(
    join(temp.stateDir, "sessions", "1001--mine.json"),
    JSON.stringify(planted),
  );
  const loaded = await temp.store.load();
  assert.deepEqual(loaded.sessions, []);
  assert.equal(loaded.quarantined.length, 1);
});

Deno.test("SessionStore.archiveSession() leaves a project's folder where it is", async () => {
  await using temp = await TempStore.create();
  const repo = join(temp.root, "repo");
  await Deno.mkdir(repo);
  const record = sessionRecord({ name: "proj", workDir: repo });
  await temp.store.saveSession(record);
  const archived = await temp.store.archiveSession({
    ...record,
    archivedAt: 1_700_000_000_000,
  });
  assert.equal(archived.workDir, repo);
  assert.ok((await Deno.stat(repo)).isDirectory);
});
