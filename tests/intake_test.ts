// TurnIntake without Telegram or a real Claude: a journal on a temp folder,
// the registry with in-memory Claude processes, an in-memory chat, and the
// files a test hands over. Checks the journal's path through a turn, arrival
// order, downloads, refusals, recovery and Retry.
import assert from "node:assert/strict";
import { memorySessions } from "./fakes/memory_sessions.ts";
import { Approvals } from "../approvals.ts";
import { type FileSource, FileTooLargeError, TurnIntake } from "../intake.ts";
import { InboundJournal, type JournalInput } from "../journal.ts";
import { Outbox } from "../outbox.ts";
import { readJournal } from "./fakes/journal_files.ts";
import { MemoryChat } from "./fakes/memory_chat.ts";
import { pollUntil } from "./fakes/wait.ts";

const CHAT_ID = 1001;
const CHAT = String(CHAT_ID);

async function setUp(files: FileSource = { download: () => fail() }) {
  const { dir: dataDir, clock, claude, sessions } = await memorySessions({
    defaultIdleTimeoutMs: 60_000,
    startMs: 1_000_000,
  });
  const journal = new InboundJournal({ dataDir, clock });
  await journal.load();
  const chat = new MemoryChat(clock);
  const outbox = new Outbox({ clock, perChatIntervalMs: 0 });
  const logs: string[] = [];
  const log = (message: string) => logs.push(message);
  const approvals = new Approvals({
    chatFor: () => chat,
    outbox,
    sessions: {
      list: (chatKey) => sessions.list(chatKey),
      answerPermission: () => Promise.resolve(false),
      alwaysAllow: () => Promise.resolve(),
    },
    clock,
    timeoutMs: 60_000,
    log,
  });
  const intake = new TurnIntake({
    sessions,
    journal,
    approvals,
    outbox,
    clock,
    chats: () => chat,
    files,
    errorText: (error) => `refused: ${(error as Error).name}`,
    log,
  });
  let nextId = 1;
  return {
    dataDir,
    claude,
    chat,
    journal,
    intake,
    sessions,
    logs,
    /** Journals a message as commands.ts does and hands it to the intake. */
    async receive(input: JournalInput) {
      const entry = await journal.add({
        id: nextId++,
        chatId: CHAT_ID,
        chatKey: CHAT,
        input,
      });
      intake.accept(entry);
      return entry;
    },
    /** Waits until the entry's file says `state`. */
    until(id: number, state: string) {
      return pollUntil(
        async () =>
          (await readJournal(dataDir)).some((e) =>
            e.id === id && e.state === state
          ),
        { description: `entry ${id} to be ${state}` },
      );
    },
    texts: () => [...chat.messages.values()].map((m) => m.text),
    async [Symbol.asyncDispose]() {
      await sessions.shutdown();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

function fail(): never {
  throw new Error("no download expected");
}

Deno.test("TurnIntake runs a message as a turn, answers, and finishes its journal entry", async () => {
  await using env = await setUp();
  const { id } = await env.receive({ kind: "text", text: "hello" });
  await env.until(id, "done");
  assert.deepEqual(env.texts(), ["echo: hello"]);
  assert.deepEqual(env.claude.started[0].inputs, ["hello"]);
  assert.equal(env.intake.activeReplies, 0);
});

Deno.test("TurnIntake keeps a chat's arrival order and answers each message once", async () => {
  await using env = await setUp();
  const ids = [];
  for (const text of ["one", "two", "three"]) {
    ids.push((await env.receive({ kind: "text", text })).id);
  }
  await env.until(ids[2], "done");
  await pollUntil(() => env.texts().length === 3, {
    description: "three answers",
  });
  assert.deepEqual(env.texts(), ["echo: one", "echo: two", "echo: three"]);
  assert.deepEqual(env.claude.started[0].inputs, ["one", "two", "three"]);
});

Deno.test("TurnIntake saves a document into the session's inbox and tells Claude the path", async () => {
  const bytes = new TextEncoder().encode("notes");
  await using env = await setUp({ download: () => Promise.resolve(bytes) });
  const { id } = await env.receive({
    kind: "document",
    fileId: "f1",
    fileName: "notes.txt",
    size: bytes.length,
  });
  await env.until(id, "done");
  assert.deepEqual(env.claude.started[0].inputs, [
    "[The user sent a file, saved as inbox/notes.txt (5 bytes)]",
  ]);
  const workDir = env.sessions.active(CHAT)!.workDir;
  assert.equal(await Deno.readTextFile(`${workDir}/inbox/notes.txt`), "notes");
});

Deno.test("TurnIntake refuses a file that cannot be had, runs no turn and closes the entry", async () => {
  await using env = await setUp({
    download: () => Promise.reject(new FileTooLargeError("too large")),
  });
  const { id } = await env.receive({
    kind: "photo",
    fileId: "f",
    fileUniqueId: "u",
  });
  await env.until(id, "done");
  await pollUntil(() => env.texts().length === 1, {
    description: "the refusal",
  });
  assert.deepEqual(env.texts(), ["refused: FileTooLargeError"]);
  assert.equal(env.claude.started.length, 0);
});

Deno.test("TurnIntake.recover() replays queued messages and offers Retry for a running one", async () => {
  await using env = await setUp();
  const running = await env.journal.add({
    id: 41,
    chatId: CHAT_ID,
    chatKey: CHAT,
    input: { kind: "text", text: "was running" },
  });
  await env.journal.start(running.id);
  await env.journal.add({
    id: 42,
    chatId: CHAT_ID,
    chatKey: CHAT,
    input: { kind: "text", text: "was queued" },
  });
  await env.intake.recover();
  await env.until(42, "done");
  await env.until(41, "interrupted");
  await pollUntil(() => env.texts().length === 2, {
    description: "the notice and the replayed answer",
  });
  assert.match(env.texts()[0], /restarted while Claude was working/);
  assert.deepEqual(env.claude.started[0].inputs, ["was queued"]);

  assert.equal(await env.intake.retry(CHAT), true);
  await env.until(41, "done");
  assert.deepEqual(env.claude.started[0].inputs, ["was queued", "was running"]);
  assert.equal(await env.intake.retry(CHAT), false, "nothing left to retry");
});
