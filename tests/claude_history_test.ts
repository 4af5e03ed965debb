// Tests for claude_history.ts on a temp Claude config dir: folder naming,
// order and limit, first-prompt extraction, garbled files, long paths.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  claudeProjectFolderName,
  hasClaudeSession,
  listClaudeSessions,
  resumeCommand,
} from "../claude_history.ts";
import { runCommand, systemSpawn } from "../spawner.ts";

/** A session file recorded by the real CLI (claude-cli.md §6, `d2`). */
const RECORDED_FIXTURE = new URL(
  "./fixtures/claude-session-on-disk.jsonl",
  import.meta.url,
);
const RECORDED_ID = "013d6ec2-fe89-4fff-b006-c1dfb6654201";

/** A temp dir with a Claude config dir and a working dir. */
class ClaudeHome implements AsyncDisposable {
  readonly root: string;
  readonly configDir: string;
  readonly cwd: string;

  private constructor(root: string, cwd: string) {
    this.root = root;
    this.configDir = join(root, "claude-config");
    this.cwd = cwd;
  }

  /** @param cwdName the working dir's path under the temp dir */
  static async create(cwdName = "work/my_proj.x"): Promise<ClaudeHome> {
    const root = await Deno.realPath(
      await Deno.makeTempDir({ prefix: "claude_history_test_" }),
    );
    const home = new ClaudeHome(root, join(root, cwdName));
    await Deno.mkdir(home.cwd, { recursive: true });
    return home;
  }

  /** Claude's folder for `cwd`. */
  folder(cwd = this.cwd, name = claudeProjectFolderName(cwd)): string {
    return join(this.configDir, "projects", name);
  }

  /** Writes a session file with `lines` and the given age (seconds since the epoch). */
  async session(
    id: string,
    lines: string[],
    options: { mtimeSeconds?: number; folder?: string } = {},
  ): Promise<string> {
    const folder = options.folder ?? this.folder();
    await Deno.mkdir(folder, { recursive: true });
    const path = join(folder, `${id}.jsonl`);
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const mtime = options.mtimeSeconds ?? 1_800_000_000;
    await Deno.utime(path, mtime, mtime);
    return path;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }
}

/** A session id whose last digits are `n`. */
const id = (n: number) =>
  `00000000-0000-4000-8000-${n.toString().padStart(12, "0")}`;

/** A user prompt record as the CLI writes it. */
function userRecord(
  sessionId: string,
  content: unknown,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    parentUuid: null,
    isSidechain: false,
    type: "user",
    message: { role: "user", content },
    uuid: crypto.randomUUID(),
    timestamp: "2026-11-25T23:43:44.995Z",
    cwd: "/somewhere",
    sessionId,
    ...extra,
  });
}

Deno.test("claudeProjectFolderName() replaces every non-alphanumeric character", () => {
  assert.equal(
    claudeProjectFolderName("/tmp/cco.h5P1r2/proj"),
    "-tmp-cco-h5P1r2-proj",
  );
  assert.equal(
    claudeProjectFolderName("/home/me/my_proj.x/é b"),
    "-home-me-my-proj-x---b",
  );
});

Deno.test("listClaudeSessions() reads a file the real CLI wrote", async () => {
  await using home = await ClaudeHome.create();
  await Deno.mkdir(home.folder(), { recursive: true });
  await Deno.copyFile(
    RECORDED_FIXTURE,
    join(home.folder(), `${RECORDED_ID}.jsonl`),
  );
  const sessions = await listClaudeSessions(home.configDir, home.cwd);
  assert.equal(sessions.length, 1);
  assert.equal(sessions[0].id, RECORDED_ID);
  assert.equal(sessions[0].firstPrompt, "first message");
  assert.equal(typeof sessions[0].modifiedAt, "number");
});

Deno.test("listClaudeSessions() lists newest first, at most ten by default", async () => {
  await using home = await ClaudeHome.create();
  for (let n = 1; n <= 12; n++) {
    await home.session(id(n), [userRecord(id(n), `prompt ${n}`)], {
      // Out of creation order, so only the mtime can give the order.
      mtimeSeconds: 1_800_000_000 + ((n * 7) % 12) * 60,
    });
  }
  const sessions = await listClaudeSessions(home.configDir, home.cwd);
  const expected = Array.from({ length: 12 }, (_, i) => i + 1)
    .sort((a, b) => ((b * 7) % 12) - ((a * 7) % 12))
    .slice(0, 10);
  assert.deepEqual(
    sessions.map((s) => s.firstPrompt),
    expected.map((n) => `prompt ${n}`),
  );
  assert.deepEqual(sessions.map((s) => s.id), expected.map(id));
  assert.equal(
    sessions[0].modifiedAt,
    (1_800_000_000 + 11 * 60) * 1000,
  );
  const three = await listClaudeSessions(home.configDir, home.cwd, {
    limit: 3,
  });
  assert.deepEqual(three.map((s) => s.id), expected.slice(0, 3).map(id));
});

Deno.test("listClaudeSessions() finds the first prompt the user typed", async (t) => {
  await using home = await ClaudeHome.create();
  const cases: Array<[string, string[], string | undefined]> = [
    ["skips meta lines, tool results, reminders and commands", [
      JSON.stringify({
        type: "queue-operation",
        operation: "enqueue",
        sessionId: id(1),
        content: "queued",
      }),
      userRecord(id(1), "Caveat: messages below were generated", {
        isMeta: true,
      }),
      userRecord(
        id(1),
        "<command-name>/model</command-name>\n<command-args></command-args>",
      ),
      userRecord(
        id(1),
        "<local-command-stdout>Set model</local-command-stdout>",
      ),
      userRecord(id(1), [{
        type: "tool_result",
        tool_use_id: "t",
        content: "x",
      }], {
        toolUseResult: { stdout: "x" },
      }),
      userRecord(id(1), "side chain", { isSidechain: true }),
      userRecord(id(1), [
        { type: "text", text: "<system-reminder>be nice</system-reminder>" },
        {
          type: "text",
          text:
            "<system-reminder>ctx</system-reminder>\n  Fix   the\nlogin bug  ",
        },
        { type: "image", source: {} },
      ]),
      userRecord(id(1), "second prompt"),
    ], "Fix the login bug"],
    ["a session without any prompt is listed without one", [
      JSON.stringify({ type: "mode", mode: "normal", sessionId: id(2) }),
    ], undefined],
  ];
  for (const [what, lines, expected] of cases) {
    await t.step(what, async () => {
      const sessionId = JSON.parse(lines[0]).sessionId;
      await home.session(sessionId, lines);
      const sessions = await listClaudeSessions(home.configDir, home.cwd);
      const found = sessions.find((s) => s.id === sessionId);
      assert.ok(found, "listed");
      assert.equal(found.firstPrompt, expected);
    });
  }

  await t.step("a long prompt is cut with an ellipsis", async () => {
    await home.session(id(3), [userRecord(id(3), "word ".repeat(100))]);
    const sessions = await listClaudeSessions(home.configDir, home.cwd, {
      maxPromptChars: 20,
    });
    const prompt = sessions.find((s) => s.id === id(3))?.firstPrompt;
    assert.equal(prompt, "word word word word…");
    assert.ok([...(prompt ?? "")].length <= 20);
  });
});

Deno.test("listClaudeSessions() skips garbled files and files that are not sessions", async () => {
  await using home = await ClaudeHome.create();
  const folder = home.folder();
  await home.session(id(1), [userRecord(id(1), "good one")]);
  await home.session(id(2), ["\u0000\u0001binary junk", "{not json"]);
  await home.session(id(3), []);
  await home.session(id(4), [
    JSON.stringify({ type: "summary", summary: "No session id here" }),
    "[1, 2, 3]",
    "null",
  ]);
  await home.session(id(5), [
    userRecord(id(5), "cut short at the end"),
    '{"type":"user","message":{"role":"us',
  ]);
  await Deno.writeTextFile(
    join(folder, "not-a-uuid.jsonl"),
    userRecord(id(6), "x"),
  );
  await Deno.writeTextFile(
    join(folder, `${id(7)}.txt`),
    userRecord(id(7), "x"),
  );
  await Deno.mkdir(join(folder, `${id(8)}.jsonl`));
  await Deno.mkdir(join(folder, "memory"));

  const sessions = await listClaudeSessions(home.configDir, home.cwd);
  assert.deepEqual(
    sessions.map((s) => [s.id, s.firstPrompt]).sort(),
    [[id(1), "good one"], [id(5), "cut short at the end"]],
  );
});

Deno.test("listClaudeSessions() of a dir without sessions is empty", async () => {
  await using home = await ClaudeHome.create();
  assert.deepEqual(await listClaudeSessions(home.configDir, home.cwd), []);
  assert.deepEqual(
    await listClaudeSessions(join(home.root, "no-config"), home.cwd),
    [],
  );
});

Deno.test("listClaudeSessions() finds sessions recorded under the real path", async () => {
  await using home = await ClaudeHome.create();
  const link = join(home.root, "link-to-work");
  await Deno.symlink(home.cwd, link);
  await home.session(id(1), [userRecord(id(1), "via real path")]);
  const sessions = await listClaudeSessions(home.configDir, link);
  assert.deepEqual(sessions.map((s) => s.id), [id(1)]);
  assert.equal(await hasClaudeSession(home.configDir, link, id(1)), true);
});

Deno.test("listClaudeSessions() matches a shortened long-path folder by the cwd inside", async () => {
  await using home = await ClaudeHome.create(
    `${"very-long-folder/".repeat(14)}proj`,
  );
  const name = claudeProjectFolderName(home.cwd);
  assert.ok(name.length > 200);
  const prefix = name.slice(0, 200);
  await home.session(id(1), [userRecord(id(1), "mine", { cwd: home.cwd })], {
    folder: home.folder(home.cwd, `${prefix}-abc123`),
  });
  await home.session(id(2), [
    userRecord(id(2), "another long path", { cwd: `${home.cwd}-other` }),
  ], { folder: home.folder(home.cwd, `${prefix}-zzz999`) });
  const sessions = await listClaudeSessions(home.configDir, home.cwd);
  assert.deepEqual(sessions.map((s) => s.firstPrompt), ["mine"]);
  assert.equal(await hasClaudeSession(home.configDir, home.cwd, id(2)), false);
});

Deno.test("hasClaudeSession() validates a /resume id", async (t) => {
  await using home = await ClaudeHome.create();
  const lettered = "0a1b2c3d-0000-4000-8000-00000000000a";
  await home.session(id(1), [userRecord(id(1), "hello")]);
  await home.session(lettered, [userRecord(lettered, "hello")]);
  await home.session(id(2), ["garbage"]);
  const other = join(home.root, "other");
  await Deno.mkdir(other);

  await t.step("a recorded session", async () => {
    assert.equal(await hasClaudeSession(home.configDir, home.cwd, id(1)), true);
    assert.equal(
      await hasClaudeSession(home.configDir, home.cwd, lettered.toUpperCase()),
      false,
      "ids are matched as the file names spell them",
    );
  });
  await t.step("an unknown id", async () => {
    assert.equal(
      await hasClaudeSession(home.configDir, home.cwd, id(9)),
      false,
    );
  });
  await t.step("a garbled file", async () => {
    assert.equal(
      await hasClaudeSession(home.configDir, home.cwd, id(2)),
      false,
    );
  });
  await t.step("the right id from another dir", async () => {
    assert.equal(await hasClaudeSession(home.configDir, other, id(1)), false);
  });
  await t.step("not an id at all", async () => {
    for (const bad of ["", "../x", "not-a-uuid", `${id(1)}/../${id(1)}`]) {
      assert.equal(
        await hasClaudeSession(home.configDir, home.cwd, bad),
        false,
      );
    }
  });
});

Deno.test("resumeCommand() gives a command a shell runs as meant", async (t) => {
  await using home = await ClaudeHome.create('work/it\'s a "dir" $HOME `x`');
  const sessionId = id(7);

  await t.step("the plain form", () => {
    assert.equal(
      resumeCommand("/home/me/api", sessionId),
      `cd '/home/me/api' && claude --resume ${sessionId}`,
    );
  });

  await t.step("odd characters survive a real shell", async () => {
    const configDir = join(home.root, "claude's config");
    const command = resumeCommand(home.cwd, sessionId, { configDir });
    // A stand-in claude that prints where it runs and what it was given.
    const script =
      `claude() { pwd; printf '%s\\n' "$CLAUDE_CONFIG_DIR" "$@"; }; ${command}`;
    const output = await runCommand(systemSpawn, "sh", {
      args: ["-c", script],
      timeoutMs: 10_000,
    });
    assert.equal(output.code, 0, output.stderr);
    assert.deepEqual(output.stdout.split("\n").slice(0, 4), [
      home.cwd,
      configDir,
      "--resume",
      sessionId,
    ]);
  });

  await t.step("an id that is not one is refused", () => {
    assert.throws(() => resumeCommand(home.cwd, "x; rm -rf ~"), TypeError);
  });
});
