// Tests for reaper.ts against real spare processes carrying markers.

import assert from "node:assert/strict";
import { join } from "node:path";
import { MARKER_ENV } from "../process_tree.ts";
import { isClaudeProcess, reapOrphans } from "../reaper.ts";
import { killAll, processes, spawnQuiet } from "./fakes/spare_process.ts";

/** A detached `setsid sleep 60` left behind the way Claude's Bash tool leaves one; resolves to its pid. */
async function spawnOrphanSleep(env: Record<string, string>): Promise<number> {
  const { stdout } = await new Deno.Command("bash", {
    // bash's background child is no group leader, so setsid execs in place
    // and $! is the sleep itself.
    args: ["-c", "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $!"],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return Number(new TextDecoder().decode(stdout));
}

/** SIGKILLs a process we did not spawn, unless its pid now names another process. */
async function killOrphan(pid: number, startTime: string | undefined) {
  if (startTime !== undefined && await processes.startTime(pid) === startTime) {
    Deno.kill(pid, "SIGKILL");
  }
}

/** A script named `claude`, as CLAUDE_BIN may be a wrapper rather than the binary. */
async function writeFakeClaude(dir: string): Promise<string> {
  const path = join(dir, "claude");
  await Deno.writeTextFile(path, '#!/bin/bash\nexec -a "$0" sleep 60\n', {
    mode: 0o755,
  });
  return path;
}

Deno.test("reapOrphans() stops this instance's orphans and spares the rest", async () => {
  const instanceId = crypto.randomUUID();
  const marker = (sessionKey: string) => ({
    [MARKER_ENV]: `${instanceId}:${sessionKey}`,
  });
  const dir = await Deno.makeTempDir();
  const claudeBin = await writeFakeClaude(dir);
  const claude = spawnQuiet(claudeBin, [], marker("1001/default"));
  const claudeWithReusedPid = spawnQuiet(claudeBin, [], marker("1001/api"));
  const unmarked = spawnQuiet("sleep", ["60"]);
  const otherInstance = spawnQuiet("sleep", ["60"], {
    [MARKER_ENV]: `${crypto.randomUUID()}:1001/default`,
  });
  const orphanPid = await spawnOrphanSleep(marker("1001/default"));
  const orphanStartTime = await processes.startTime(orphanPid);
  try {
    assert.notEqual(orphanStartTime, undefined);
    const recorded = [
      { pid: claude.pid, startTime: await processes.startTime(claude.pid) },
      { pid: claudeWithReusedPid.pid, startTime: "Thu Jan  1 00:00:00 1970" },
      { pid: unmarked.pid, startTime: await processes.startTime(unmarked.pid) },
    ].map(({ pid, startTime }) => ({ pid, startTime: startTime ?? "" }));

    const report = await reapOrphans({
      processes,
      instanceId,
      claudeBin,
      recorded,
      graceMs: 5_000,
    });

    assert.deepEqual(report, { claude: 1, tools: 1, spared: 1 });
    assert.equal((await claude.status).signal, "SIGTERM");
    assert.equal(await processes.startTime(orphanPid), undefined);
    for (const survivor of [claudeWithReusedPid, unmarked, otherInstance]) {
      assert.notEqual(await processes.startTime(survivor.pid), undefined);
    }
  } finally {
    await killOrphan(orphanPid, orphanStartTime);
    await killAll([claude, claudeWithReusedPid, unmarked, otherInstance]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reapOrphans() counts Claude's Bash tool wrapper as a tool", async () => {
  const instanceId = crypto.randomUUID();
  // The wrapper's script names a `/tmp/claude-<hex>-cwd` file.
  const toolWrapper = spawnQuiet("bash", [
    "-c",
    `exec -a "/bin/bash -c eval 'sleep 60' >| /tmp/claude-5f3a-cwd" sleep 60`,
  ], { [MARKER_ENV]: `${instanceId}:1001/default` });
  try {
    const report = await reapOrphans({
      processes,
      instanceId,
      claudeBin: "claude",
      recorded: [],
      graceMs: 5_000,
    });
    assert.deepEqual(report, { claude: 0, tools: 1, spared: 0 });
    assert.equal((await toolWrapper.status).signal, "SIGTERM");
  } finally {
    await killAll([toolWrapper]);
  }
});

Deno.test("reapOrphans() reports nothing when no orphan is left", async () => {
  const report = await reapOrphans({
    processes,
    instanceId: crypto.randomUUID(),
    claudeBin: "claude",
    recorded: [],
    graceMs: 300,
  });
  assert.deepEqual(report, { claude: 0, tools: 0, spared: 0 });
});

Deno.test("reapOrphans() rejects an instanceId that could match other instances", async () => {
  for (const instanceId of ["", "a:b", "a b"]) {
    await assert.rejects(
      reapOrphans({
        processes,
        instanceId,
        claudeBin: "claude",
        recorded: [],
        graceMs: 0,
      }),
      TypeError,
    );
  }
});

Deno.test("reapOrphans() finds the last run's processes by their recorded markers when the instance id was lost", async () => {
  const lostId = crypto.randomUUID();
  const marker = `${lostId}:1001/default`;
  const orphan = spawnQuiet("sleep", ["60"], { [MARKER_ENV]: marker });
  const stranger = spawnQuiet("sleep", ["60"], {
    [MARKER_ENV]: `${lostId}:2002/other`,
  });
  try {
    const report = await reapOrphans({
      processes,
      instanceId: crypto.randomUUID(),
      claudeBin: "claude",
      recorded: [],
      markers: [marker],
      graceMs: 5_000,
    });
    assert.deepEqual(report, { claude: 0, tools: 1, spared: 0 });
    assert.equal((await orphan.status).signal, "SIGTERM");
    assert.notEqual(await processes.startTime(stranger.pid), undefined);
  } finally {
    await killAll([orphan, stranger]);
  }
});

Deno.test("isClaudeProcess() tells Claude and its wrappers from tools, sockets and helpers that merely mention claude", () => {
  const claude = [
    "/usr/local/bin/claude --print --verbose",
    "claude -p",
    "node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js --print",
    "/bin/sh /tmp/t/claude",
    "/opt/bin/my-agent --print",
  ];
  const tools = [
    "/bin/bash -c -l source /tmp/claude-shell-snapshot-1.sh",
    "socat UNIX-LISTEN:/tmp/claude-http-1f2e.sock,fork,reuseaddr",
    "/opt/claude-telegram/tools/sandbox-runtime/node_modules/@anthropic-ai/" +
    "sandbox-runtime/vendor/seccomp/x64/apply-seccomp /usr/bin/bash -c sh",
    "sleep 60",
    "deno run -A fake_claude.ts",
  ];
  for (const args of claude) {
    assert.ok(
      isClaudeProcess(
        args,
        args.startsWith("/opt/bin") ? "/opt/bin/my-agent" : "claude",
      ),
      args,
    );
  }
  for (const args of tools) assert.ok(!isClaudeProcess(args, "claude"), args);
});
