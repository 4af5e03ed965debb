// errorText: each typed error's short chat reply, the
// generic reply for the rest, and what reaches the log (never the token).
import assert from "node:assert/strict";
import {
  grammyError,
  httpError,
  SECRET_TOKEN as TOKEN,
} from "./fakes/grammy_errors.ts";
import { AtomicWriteError } from "../atomic_file.ts";
import { errorText } from "../error_text.ts";
import {
  FileTooLargeError as ExportTooLargeError,
  PathNotFoundError,
  PathOutsideWorkspaceError,
} from "../file_export.ts";
import {
  BadBranchNameError,
  GitCommandError,
  NotAGitRepositoryError,
  RepositoryBusyError,
} from "../git.ts";
import { WorktreePathTakenError } from "../git_worktrees.ts";
import { FileDownloadError, FileTooLargeError } from "../intake.ts";
import { PersonasFileError } from "../personas.ts";
import {
  BudgetExceededError,
  SessionBusyError,
  SessionExistsError,
  SessionNameError,
  ShuttingDownError,
  UnknownSessionError,
} from "../session_errors.ts";
import { StoreWriteError } from "../store.ts";
import { ManualClock } from "./fakes/manual_clock.ts";

const HOST_PATH = "/srv/claude-telegram/data/state/sessions/1001--api.json";
const GENERIC = "⚠️ Something went wrong; the details are in the bot's log.";
const FILE_NOT_DELIVERED =
  "⚠️ Telegram did not deliver the file; please try again.";

/** errorText with a manual clock and a recording log. */
function reply(error: unknown, options: { nowMs?: number } = {}) {
  const logs: string[] = [];
  const text = errorText(error, {
    clock: new ManualClock(options.nowMs ?? 0),
    maxUploadBytes: 20 * 1024 * 1024,
    log: (message) => logs.push(message),
  });
  return { text, logs };
}

Deno.test("errorText() answers each user error with a short reply and logs nothing", async (t) => {
  const cases: [string, Error, string][] = [
    [
      "SessionNameError",
      new SessionNameError("../x"),
      '"../x" is not a valid session name: use 1–32 letters, digits, _ or -.',
    ],
    [
      "UnknownSessionError",
      new UnknownSessionError("nope"),
      'There is no session named "nope". /sessions lists them.',
    ],
    [
      "SessionExistsError",
      new SessionExistsError("api"),
      "A session named <b>api</b> already exists: /switch api",
    ],
    [
      "ShuttingDownError",
      new ShuttingDownError(),
      "The bot is restarting; please send that again in a moment.",
    ],
    [
      "FileTooLargeError",
      new FileTooLargeError("Cannot accept a file of 30000000 bytes"),
      "That file is too large: the limit is 20 MB (MAX_UPLOAD_MB).",
    ],
  ];
  for (const [name, error, expected] of cases) {
    await t.step(name, () => {
      const { text, logs } = reply(error);
      assert.equal(text, expected);
      assert.deepEqual(logs, []);
    });
  }
});

Deno.test("errorText() answers the project errors plainly, without host paths", async (t) => {
  const repo = "/home/me/code/api";
  const cases: [Error, RegExp, boolean][] = [
    [
      new SessionBusyError("api"),
      /^Claude is working on a turn in <b>api<\/b>: wait for its answer \(or \/stop it\)/,
      false,
    ],
    [
      new BadBranchNameError("a..<b>"),
      /^"a\.\.&lt;b&gt;" is not a valid branch name \(git check-ref-format refuses it\)\. Nothing was changed\.$/,
      false,
    ],
    [
      new RepositoryBusyError(repo, "rebase"),
      /^That repository is in the middle of a rebase: finish or abort it first \(git rebase --continue or --abort\)/,
      false,
    ],
    [
      new WorktreePathTakenError("/srv/bot/data/worktrees/api/feat/x"),
      /^The worktree folder for that branch, worktrees\/api\/feat\/x in the data directory, is taken/,
      false,
    ],
    [
      new NotAGitRepositoryError(repo),
      /^That folder is not a git repository \(any more\?\)/,
      true,
    ],
    [
      new GitCommandError({
        args: ["worktree", "add", "/srv/x"],
        cwd: repo,
        exitCode: 128,
        stderr: `fatal: ${repo} is locked`,
      }),
      /^⚠️ git worktree failed; the details are in the bot's log\. Nothing was changed\.$/,
      true,
    ],
    [
      new PathOutsideWorkspaceError("../../etc/passwd"),
      /^"\.\.\/\.\.\/etc\/passwd" leads outside the session's folder; \/get sends only what is inside it\.$/,
      false,
    ],
    [
      new PathNotFoundError("nope.txt"),
      /^There is no file or folder "nope\.txt" in the session's folder\.$/,
      false,
    ],
    [
      new ExportTooLargeError({
        path: "build",
        sizeBytes: 73_400_000,
        limitBytes: 50_000_000,
        isFolder: true,
      }),
      /^"build" is too large to send: the folder comes to 73\.4 MB, and Telegram takes at most 50\.0 MB from a bot\.$/,
      false,
    ],
  ];
  for (const [error, expected, isLogged] of cases) {
    await t.step(error.name, () => {
      const { text, logs } = reply(error);
      assert.match(text, expected);
      assert.ok(!text.includes(repo) && !text.includes("/srv/"), text);
      assert.equal(logs.length, isLogged ? 1 : 0);
    });
  }
});

Deno.test("errorText() escapes and shortens a session name it quotes", () => {
  const { text } = reply(new UnknownSessionError(`<b>${"x".repeat(60)}`));
  assert.ok(text.startsWith('There is no session named "&lt;b&gt;xxx'), text);
  assert.ok(!text.includes("<b>"), text);
  assert.ok(text.includes("x…"), "cut at 40 characters");
  assert.ok(!text.includes("x".repeat(40)), text);
});

Deno.test("errorText() tells the spent budget and when it resets", () => {
  const nowMs = 1_700_000_000_000;
  const { text, logs } = reply(
    new BudgetExceededError({
      spentUsd: 5.25,
      budgetUsd: 5,
      resetsAtMs: nowMs + 3 * 3_600_000 + 59 * 60_000,
    }),
    { nowMs },
  );
  assert.equal(
    text,
    "The daily budget of $5.00 is spent ($5.25 today), so no new turns start. It resets at 00:00 UTC, in 3 hours.",
  );
  assert.deepEqual(logs, []);
});

Deno.test("errorText() reports a failed save without the host path and logs the path", async (t) => {
  const cause = new Deno.errors.PermissionDenied("Read-only file system");
  for (
    const error of [
      new StoreWriteError(HOST_PATH, cause),
      new AtomicWriteError(HOST_PATH, cause),
    ]
  ) {
    await t.step(error.name, () => {
      const { text, logs } = reply(error);
      assert.equal(
        text,
        "⚠️ Could not save to the data directory (disk full or read-only?). Nothing was changed.",
      );
      assert.deepEqual(logs, [error.message]);
      assert.ok(logs[0].includes(HOST_PATH));
    });
  }
});

Deno.test("errorText() points at the log for an invalid personas.json", () => {
  const error = new PersonasFileError(
    "/srv/data/personas.json",
    new SyntaxError("Unexpected token"),
  );
  const { text, logs } = reply(error);
  assert.equal(
    text,
    "⚠️ personas.json in the data directory is invalid; see the log.",
  );
  assert.ok(!text.includes("/srv"), text);
  assert.deepEqual(logs, [error.message]);
});

Deno.test("errorText() answers a failed download as an undelivered file", async (t) => {
  // The edge (chat_api.ts telegramFiles) wraps getFile's GrammyError and
  // HttpError into FileDownloadError, so only that type reaches errorText.
  const cases: [string, Error, string][] = [
    [
      "FileDownloadError",
      new FileDownloadError('Cannot download file "f1": status 502'),
      'Cannot download file "f1": status 502',
    ],
  ];
  for (const [name, error, logStart] of cases) {
    await t.step(name, () => {
      const { text, logs } = reply(error);
      assert.equal(text, FILE_NOT_DELIVERED);
      assert.equal(logs.length, 1);
      assert.ok(logs[0].startsWith(logStart), logs[0]);
    });
  }
});

Deno.test("errorText() gives an unknown error the generic reply and logs its stack", () => {
  const error = new RangeError(`Cannot read "${HOST_PATH}": out of range`);
  const { text, logs } = reply(error);
  assert.equal(text, GENERIC);
  assert.deepEqual(logs, [`Unexpected error: ${error.stack}`]);
  assert.ok(logs[0].includes("error_text_test.ts"), "the stack is logged");
});

Deno.test("errorText() gives a thrown non-Error the generic reply and logs it", () => {
  const { text, logs } = reply("just a string");
  assert.equal(text, GENERIC);
  assert.deepEqual(logs, ["Unexpected error: just a string"]);
});

Deno.test("errorText() never puts the token in the reply or the log", async (t) => {
  const errors: [string, unknown][] = [
    [
      "GrammyError with the token in its payload",
      grammyError("sendMessage", {
        error_code: 403,
        description: "Forbidden: bot was blocked by the user",
      }),
    ],
    ["HttpError whose cause names the URL", httpError("getUpdates")],
    [
      // Deno's fetch keeps the URL (with the token) in the cause only.
      "fetch failure whose cause names the URL",
      new TypeError("fetch failed", {
        cause: new Error(
          `error sending request for url (https://api.telegram.org/file/bot${TOKEN}/x.jpg)`,
        ),
      }),
    ],
  ];
  for (const [name, error] of errors) {
    await t.step(name, () => {
      const { text, logs } = reply(error);
      assert.ok(logs.length > 0, "the details are logged");
      for (const line of [text, ...logs]) {
        assert.ok(!line.includes(TOKEN), line);
        assert.ok(!line.includes("SECRET"), line);
      }
    });
  }
});
