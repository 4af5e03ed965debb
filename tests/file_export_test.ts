// Tests for file_export.ts on real temp folders: files, zipped folders
// (unzipped again with fflate), every way out refused, and the size limit.

import assert from "node:assert/strict";
import { join } from "node:path";
import { unzipSync } from "fflate";
import {
  exportPath,
  FileTooLargeError,
  PathNotFoundError,
  PathOutsideWorkspaceError,
  resolveInWorkspace,
  TELEGRAM_DOCUMENT_LIMIT_BYTES,
} from "../file_export.ts";

/** A temp dir with a working dir `work/` and a sibling `outside/` holding a secret. */
class Workspace implements AsyncDisposable {
  readonly root: string;
  readonly work: string;
  readonly outside: string;

  private constructor(root: string) {
    this.root = root;
    this.work = join(root, "work");
    this.outside = join(root, "outside");
  }

  static async create(): Promise<Workspace> {
    const root = await Deno.realPath(
      await Deno.makeTempDir({ prefix: "file_export_test_" }),
    );
    const workspace = new Workspace(root);
    await Deno.mkdir(workspace.work);
    await Deno.mkdir(workspace.outside);
    await Deno.writeTextFile(join(workspace.outside, "secret.txt"), "TOKEN\n");
    return workspace;
  }

  /** Writes a file under work/ (parents made). */
  async write(relPath: string, content: string | Uint8Array): Promise<void> {
    const path = join(this.work, relPath);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Unzips to entry name → text. */
function unzipText(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries(
    Object.entries(unzipSync(bytes)).map(([name, data]) => [name, text(data)]),
  );
}

Deno.test("exportPath() sends a file as it is", async () => {
  await using ws = await Workspace.create();
  await ws.write("src/app.ts", "console.log(1);\n");
  for (const path of ["src/app.ts", "./src/app.ts", "src/../src/app.ts"]) {
    const exported = await exportPath(ws.work, path);
    assert.equal(exported.name, "app.ts");
    assert.equal(text(exported.bytes), "console.log(1);\n");
    assert.deepEqual(exported.skipped, []);
  }
});

Deno.test("exportPath() zips a folder with the folder as its top entry", async () => {
  await using ws = await Workspace.create();
  const binary = new Uint8Array(1000).map((_, i) => i % 251);
  await ws.write("out/report.md", "# Report\n");
  await ws.write("out/data/numbers.bin", binary);
  await ws.write("out/data/ünïcode name.txt", "ok\n");
  await ws.write("out/.git/HEAD", "ref: refs/heads/main\n");
  await Deno.mkdir(join(ws.work, "out", "empty"));
  await ws.write("elsewhere.txt", "inside the workspace\n");
  await Deno.symlink("../elsewhere.txt", join(ws.work, "out", "link-in.txt"));

  const exported = await exportPath(ws.work, "out");
  assert.equal(exported.name, "out.zip");
  const entries = unzipSync(exported.bytes);
  assert.deepEqual(Object.keys(entries).sort(), [
    "out/data/numbers.bin",
    "out/data/ünïcode name.txt",
    "out/link-in.txt",
    "out/report.md",
  ]);
  assert.deepEqual(entries["out/data/numbers.bin"], binary);
  assert.equal(text(entries["out/report.md"]), "# Report\n");
  assert.equal(text(entries["out/link-in.txt"]), "inside the workspace\n");
  assert.deepEqual(exported.skipped, []);
});

Deno.test("exportPath() of '.' zips the whole working dir under its name", async () => {
  await using ws = await Workspace.create();
  await ws.write("a.txt", "a\n");
  const exported = await exportPath(ws.work, ".");
  assert.equal(exported.name, "work.zip");
  assert.deepEqual(unzipText(exported.bytes), { "work/a.txt": "a\n" });
});

Deno.test("exportPath() refuses every way out of the working dir", async (t) => {
  await using ws = await Workspace.create();
  await Deno.symlink(
    join(ws.outside, "secret.txt"),
    join(ws.work, "secret-link.txt"),
  );
  await Deno.symlink(ws.outside, join(ws.work, "outside-dir"));
  await Deno.symlink("..", join(ws.work, "parent"));

  const refused = [
    ["..", "the parent"],
    ["../outside/secret.txt", "a sibling through .."],
    ["a/../../outside/secret.txt", ".. after a name"],
    [join(ws.outside, "secret.txt"), "an absolute path outside"],
    [join(ws.work, "anything.txt"), "an absolute path, even inside"],
    ["secret-link.txt", "a symlink to a file outside"],
    ["outside-dir", "a symlink to a folder outside"],
    ["outside-dir/secret.txt", "a file through a symlinked folder"],
    ["parent/outside/secret.txt", "a symlink to the parent"],
  ];
  for (const [path, what] of refused) {
    await t.step(what, async () => {
      await assert.rejects(
        exportPath(ws.work, path),
        (e) => e instanceof PathOutsideWorkspaceError && e.path === path,
      );
    });
  }
});

Deno.test("exportPath() zips a folder without the symlinks that point out", async () => {
  await using ws = await Workspace.create();
  await ws.write("dir/keep.txt", "keep\n");
  await Deno.symlink(
    join(ws.outside, "secret.txt"),
    join(ws.work, "dir", "secret-link.txt"),
  );
  await Deno.symlink(ws.outside, join(ws.work, "dir", "outside-dir"));
  await Deno.symlink("..", join(ws.work, "dir", "loop"));
  await Deno.symlink("nowhere", join(ws.work, "dir", "dangling"));

  const exported = await exportPath(ws.work, "dir");
  assert.deepEqual(unzipText(exported.bytes), { "dir/keep.txt": "keep\n" });
  assert.deepEqual(exported.skipped, [
    "dangling",
    "loop",
    "outside-dir",
    "secret-link.txt",
  ]);
  assert.ok(!text(exported.bytes).includes("TOKEN"));
});

Deno.test("exportPath() reports a missing path", async (t) => {
  await using ws = await Workspace.create();
  await Deno.symlink("nowhere.txt", join(ws.work, "dangling.txt"));
  for (const path of ["missing.txt", "no/such/dir", "dangling.txt"]) {
    await t.step(path, async () => {
      await assert.rejects(
        exportPath(ws.work, path),
        (e) => e instanceof PathNotFoundError && e.path === path,
      );
    });
  }
  await t.step("a blank path is a caller error", async () => {
    await assert.rejects(exportPath(ws.work, "  "), TypeError);
  });
});

Deno.test("exportPath() refuses what is over the limit, with the size", async (t) => {
  await using ws = await Workspace.create();
  await ws.write("big.bin", new Uint8Array(2_000));
  await ws.write("small.txt", "tiny\n");

  await t.step("a file over the limit", async () => {
    await assert.rejects(
      exportPath(ws.work, "big.bin", { limitBytes: 1_999 }),
      (e) =>
        e instanceof FileTooLargeError && e.sizeBytes === 2_000 &&
        e.limitBytes === 1_999 && !e.isFolder,
    );
  });

  await t.step("a file at the limit", async () => {
    const exported = await exportPath(ws.work, "big.bin", {
      limitBytes: 2_000,
    });
    assert.equal(exported.bytes.length, 2_000);
  });

  await t.step(
    "a folder whose files are far over the limit is not zipped",
    async () => {
      await assert.rejects(
        exportPath(ws.work, ".", { limitBytes: 100, maxFolderBytes: 1_000 }),
        (e) =>
          e instanceof FileTooLargeError && e.sizeBytes === 2_005 && e.isFolder,
      );
    },
  );

  await t.step("a folder whose zip passes the limit", async () => {
    const random = crypto.getRandomValues(new Uint8Array(4_000));
    await ws.write("noise/random.bin", random);
    await assert.rejects(
      exportPath(ws.work, "noise", { limitBytes: 1_000 }),
      (e) =>
        e instanceof FileTooLargeError && e.sizeBytes >= 4_000 &&
        e.limitBytes === 1_000 && e.isFolder,
    );
  });

  await t.step(
    "a compressible folder over the limit in total still fits zipped",
    async () => {
      await ws.write("text/a.txt", "a".repeat(5_000));
      const exported = await exportPath(ws.work, "text", { limitBytes: 1_000 });
      assert.equal(unzipText(exported.bytes)["text/a.txt"], "a".repeat(5_000));
    },
  );

  await t.step("the default is Telegram's 50 MB", () => {
    assert.equal(TELEGRAM_DOCUMENT_LIMIT_BYTES, 50_000_000);
  });
});

Deno.test("resolveInWorkspace() gives the real path inside", async () => {
  await using ws = await Workspace.create();
  await ws.write("real/file.txt", "x\n");
  await Deno.symlink("real", join(ws.work, "alias"));
  assert.equal(
    await resolveInWorkspace(ws.work, "alias/file.txt"),
    join(ws.work, "real", "file.txt"),
  );
});
