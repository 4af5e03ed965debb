// Tests for process_tree.ts against real processes found through ps.

import assert from "node:assert/strict";
import {
  findMarkedProcesses,
  MARKER_ENV,
  processStartTime,
  terminateProcesses,
} from "../process_tree.ts";
import { killAll, spawnQuiet } from "./fakes/spare_process.ts";

function markerFor(marker: string): Record<string, string> {
  return { [MARKER_ENV]: marker };
}

Deno.test("findMarkedProcesses() finds a process by its exact marker", async () => {
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
    const found = await findMarkedProcesses(marker);
    assert.equal(found.length, 1);
    const [{ args, ...identity }] = found;
    // Deno passes the PATH-resolved binary as argv[0].
    assert.match(args, /^\S*sleep 60$/);
    assert.deepEqual(identity, {
      pid: marked.pid,
      marker,
      startTime: await processStartTime(marked.pid),
    });
  } finally {
    await killAll([marked, unmarked, markerInArgs]);
  }
});

Deno.test("findMarkedProcesses() matches marker prefixes with { prefix: true }", async () => {
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
      pidsOf(await findMarkedProcesses(`${instanceId}:`, { prefix: true })),
      [first.pid, second.pid].sort((a, b) => a - b),
    );
    assert.deepEqual(pidsOf(await findMarkedProcesses(`${instanceId}:`)), []);
    assert.deepEqual(
      pidsOf(await findMarkedProcesses(`${instanceId}:1/a`)),
      [first.pid],
    );
  } finally {
    await killAll([first, second, lookalike]);
  }
});

Deno.test("findMarkedProcesses() rejects an empty or spaced marker", async () => {
  await assert.rejects(findMarkedProcesses(""), TypeError);
  await assert.rejects(
    findMarkedProcesses("a b", { prefix: true }),
    TypeError,
  );
});

Deno.test("processStartTime() reads a live process and not a gone one", async () => {
  const child = spawnQuiet("sleep", ["60"]);
  let startTime: string | undefined;
  try {
    startTime = await processStartTime(child.pid);
  } finally {
    await killAll([child]);
  }
  assert.match(startTime ?? "", /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  assert.equal(await processStartTime(child.pid), undefined);
});

Deno.test("terminateProcesses() stops a process that exits on SIGTERM", async () => {
  const child = spawnQuiet("sleep", ["60"]);
  try {
    assert.deepEqual(
      await terminateProcesses([child.pid], { graceMs: 5_000 }),
      [],
    );
    assert.equal((await child.status).signal, "SIGTERM");
  } finally {
    await killAll([child]);
  }
});

Deno.test("terminateProcesses() SIGKILLs a process ignoring SIGTERM after graceMs", async () => {
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
      await terminateProcesses([child.pid], { graceMs: 300 }),
      [child.pid],
    );
    assert.equal((await child.status).signal, "SIGKILL");
  } finally {
    await stdout.cancel();
    await killAll([child]);
  }
});

Deno.test("terminateProcesses() accepts pids that are already gone", async () => {
  const child = spawnQuiet("true", []);
  await child.status;
  assert.deepEqual(await terminateProcesses([child.pid], { graceMs: 300 }), []);
  assert.deepEqual(await terminateProcesses([], { graceMs: 300 }), []);
});

Deno.test("terminateProcesses() rejects pids kill would read as groups", async () => {
  for (const pid of [0, -1, 1.5]) {
    await assert.rejects(
      terminateProcesses([pid], { graceMs: 0 }),
      RangeError,
    );
  }
  await assert.rejects(
    terminateProcesses([Deno.pid], { graceMs: -1 }),
    RangeError,
  );
});
