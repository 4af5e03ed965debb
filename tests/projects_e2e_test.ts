// End to end through the fake Bot API and the fake claude, on real git
// repositories made in temp dirs: /projects, /open (repository, branch
// worktrees, forum topics), /diff, /get, /handoff, /resume, uploads and
// /archive of worktree sessions, and the bad input of each.
import assert from "node:assert/strict";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { userMessageLine } from "../stream_json.ts";
import { STREAM_JSON_ARGS } from "../subprocess.ts";
import { BotHarness, OWNER_ID } from "./fakes/bot_harness.ts";
import type { FakeMessage } from "./fakes/fake_bot_api.ts";
import { GitSandbox, type TestRepo } from "./fakes/git_repo.ts";
import { processes } from "./fakes/spare_process.ts";

const CHAT = String(OWNER_ID);

/** Two repositories under one PROJECTS_DIRS folder and a bot serving them. */
class ProjectWorld implements AsyncDisposable {
  readonly sandbox: GitSandbox;
  readonly api: TestRepo;
  readonly web: TestRepo;
  readonly configDir: string;
  bot!: BotHarness;

  private constructor(
    sandbox: GitSandbox,
    api: TestRepo,
    web: TestRepo,
  ) {
    this.sandbox = sandbox;
    this.api = api;
    this.web = web;
    this.configDir = join(sandbox.root, "claude-config");
  }

  /** @param options.projectsDirs PROJECTS_DIRS from the sandbox root; default its code/ */
  static async start(
    options: {
      env?: Record<string, string>;
      projectsDirs?: (root: string) => string;
    } = {},
  ): Promise<ProjectWorld> {
    const sandbox = await GitSandbox.create();
    const api = await sandbox.repo("code/api", {
      "README.md": "hello\n",
      "src/main.ts": "console.log(1);\n",
      "src/lib/util.ts": "export const x = 1;\n",
    });
    const web = await sandbox.repo("code/web");
    const world = new ProjectWorld(sandbox, api, web);
    try {
      world.bot = await BotHarness.start({
        env: {
          PROJECTS_DIRS: options.projectsDirs?.(sandbox.root) ??
            join(sandbox.root, "code"),
          CLAUDE_CONFIG_DIR: world.configDir,
          ...options.env,
        },
        claudeEnv: { CLAUDE_CONFIG_DIR: world.configDir },
      });
    } catch (error) {
      await sandbox[Symbol.asyncDispose]();
      throw error;
    }
    return world;
  }

  /** DATA_DIR/worktrees/<project>/<branch>. */
  worktree(project: string, branch: string): string {
    return join(this.bot.dataDir, "worktrees", project, branch);
  }

  /** Sends a command and waits for the reply matching `expected`. */
  ask(text: string, expected: RegExp): Promise<FakeMessage> {
    return this.bot.ask(text, expected);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.bot?.[Symbol.asyncDispose]();
    } finally {
      await this.sandbox[Symbol.asyncDispose]();
    }
  }
}

/** The inline buttons of a bot message, as [text, data] pairs. */
function buttonsOf(message: FakeMessage): [string, string][] {
  const markup = message.reply_markup as
    | { inline_keyboard: { text: string; callback_data: string }[][] }
    | undefined;
  return (markup?.inline_keyboard ?? []).flat().map((
    b,
  ) => [b.text, b.callback_data]);
}

/** Waits for a document the bot sends after `after` messages. */
function waitForDocument(
  bot: BotHarness,
  fileName: string,
  after: number,
): Promise<FakeMessage> {
  return bot.api.waitFor(
    () =>
      bot.api.messages().slice(after).find((m) =>
        m.document?.file_name === fileName
      ),
    { timeoutMs: 10_000, description: `the document ${fileName}` },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("/projects shows each project's branch, state and sessions, with Open buttons that open it", async () => {
  await using world = await ProjectWorld.start();
  const { bot, api } = world;
  await world.web.write("notes.txt", "untracked\n");

  const list = await world.ask("/projects", /Projects/);
  assert.match(list.text, /api — main · clean/);
  assert.match(list.text, /web — main · dirty \(1 file\(s\)\)/);
  assert.deepEqual(buttonsOf(list), [
    ["Open api", "open:api"],
    ["Open web", "open:web"],
  ]);

  const before = bot.api.messages().length;
  bot.api.pressButton(list.message_id, "open:api");
  await bot.waitForMessage(/Opened api on api/, { after: before });
  await world.ask("hello", /echo: hello/);
  const [start] = await bot.claudeStarts();
  assert.equal(start.cwd, api.path);

  const again = await world.ask("/projects", /Projects/);
  assert.match(again.text, /api — main · clean\n\s+sessions: api/);
});

Deno.test("/open without a branch works in the repository itself and warns when another live session is there", async () => {
  await using world = await ProjectWorld.start();
  const { bot, api } = world;

  const opened = await world.ask("/open api", /Opened api on api/);
  assert.match(opened.text, /the repository, on main/);
  assert.doesNotMatch(opened.text, /already works/);
  await world.ask("hi", /echo: hi/);
  assert.equal((await bot.claudeStarts()).at(-1)!.cwd, api.path);
  assert.equal(await api.currentBranch(), "main");

  const second = await world.ask("/open api second", /Opened second on api/);
  assert.match(
    second.text,
    /api already works in this folder right now.*\/open api@<branch>/s,
  );
  const names = bot.app.sessions.list(CHAT).map((v) => v.name);
  assert.deepEqual(names, ["api", "second"]);

  const back = await world.ask("/open api", /Switched to api/);
  assert.match(back.text, /already open on api/);
});

Deno.test("/open with branches gives each its own worktree; the repository's checkout never moves", async () => {
  await using world = await ProjectWorld.start();
  const { bot, api } = world;
  const feat = world.worktree("api", "feat");
  const fix = world.worktree("api", "fix/login");

  const opened = await world.ask("/open api@feat", /Opened api-feat/);
  assert.match(opened.text, /Branch feat is new, made from main/);
  assert.match(opened.text, /a worktree of its own/);
  await world.ask("on feat", /echo: on feat/);
  await world.ask("/open api@fix/login", /Opened api-fix-login/);
  await world.ask("on fix", /echo: on fix/);

  const starts = await bot.claudeStarts();
  assert.deepEqual(starts.map((s) => s.cwd), [feat, fix]);
  assert.equal(await api.currentBranch(), "main");
  assert.equal(await api.gitIn(feat, ["branch", "--show-current"]), "feat");
  assert.equal(await api.gitIn(fix, ["branch", "--show-current"]), "fix/login");
  const uploadDir = join(bot.dataDir, "uploads", CHAT, "api-feat");
  const argv = starts[0].argv;
  assert.equal(argv[argv.indexOf("--add-dir") + 1], uploadDir);

  const sessions = await world.ask("/sessions", /api-feat/);
  assert.match(sessions.text, /api-feat — .*📁 api @ feat/);
  assert.match(sessions.text, /api-fix-login — .*📁 api @ fix\/login/);

  // Back to the first: its Claude, still running in its worktree, goes on.
  await world.ask("/switch api-feat", /Switched to api-feat/);
  const history = await world.ask("!history", /on feat/);
  assert.deepEqual(JSON.parse(history.text), ["on feat"]);
  assert.equal((await bot.claudeStarts()).length, 2);

  // Opened again elsewhere, the branch's worktree is reused.
  await world.ask("/open api@feat again", /Opened again.*\(reused\)/s);
});

Deno.test("a branch session survives a restart in its worktree and resumes there", async () => {
  await using world = await ProjectWorld.start();
  const { bot } = world;
  await world.ask("/open api@feat", /Opened api-feat/);
  await world.ask("before the restart", /echo: before the restart/);

  await bot.restart();
  await world.ask("!history", /before the restart/);
  const last = (await bot.claudeStarts()).at(-1)!;
  assert.equal(last.cwd, world.worktree("api", "feat"));
  assert.ok(last.argv.includes("--resume"));
});

Deno.test("/diff lists changed and untracked files, and sends a long patch as changes.diff", async () => {
  await using world = await ProjectWorld.start();
  const { bot, api } = world;
  await world.ask("/open api@feat", /Opened api-feat/);
  const feat = world.worktree("api", "feat");

  await world.ask("/diff", /No changes in api-feat .* against HEAD/);

  await Deno.writeTextFile(join(feat, "README.md"), "hello\nchanged\n");
  await Deno.writeTextFile(join(feat, "new.txt"), "new\n");
  const short = await world.ask("/diff", /Changes in api-feat/);
  assert.match(short.text, /README\.md \+1 −0/);
  assert.match(short.text, /Untracked \(not in the patch\):\n• new\.txt/);
  assert.match(short.text, /\+changed/, "a short patch is inline");

  const long = Array.from({ length: 400 }, (_, i) => `line ${i}`).join("\n");
  await Deno.writeTextFile(join(feat, "src", "main.ts"), long + "\n");
  const before = bot.api.messages().length;
  const summary = await world.ask("/diff", /full patch is in changes\.diff/);
  assert.match(summary.text, /src\/main\.ts \+400 −1/);
  const document = await waitForDocument(bot, "changes.diff", before);
  assert.match(document.document!.content, /^\+line 399$/m);
  assert.match(document.document!.content, /^diff --git a\/README\.md/m);
  assert.equal(await api.currentBranch(), "main");

  await world.ask("/new scratch", /Created session scratch/);
  await world.ask(
    "/diff",
    /scratch works in a folder that is not a git repository/,
  );
});

Deno.test("/get sends a file as it is and a folder as a zip", async () => {
  await using world = await ProjectWorld.start();
  const { bot } = world;
  await world.ask("/open api", /Opened api/);

  let before = bot.api.messages().length;
  bot.api.sendText("/get README.md");
  const file = await waitForDocument(bot, "README.md", before);
  assert.equal(file.document!.content, "hello\n");
  assert.match(file.text, /^README\.md from api, 6 bytes\.$/);

  before = bot.api.messages().length;
  bot.api.sendText("/get src");
  const zip = await waitForDocument(bot, "src.zip", before);
  const entries = unzipSync(zip.document!.bytes);
  const decoder = new TextDecoder();
  assert.deepEqual(
    Object.fromEntries(
      Object.entries(entries).map((
        [name, data],
      ) => [name, decoder.decode(data)]),
    ),
    {
      "src/lib/util.ts": "export const x = 1;\n",
      "src/main.ts": "console.log(1);\n",
    },
  );
});

Deno.test("/get refuses every way out of the session's folder, and missing files, with no document", async (t) => {
  await using world = await ProjectWorld.start();
  const { bot, api, sandbox } = world;
  await world.ask("/open api", /Opened api/);
  const outside = await sandbox.dir("outside");
  await Deno.writeTextFile(join(outside, "secret.txt"), "secret\n");
  await Deno.symlink(join(outside, "secret.txt"), join(api.path, "link.txt"));
  await Deno.symlink(outside, join(api.path, "linkdir"));

  const refusals: [string, RegExp][] = [
    ["../web/README.md", /leads outside the session's folder/],
    ["src/../../web/README.md", /leads outside the session's folder/],
    [join(api.path, "README.md"), /leads outside the session's folder/],
    ["/etc/passwd", /leads outside the session's folder/],
    ["link.txt", /leads outside the session's folder/],
    ["linkdir", /leads outside the session's folder/],
    ["linkdir/secret.txt", /leads outside the session's folder/],
    ["missing.txt", /There is no file or folder "missing\.txt"/],
    ["", /Usage: \/get <path>/],
  ];
  for (const [path, expected] of refusals) {
    await t.step(path || "(nothing)", async () => {
      const before = bot.api.messages().length;
      const reply = await world.ask(`/get ${path}`.trim(), expected);
      if (!path.includes(sandbox.root)) {
        assert.ok(!reply.text.includes(sandbox.root), "no host path");
      }
      await bot.idle();
      assert.ok(
        bot.api.messages().slice(before).every((m) => !m.document),
        "no document is sent",
      );
    });
  }
});

Deno.test("/handoff stops Claude cleanly, gives the terminal command, and the next message resumes", async () => {
  await using world = await ProjectWorld.start();
  const { bot, api, configDir } = world;
  await world.ask("/open api", /Opened api/);
  await world.ask("remember apricot", /echo: remember apricot/);
  const { pid } = (await bot.claudeStarts()).at(-1)!;
  const id = bot.app.sessions.active(CHAT)!.claudeSessionId!;
  assert.ok(await processes.startTime(pid), "Claude runs before /handoff");

  const reply = await world.ask("/handoff", /handed over/);
  assert.ok(
    reply.text.includes(
      `cd '${api.path}' && CLAUDE_CONFIG_DIR='${configDir}' claude --resume ${id}`,
    ),
    reply.text,
  );
  assert.match(reply.html!, /<pre>cd '/);
  assert.equal(await processes.startTime(pid), undefined, "Claude is stopped");
  assert.equal(bot.app.sessions.active(CHAT)!.state, "suspended");

  await world.ask("!history", /remember apricot/);
  const resumed = (await bot.claudeStarts()).at(-1)!;
  assert.equal(resumed.argv[resumed.argv.indexOf("--resume") + 1], id);

  await world.ask("/open web", /Opened web/);
  await world.ask(
    "/handoff",
    /Nothing to hand over yet: web has no conversation/,
  );
});

/** Runs the fake claude once outside the bot, in `cwd`: a conversation begun in a terminal. */
async function conversationInTerminal(
  world: ProjectWorld,
  cwd: string,
  prompt: string,
): Promise<string> {
  const child = new Deno.Command(world.bot.claudeBin, {
    args: [...STREAM_JSON_ARGS],
    cwd,
    env: { CLAUDE_CONFIG_DIR: world.configDir },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(15_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(userMessageLine(prompt) + "\n"));
  // EOF: the turn finishes, then the process exits.
  await writer.close();
  const { code, stdout } = await child.output();
  assert.equal(code, 0);
  const init = new TextDecoder().decode(stdout).split("\n").filter(Boolean)
    .map((line) => JSON.parse(line))
    .find((event) => event.type === "system" && event.subtype === "init");
  return init.session_id;
}

Deno.test("/resume lists a conversation begun in a terminal and continues it from the chat", async () => {
  await using world = await ProjectWorld.start();
  const { bot, api } = world;
  await world.ask("/open api", /Opened api/);
  await world.ask("a chat turn", /echo: a chat turn/);
  const id = await conversationInTerminal(world, api.path, "fix the login bug");

  const list = await world.ask("/resume", /Claude Code conversations/);
  assert.match(list.text, new RegExp(`fix the login bug ${id}`));
  const buttons = buttonsOf(list);
  assert.equal(buttons.length, 2);
  const [label, data] = buttons.find(([, d]) => d === `resume:${id}`)!;
  assert.match(label, /fix the login bug/);

  const before = bot.api.messages().length;
  bot.api.pressButton(list.message_id, data);
  await bot.waitForMessage(
    new RegExp(`api continues conversation ${id}: your next message runs`),
    { after: before },
  );
  const answer = await world.ask("!history", /fix the login bug/);
  assert.deepEqual(JSON.parse(answer.text), ["fix the login bug"]);
  const last = (await bot.claudeStarts()).at(-1)!;
  assert.equal(last.argv[last.argv.indexOf("--resume") + 1], id);
  assert.equal(bot.app.sessions.active(CHAT)!.claudeSessionId, id);

  await world.ask(
    `/resume ${id}`,
    new RegExp(`api already continues conversation ${id}`),
  );
});

Deno.test("/archive removes a clean worktree and keeps a dirty one; branches stay", async () => {
  await using world = await ProjectWorld.start();
  const { api } = world;
  const clean = world.worktree("api", "clean");
  const dirty = world.worktree("api", "dirty");

  await world.ask("/open api@clean", /Opened api-clean/);
  await world.ask("hi", /echo: hi/);
  const removed = await world.ask("/archive", /Archived api-clean/);
  assert.match(
    removed.text,
    /no uncommitted changes and was removed; branch clean is kept/,
  );
  assert.equal(await exists(clean), false);

  await world.ask("/open api@dirty", /Opened api-dirty/);
  await world.ask("hi", /echo: hi/);
  await Deno.writeTextFile(join(dirty, "wip.txt"), "work in progress\n");
  const kept = await world.ask("/archive api-dirty", /Archived api-dirty/);
  assert.ok(
    kept.text.includes(`uncommitted changes, so it stays at ${dirty}`),
    kept.text,
  );
  assert.equal(
    await Deno.readTextFile(join(dirty, "wip.txt")),
    "work in progress\n",
  );

  const branches = await api.git("branch", "--format=%(refname:short)");
  assert.deepEqual(branches.split("\n").sort(), ["clean", "dirty", "main"]);
  assert.equal(await exists(api.path), true);
  assert.equal(await api.currentBranch(), "main");
});

Deno.test("a photo sent to a project session is saved outside the repository, and Claude is told where", async () => {
  await using world = await ProjectWorld.start();
  const { bot, api } = world;
  await world.ask("/open api", /Opened api/);
  const uploadDir = join(bot.dataDir, "uploads", CHAT, "api");

  bot.api.sendPhoto(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
  const echo = await bot.waitForMessage(/echo: \[The user sent a photo/);
  const path = /saved as (\S+\.jpg)\]/.exec(echo.text)![1];
  assert.ok(path.startsWith(`${uploadDir}/photo-`), path);
  assert.deepEqual(
    await Deno.readFile(path),
    new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]),
  );
  assert.equal(
    await api.git("status", "--porcelain"),
    "",
    "the repo stays clean",
  );
  const argv = (await bot.claudeStarts()).at(-1)!.argv;
  assert.equal(argv[argv.indexOf("--add-dir") + 1], uploadDir);
});

Deno.test("/open in a forum topic moves the topic's session onto the project, its conversation fresh", async () => {
  const forum = -100777;
  await using world = await ProjectWorld.start({
    env: { ALLOWED_CHAT_IDS: String(forum) },
  });
  const { bot, api } = world;
  const topic = {
    chatId: forum,
    userId: OWNER_ID,
    chatType: "supergroup" as const,
    isForum: true,
    threadId: 7,
    topicName: "Backend",
  };
  await bot.ask("before", /echo: before/, topic);
  const chatKey = `${forum}:7`;
  assert.equal(bot.app.sessions.active(chatKey)!.name, "Backend");

  const bound = await bot.ask("/open api@topic", /now works on/, topic);
  assert.match(
    bound.text,
    /This topic's session Backend now works on api @ topic\. Claude keeps its history per folder, so the conversation starts fresh there\./,
  );
  assert.equal(bound.message_thread_id, 7);
  const answer = await bot.ask("!history", /\[\]/, topic);
  assert.equal(answer.text, "[]");
  const last = (await bot.claudeStarts()).at(-1)!;
  assert.equal(last.cwd, world.worktree("api", "topic"));
  assert.ok(!last.argv.includes("--resume"));
  assert.deepEqual(bot.app.sessions.list(chatKey).map((v) => v.name), [
    "Backend",
  ]);
  assert.equal(await api.currentBranch(), "main");
});

Deno.test("project bad input gets a clear answer and changes nothing", async (t) => {
  await using world = await ProjectWorld.start({
    projectsDirs: (root) => `${join(root, "gone")},${join(root, "code")}`,
  });
  const { bot, api, web, sandbox } = world;
  assert.ok(
    bot.logs.some((line) =>
      line.includes(`"${join(sandbox.root, "gone")}" does not exist`)
    ),
    bot.logs.join("\n"),
  );
  const taken = join(bot.dataDir, "worktrees", "api", "taken");
  await Deno.mkdir(taken, { recursive: true });
  await Deno.writeTextFile(join(taken, "file.txt"), "someone's\n");
  await web.startConflictedMerge();

  const rows: [string, RegExp][] = [
    ["/open nope", /There is no project named "nope"\. Projects: api, web\./],
    ["/open api@a..b", /"a\.\.b" is not a valid branch name/],
    ["/open api@-x", /"-x" is not a valid branch name/],
    [
      "/open api@taken",
      /worktrees\/api\/taken in the data directory, is taken/,
    ],
    ["/open web@feature", /in the middle of a merge/],
    ["/open api@ok bad/name", /"bad\/name" is not a valid session name/],
    ["/open", /Usage: \/open <project>\[@<branch>\] \[session-name\]/],
    ["/open api@", /Usage: \/open/],
    ["/resume 00000000-0000-4000-8000-000000000000", /No session is active/],
  ];
  for (const [command, expected] of rows) {
    await t.step(command, async () => {
      const reply = await world.ask(command, expected);
      assert.ok(!reply.text.includes(sandbox.root), "no host path");
    });
  }
  assert.deepEqual(bot.app.sessions.list(CHAT), []);
  assert.equal(await exists(world.worktree("api", "ok")), false);
  assert.equal(await Deno.readTextFile(join(taken, "file.txt")), "someone's\n");
  assert.equal(
    await api.git("branch", "--format=%(refname:short)"),
    "main",
    "no branch was created",
  );

  await t.step("/resume of an unknown id", async () => {
    await world.ask("/open api", /Opened api/);
    await world.ask("hi", /echo: hi/);
    const id = bot.app.sessions.active(CHAT)!.claudeSessionId;
    await world.ask(
      "/resume 00000000-0000-4000-8000-000000000000",
      /No Claude Code conversation "00000000-0000-4000-8000-000000000000" is recorded for the folder of api; nothing changed/,
    );
    await world.ask(
      "/resume not-an-id",
      /No Claude Code conversation "not-an-id"/,
    );
    assert.equal(bot.app.sessions.active(CHAT)!.claudeSessionId, id);
  });
});

Deno.test("without PROJECTS_DIRS the project commands say how to set it up", async () => {
  await using bot = await BotHarness.start();
  await bot.ask("/projects", /No projects: PROJECTS_DIRS is not set/);
  await bot.ask("/open api", /No projects: PROJECTS_DIRS is not set/);
  await bot.ask("/diff", /No session is active in this chat/);
  await bot.ask("hello", /echo: hello/);
  await bot.ask(
    "/diff",
    /default works in a folder that is not a git repository/,
  );
  await bot.ask("/resume", /Claude's config dir is unknown/);
  await bot.ask("/help", /\/open <project>\[@branch\]/);
});
