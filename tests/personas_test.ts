// Tests for personas.ts: built-ins, DATA_DIR/personas.json and resolving what
// the user typed.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BUILT_IN_PERSONAS,
  loadPersonas,
  loadPersonasOrBuiltIns,
  type Persona,
  PersonasFileError,
  resolvePersona,
} from "../personas.ts";

/** A temp DATA_DIR; removed on dispose. */
class TempDataDir implements AsyncDisposable {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  static async create(): Promise<TempDataDir> {
    return new TempDataDir(
      await Deno.makeTempDir({ prefix: "personas_test_" }),
    );
  }

  get personasFile(): string {
    return join(this.path, "personas.json");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.path, { recursive: true });
  }
}

function sortedByName(personas: readonly Persona[]): Persona[] {
  return [...personas].sort((a, b) => a.name.localeCompare(b.name));
}

Deno.test("loadPersonas() returns the built-ins without personas.json", async () => {
  await using dataDir = await TempDataDir.create();
  const personas = await loadPersonas(dataDir.path);
  assert.deepEqual(
    personas.map((p) => p.name),
    ["architect", "mobile", "reviewer", "teacher"],
  );
  assert.deepEqual(personas, sortedByName(BUILT_IN_PERSONAS));
  for (const persona of personas) assert.ok(persona.prompt.length > 20);
});

Deno.test("loadPersonas() lets personas.json override and add personas", async () => {
  await using dataDir = await TempDataDir.create();
  await Deno.writeTextFile(
    dataDir.personasFile,
    JSON.stringify({
      reviewer: "Review like a security auditor.",
      "sql_expert-2": "You know PostgreSQL inside out.",
    }),
  );
  const personas = await loadPersonas(dataDir.path);
  const builtIn = (name: string) =>
    BUILT_IN_PERSONAS.find((p) => p.name === name)!;
  assert.deepEqual(personas, [
    builtIn("architect"),
    builtIn("mobile"),
    { name: "reviewer", prompt: "Review like a security auditor." },
    { name: "sql_expert-2", prompt: "You know PostgreSQL inside out." },
    builtIn("teacher"),
  ]);
});

Deno.test("loadPersonas() throws PersonasFileError for an invalid personas.json", async (t) => {
  const invalid: [string, string][] = [
    ["bad JSON", '{"poet": "Write verse."'],
    ["an array", '["poet"]'],
    ["a prompt that is not a string", '{"poet": 42}'],
    ["an empty prompt", '{"poet": ""}'],
    ["a name with a space", '{"my poet": "Write verse."}'],
    ["a name longer than 32 characters", `{"${"p".repeat(33)}": "x"}`],
  ];
  for (const [what, text] of invalid) {
    await t.step(what, async () => {
      await using dataDir = await TempDataDir.create();
      await Deno.writeTextFile(dataDir.personasFile, text);
      const error = await loadPersonas(dataDir.path).then(
        () => assert.fail("the file was accepted"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof PersonasFileError);
      assert.equal(error.name, "PersonasFileError");
      assert.ok(
        error.message.startsWith(
          `Cannot read personas from "${dataDir.personasFile}": `,
        ),
        error.message,
      );
    });
  }

  await t.step("a directory named personas.json", async () => {
    await using dataDir = await TempDataDir.create();
    await Deno.mkdir(dataDir.personasFile);
    await assert.rejects(loadPersonas(dataDir.path), PersonasFileError);
  });
});

Deno.test("resolvePersona() reads a name or a prompt", async (t) => {
  const personas: Persona[] = [
    { name: "reviewer", prompt: "Review." },
    { name: "poet", prompt: "Write verse." },
  ];

  await t.step("a known name gives that persona", () => {
    assert.deepEqual(resolvePersona(personas, "poet"), {
      name: "poet",
      prompt: "Write verse.",
    });
    assert.deepEqual(resolvePersona(personas, "  reviewer \n"), {
      name: "reviewer",
      prompt: "Review.",
    });
  });

  await t.step("free text with spaces is the prompt itself", () => {
    assert.deepEqual(
      resolvePersona(personas, "  You answer in haiku.  "),
      { prompt: "You answer in haiku." },
    );
    assert.deepEqual(
      resolvePersona(personas, "poet but\nshorter"),
      { prompt: "poet but\nshorter" },
    );
  });

  await t.step("a single unknown word is most likely a typo", () => {
    assert.equal(resolvePersona(personas, "reveiwer"), undefined);
    assert.equal(resolvePersona(personas, "Poet"), undefined);
    assert.equal(resolvePersona(personas, ""), undefined);
    assert.equal(resolvePersona(personas, "   "), undefined);
  });
});

Deno.test("loadPersonasOrBuiltIns() starts with the built-ins and names the bad file", async (t) => {
  await t.step("an invalid personas.json", async () => {
    await using dataDir = await TempDataDir.create();
    await Deno.writeTextFile(dataDir.personasFile, '{"my poet": 42}');
    const { personas, problem } = await loadPersonasOrBuiltIns(dataDir.path);
    assert.deepEqual(personas, sortedByName(BUILT_IN_PERSONAS));
    assert.ok(problem instanceof PersonasFileError);
    assert.equal(problem.path, dataDir.personasFile);
    assert.match(
      problem.message,
      /^Cannot read personas from ".*personas\.json": "my poet": /,
    );
    assert.ok(!problem.message.includes("\n"), "one line for the log");
  });

  await t.step("broken JSON names the file and the parse error", async () => {
    await using dataDir = await TempDataDir.create();
    await Deno.writeTextFile(dataDir.personasFile, '{"poet": ');
    const { personas, problem } = await loadPersonasOrBuiltIns(dataDir.path);
    assert.equal(personas.length, BUILT_IN_PERSONAS.length);
    assert.match(problem?.message ?? "", /personas\.json": .*JSON/);
  });

  await t.step("a valid file gives its personas and no problem", async () => {
    await using dataDir = await TempDataDir.create();
    await Deno.writeTextFile(
      dataDir.personasFile,
      JSON.stringify({ poet: "Write verse." }),
    );
    const loaded = await loadPersonasOrBuiltIns(dataDir.path);
    assert.equal(loaded.problem, undefined);
    assert.ok(loaded.personas.some((p) => p.name === "poet"));
  });
});
