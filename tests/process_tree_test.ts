// Tests for process_tree.ts against real processes found through ps.

import assert from "node:assert/strict";
import { MARKER_ENV } from "../process_tree.ts";
import { killAll, processes, spawnQuiet } from "./fakes/spare_process.ts";

/** A live process's identity, as the bot records it at spawn. */
async function identity(pid: number) {
  return { pid, startTime: (await processes.startTime(pid)) ?? "gone" };
}

function markerFor(marker: string): Record<string, string> {
  return { [MARKER_ENV]: marker };
}

Deno.test("ProcessTable.findMarked() finds a process by its exact marker", async () => {
  const marker = `${crypto.randomUUID()}:1001/default`;
  const marked = spawnQuiet("sleep", ["60"], {
    ...markerFor(marker),
    // Environment values with spaces must not confuse the parser.
    SPACED_VALUE: "a b  c",
  });
  const unmarked = spawnQuiet("sleep", ["60"]);
  // Its argv ends the way a marked environment would look in `ps e` output.
  const markerInArgs = spawnQuiet("bash", [
    "-c",
    `exec -a "sleep ${MARKER_ENV}=${marker}" sleep 60`,
  ]);
  try {
    const found = await processes.findMarked(marker);
    assert.equal(found.length, 1);
    const [{ args, ...identity }] = found;
    // Deno passes the PATH-resolved binary as argv[0].
    assert.match(args, /^\S*sleep 60$/);
    assert.deepEqual(identity, {
      pid: marked.pid,
      marker,
      startTime: await processes.startTime(marked.pid),
    });
  } finally {
    await killAll([marked, unmarked, markerInArgs]);
  }
});

Deno.test("ProcessTable.findMarked() matches marker prefixes with { prefix: true }", async () => {
  const instanceId = crypto.randomUUID();
  const first = spawnQuiet("sleep", ["60"], markerFor(`${instanceId}:1/a`));
  const second = spawnQuiet("sleep", ["60"], markerFor(`${instanceId}:2/b`));
  const lookalike = spawnQuiet(
    "sleep",
    ["60"],
    markerFor(`${instanceId}0:1/a`),
  );
  try {
    const pidsOf = (found: { pid: number }[]) =>
      found.map(({ pid }) => pid).sort((a, b) => a - b);
    assert.deepEqual(
      pidsOf(await processes.findMarked(`${instanceId}:`, { prefix: true })),
      [first.pid, second.pid].sort((a, b) => a - b),
    );
    assert.deepEqual(pidsOf(await processes.findMarked(`${instanceId}:`)), []);
    assert.deepEqual(
      pidsOf(await processes.findMarked(`${instanceId}:1/a`)),
      [first.pid],
    );
  } finally {
    await killAll([first, second, lookalike]);
  }
});

Deno.test("ProcessTable.findMarked() rejects an empty or spaced marker", async () => {
  await assert.rejects(processes.findMarked(""), TypeError);
  await assert.rejects(
    processes.findMarked("a b", { prefix: true }),
    TypeError,
  );
});

Deno.test("ProcessTable.startTime() reads a live process and not a gone one", async () => {
  const child = spawnQuiet("sleep", ["60"]);
  let startTime: string | undefined;
  try {
    startTime = await processes.startTime(child.pid);
  } finally {
    await killAll([child]);
  }
  assert.match(startTime ?? "", /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  assert.equal(await processes.startTime(child.pid), undefined);
});

Deno.test("ProcessTable.terminate() stops a process that exits on SIGTERM", async () => {
  const child = spawnQuiet("sleep", ["60"]);
  try {
    assert.deepEqual(
      await processes.terminate([await identity(child.pid)], {
        graceMs: 5_000,
      }),
      [],
    );
    assert.equal((await child.status).signal, "SIGTERM");
  } finally {
    await killAll([child]);
  }
});

Deno.test("ProcessTable.terminate() SIGKILLs a process ignoring SIGTERM after graceMs", async () => {
  const child = new Deno.Command("bash", {
    // An ignored signal stays ignored across exec, so sleep ignores it too.
    args: ["-c", `trap "" TERM; echo ready; exec sleep 30`],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stdout = child.stdout.getReader();
  try {
    const { value } = await stdout.read();
    assert.equal(new TextDecoder().decode(value), "ready\n");
    assert.deepEqual(
      await processes.terminate([await identity(child.pid)], { graceMs: 300 }),
      [child.pid],
    );
    assert.equal((await child.status).signal, "SIGKILL");
  } finally {
    await stdout.cancel();
    await killAll([child]);
  }
});

Deno.test("ProcessTable.terminate() accepts pids that are already gone", async () => {
  const child = spawnQuiet("true", []);
  await child.status;
  assert.deepEqual(
    await processes.terminate([await identity(child.pid)], { graceMs: 300 }),
    [],
  );
  assert.deepEqual(await processes.terminate([], { graceMs: 300 }), []);
});

Deno.test("ProcessTable.terminate() rejects pids kill would read as groups", async () => {
  for (const pid of [0, -1, 1.5]) {
    await assert.rejects(
      processes.terminate([{ pid, startTime: "" }], { graceMs: 0 }),
      RangeError,
    );
  }
  await assert.rejects(
    processes.terminate([{ pid: Deno.pid, startTime: "" }], { graceMs: -1 }),
    RangeError,
  );
});

Deno.test("ProcessTable.terminate() leaves alone a pid whose start time changed (a reused pid)", async () => {
  const child = spawnQuiet("sleep", ["60"]);
  try {
    const recorded = { pid: child.pid, startTime: "Thu Jan  1 00:00:00 1970" };
    assert.deepEqual(await processes.terminate([recorded], { graceMs: 0 }), []);
    assert.notEqual(
      await processes.startTime(child.pid),
      undefined,
      "the newer process with that pid is still running",
    );
  } finally {
    await killAll([child]);
  }
});
