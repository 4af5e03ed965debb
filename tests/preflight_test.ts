// Tests for preflight.ts: loader variables, a missing or busybox-like ps, and
// the real machine passing.

import assert from "node:assert/strict";
import { join } from "node:path";
import { checkEnvironment, loaderVariables } from "../preflight.ts";
import { type SpawnFn, systemSpawn } from "../spawner.ts";

const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";

/** A spawn that runs `fake` instead of `bin`, and the real thing otherwise. */
function replacing(bin: string, fake: string): SpawnFn {
  return (name, options) => systemSpawn(name === bin ? fake : name, options);
}

/** A spawn that throws `error` for `bin`. */
function failing(bin: string, error: Error): SpawnFn {
  return (name, options) => {
    if (name === bin) throw error;
    return systemSpawn(name, options);
  };
}

async function script(
  dir: string,
  name: string,
  body: string,
): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("checkEnvironment() passes on this machine (procps ps and kill)", async () => {
  assert.deepEqual(
    await checkEnvironment({ env: { PATH }, spawn: systemSpawn }),
    [],
  );
});

Deno.test("checkEnvironment() names the loader variables and spawns nothing", async () => {
  const spawn: SpawnFn = () => {
    throw new Error("spawned although the check must stop first");
  };
  const problems = await checkEnvironment({
    env: { PATH, LD_PRELOAD: "/x.so", LD_LIBRARY_PATH: "/opt/lib" },
    spawn,
  });
  assert.equal(problems.length, 1);
  assert.match(
    problems[0],
    /^LD_LIBRARY_PATH and LD_PRELOAD are set in the bot's environment: Deno's scoped --allow-run then refuses to start any program .*Unset them/,
  );
  assert.deepEqual(
    loaderVariables({ LD_AUDIT: "x", DYLD_LIBRARY_PATH: "y", LD_EMPTY: "" }),
    ["DYLD_LIBRARY_PATH", "LD_AUDIT"],
    "empty ones are harmless",
  );
});

Deno.test("a loader variable really stops a scoped --allow-run spawn (the cause the check names)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "preflight_test_" });
  try {
    const probe = join(dir, "probe.ts");
    await Deno.writeTextFile(
      probe,
      `try { await new Deno.Command("ps", { args: ["-p", "1"] }).output(); ` +
        `console.log("spawned"); } catch (e) { console.log(e.name); }`,
    );
    const output = await systemSpawn(Deno.execPath(), {
      args: ["run", "--quiet", "--no-lock", "--allow-run=ps", probe],
      env: { LD_LIBRARY_PATH: "/nonexistent" },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "NotCapable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkEnvironment() tells a ps that is not procps", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "preflight_test_" });
  try {
    const cases: [string, string][] = [
      [
        "busybox refusing lstart",
        `echo "ps: bad -o argument 'lstart'" >&2; exit 1`,
      ],
      [
        "a ps that ignores its options",
        `echo "  PID USER       TIME  COMMAND"; echo "    1 root       0:01 init"`,
      ],
      [
        "a ps without environments",
        `case "$1" in axeww) echo "  1 init";; *) exec ps "$@";; esac`,
      ],
    ];
    for (const [what, body] of cases) {
      await t.step(what, async () => {
        const fake = await script(dir, `ps-${what.length}`, body);
        const problems = await checkEnvironment({
          env: { PATH },
          spawn: replacing("ps", fake),
        });
        assert.equal(problems.length, 1, problems.join("; "));
        assert.match(problems[0], /^ps is not procps ps .*install procps$/);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkEnvironment() tells a missing or forbidden ps and kill", async () => {
  assert.deepEqual(
    await checkEnvironment({
      env: { PATH },
      spawn: failing("ps", new Deno.errors.NotFound("ps")),
    }),
    ['ps is missing: install the "procps" package'],
  );
  assert.deepEqual(
    await checkEnvironment({
      env: { PATH },
      spawn: failing("kill", new Deno.errors.NotCapable("run")),
    }),
    ["the bot may not run kill: add it to --allow-run"],
  );
});
