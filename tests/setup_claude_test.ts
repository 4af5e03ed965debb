// Tests for setup_claude.ts: finding the CLI and its version through a real
// spawn of small scripts, and the signs of a login.
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkClaude, claudeCredentialsPath } from "../setup_claude.ts";
import { systemSpawn } from "../spawner.ts";

/** A temp dir with an executable `claude` script running `body`. */
async function withScript(
  body: string,
  fn: (dir: string, bin: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ct-claude-check-" });
  try {
    const bin = join(dir, "claude");
    await Deno.writeTextFile(bin, `#!/bin/sh\n${body}\n`);
    await Deno.chmod(bin, 0o755);
    await fn(dir, bin);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("claudeCredentialsPath() prefers CLAUDE_CONFIG_DIR, then ~/.claude", () => {
  assert.equal(
    claudeCredentialsPath({ CLAUDE_CONFIG_DIR: "/etc/c", HOME: "/home/u" }),
    "/etc/c/.credentials.json",
  );
  assert.equal(
    claudeCredentialsPath({ HOME: "/home/u" }),
    "/home/u/.claude/.credentials.json",
  );
  assert.equal(claudeCredentialsPath({}), undefined);
});

Deno.test("checkClaude() shows the version and finds the credentials file", async () => {
  await withScript('echo "2.1.197 (Claude Code)"', async (dir, bin) => {
    await Deno.mkdir(join(dir, ".claude"));
    await Deno.writeTextFile(join(dir, ".claude", ".credentials.json"), "{}");

    const check = await checkClaude({ CLAUDE_BIN: bin, HOME: dir }, {
      spawn: systemSpawn,
    });

    assert.deepEqual(check, {
      bin,
      cli: { kind: "found", version: "2.1.197 (Claude Code)" },
      login: {
        kind: "credentials",
        path: join(dir, ".claude", ".credentials.json"),
      },
    });
  });
});

Deno.test("checkClaude() counts an API key or OAuth token in the environment as a login", async () => {
  await withScript("echo 2.1.197", async (dir, bin) => {
    for (const variable of ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]) {
      const check = await checkClaude(
        { CLAUDE_BIN: bin, HOME: dir, [variable]: "secret" },
        { spawn: systemSpawn },
      );
      assert.deepEqual(check.login, { kind: "key", variable });
    }
  });
});

Deno.test("checkClaude() reports a missing CLI and no login without throwing", async () => {
  await withScript("true", async (dir) => {
    const check = await checkClaude(
      {
        CLAUDE_BIN: join(dir, "nowhere", "claude"),
        HOME: dir,
        ANTHROPIC_API_KEY: " ",
      },
      { spawn: systemSpawn },
    );

    assert.deepEqual(check.cli, { kind: "missing" });
    assert.deepEqual(check.login, {
      kind: "none",
      path: join(dir, ".claude", ".credentials.json"),
    });
  });
});

Deno.test("checkClaude() reports a CLI whose --version fails as broken", async () => {
  await withScript('echo "boom: no node" >&2; exit 3', async (dir, bin) => {
    const check = await checkClaude({ CLAUDE_BIN: bin, HOME: dir }, {
      spawn: systemSpawn,
    });

    assert.equal(check.cli.kind, "broken");
    assert.match(
      check.cli.kind === "broken" ? check.cli.detail : "",
      /exited with code 3: boom: no node$/,
    );
  });
});
