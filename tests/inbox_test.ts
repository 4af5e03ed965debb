// Tests for inbox.ts: safe file names, and saving into a session's inbox/
// or its upload folder.

import assert from "node:assert/strict";
import { join } from "node:path";
import { sanitizeFileName, saveUpload } from "../inbox.ts";

/** A temp session work dir; removed on dispose. */
class TempWorkDir implements AsyncDisposable {
  readonly root: string;
  readonly workDir: string;

  private constructor(root: string) {
    this.root = root;
    this.workDir = join(root, "work", "session");
  }

  static async create(): Promise<TempWorkDir> {
    return new TempWorkDir(await Deno.makeTempDir({ prefix: "inbox_test_" }));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }
}

/** Every path under `dir`, relative to it. */
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const paths = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    paths.push(path);
    if (entry.isDirectory) paths.push(...await listTree(dir, path));
  }
  return paths.sort();
}

Deno.test("sanitizeFileName() keeps only a safe base name", async (t) => {
  const cases: [string, string, string][] = [
    ["a plain name", "report.pdf", "report.pdf"],
    ["path traversal", "../../etc/passwd", "passwd"],
    ["Windows path", "C:\\Users\\me\\..\\secret.txt", "secret.txt"],
    ["absolute path", "/etc/shadow", "shadow"],
    ["spaces", "my holiday photo.jpg", "my_holiday_photo.jpg"],
    ["emoji", "🎉 party 🎉.png", "party_.png"],
    ["accents", "résumé.pdf", "resume.pdf"],
    ["other scripts", "отчёт.docx", "file.docx"],
    ["CJK only", "日本語.txt", "file.txt"],
    ["leading dots", ".env", "env"],
    ["a hidden file with extension", ".config.json", "config.json"],
    ["dot-dot", "..", "file"],
    ["only dots", "...", "file"],
    ["empty", "", "file"],
    ["a trailing slash", "dir/", "dir"],
    ["control characters", "a\u0000b\nc.txt", "a_b_c.txt"],
    ["no extension", "Makefile", "Makefile"],
    ["a dash and underscore", "my-file_v2.tar.gz", "my-file_v2.tar.gz"],
  ];
  for (const [what, input, expected] of cases) {
    await t.step(`${what}: ${JSON.stringify(input)}`, () => {
      assert.equal(sanitizeFileName(input), expected);
    });
  }

  await t.step("a very long name keeps its extension", () => {
    const name = sanitizeFileName(`${"x".repeat(300)}.pdf`);
    assert.equal(name, `${"x".repeat(96)}.pdf`);
  });

  await t.step("a very long extension is cut, not the whole name", () => {
    const name = sanitizeFileName(`notes.${"e".repeat(50)}`);
    assert.ok(name.startsWith("notes."), name);
    assert.ok(name.length <= 100, name);
  });

  await t.step("every result is a plain, short file name", () => {
    const inputs = [
      "../../etc/passwd",
      "..\\..\\boot.ini",
      "🎉".repeat(200),
      `${"é".repeat(200)}.txt`,
      "a/b/c/../../..",
      " . ",
    ];
    for (const input of inputs) {
      const name = sanitizeFileName(input);
      assert.match(name, /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, input);
      assert.ok(name !== "." && name !== "..", input);
    }
  });
});

Deno.test("saveUpload() writes into <workDir>/inbox and returns the relative path", async () => {
  await using temp = await TempWorkDir.create();
  const bytes = new TextEncoder().encode("hello");
  const path = await saveUpload({ workDir: temp.workDir }, "notes.txt", bytes);
  assert.equal(path, "inbox/notes.txt");
  assert.deepEqual(await Deno.readFile(join(temp.workDir, path)), bytes);
  const { mode } = await Deno.stat(join(temp.workDir, path));
  assert.equal(mode! & 0o777, 0o600);
  const inbox = await Deno.stat(join(temp.workDir, "inbox"));
  assert.equal(inbox.mode! & 0o777, 0o700);
});

Deno.test("saveUpload() never writes outside the inbox", async () => {
  await using temp = await TempWorkDir.create();
  const names = [
    "../../escape.txt",
    "../outside.txt",
    "/tmp/absolute.txt",
    "..",
    ".",
    "inbox/../../up.txt",
    "..\\..\\win.txt",
  ];
  const paths = [];
  for (const name of names) {
    paths.push(
      await saveUpload({ workDir: temp.workDir }, name, new Uint8Array([1])),
    );
  }
  for (const path of paths) assert.match(path, /^inbox\/[^/]+$/);
  assert.deepEqual(await listTree(temp.root), [
    "work",
    "work/session",
    "work/session/inbox",
    ...paths.map((path) => `work/session/${path}`).sort(),
  ]);
});

Deno.test("saveUpload() adds -1, -2 … to names already taken", async () => {
  await using temp = await TempWorkDir.create();
  const save = (name: string, text: string) =>
    saveUpload({ workDir: temp.workDir }, name, new TextEncoder().encode(text));
  assert.equal(await save("a.txt", "first"), "inbox/a.txt");
  assert.equal(await save("a.txt", "second"), "inbox/a-1.txt");
  assert.equal(await save("../a.txt", "third"), "inbox/a-2.txt");
  assert.equal(await save("README", "x"), "inbox/README");
  assert.equal(await save("README", "y"), "inbox/README-1");
  // Earlier files are never overwritten.
  assert.equal(
    await Deno.readTextFile(join(temp.workDir, "inbox", "a.txt")),
    "first",
  );
  assert.equal(
    await Deno.readTextFile(join(temp.workDir, "inbox", "a-1.txt")),
    "second",
  );

  // Concurrent saves of one name each get their own file.
  const paths = await Promise.all(
    Array.from({ length: 5 }, (_, i) => save("same.bin", String(i))),
  );
  assert.equal(new Set(paths).size, 5);
  const texts = await Promise.all(
    paths.map((path) => Deno.readTextFile(join(temp.workDir, path))),
  );
  assert.deepEqual(texts.sort(), ["0", "1", "2", "3", "4"]);
});

Deno.test("saveUpload() with an upload dir outside workDir writes there and returns the absolute path", async () => {
  await using temp = await TempWorkDir.create();
  const repo = join(temp.root, "repo");
  const uploadDir = join(temp.root, "uploads", "1001", "api");
  await Deno.mkdir(repo);
  const bytes = new TextEncoder().encode("shot");

  const first = await saveUpload({ workDir: repo, uploadDir }, "a.png", bytes);
  const second = await saveUpload({ workDir: repo, uploadDir }, "a.png", bytes);

  assert.equal(first, join(uploadDir, "a.png"));
  assert.equal(second, join(uploadDir, "a-1.png"));
  assert.deepEqual(await Deno.readFile(first), bytes);
  assert.deepEqual(await listTree(repo), [], "nothing lands in the repo");
  const { mode } = await Deno.stat(uploadDir);
  assert.equal(mode! & 0o777, 0o700);
});

Deno.test("saveUpload() with an upload dir inside workDir returns the relative path", async () => {
  await using temp = await TempWorkDir.create();
  const uploadDir = join(temp.workDir, "uploads");
  const path = await saveUpload(
    { workDir: temp.workDir, uploadDir },
    "b.txt",
    new Uint8Array([1]),
  );
  assert.equal(path, "uploads/b.txt");
});
