// Tests for instance_lock.ts: one bot per DATA_DIR, across real processes,
// and a killed holder releases the lock.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  INSTANCE_LOCK_FILE,
  InstanceLock,
  InstanceLockedError,
} from "../instance_lock.ts";
import { TextLineStream } from "../line_stream.ts";
import { systemSpawn } from "../spawner.ts";
import { withDeadline } from "./fakes/wait.ts";

const LOCK_HOLDER = fileURLToPath(
  new URL("./fakes/lock_holder.ts", import.meta.url),
);
const WAIT_MS = 15_000;

/** The lock holder in a Deno process of its own; killed on dispose. */
class OtherBot implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;

  constructor(dataDir: string) {
    this.child = systemSpawn(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--no-lock",
        "--allow-read",
        "--allow-write",
        LOCK_HOLDER,
        dataDir,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    });
    this.#lines = this.child.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(new TextLineStream()).getReader();
  }

  /** Its first line: "locked" or "refused <pid>". */
  async firstLine(): Promise<string> {
    const { value } = await withDeadline(this.#lines.read(), {
      what: "the other bot's answer",
      ms: WAIT_MS,
    });
    return value ?? "(no output)";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // It has already exited.
    }
    await this.child.stdin.close().catch(() => {
      // The pipe broke with the process.
    });
    await this.#lines.cancel();
    await this.child.status;
  }
}

async function tempDataDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "instance_lock_test_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

Deno.test("InstanceLock: a second bot on the same DATA_DIR is refused, naming the holder", async () => {
  await using dataDir = await tempDataDir();
  using lock = await InstanceLock.acquire(dataDir.path);
  assert.equal(lock.path, join(dataDir.path, INSTANCE_LOCK_FILE));
  await using other = new OtherBot(dataDir.path);
  assert.equal(await other.firstLine(), `refused ${Deno.pid}`);
  assert.equal((await other.child.status).code, 3);
});

Deno.test("InstanceLock: refused while another process holds it; free once it releases", async () => {
  await using dataDir = await tempDataDir();
  await using other = new OtherBot(dataDir.path);
  assert.equal(await other.firstLine(), "locked");
  const error = await InstanceLock.acquire(dataDir.path).then(
    () => assert.fail("took a held lock"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof InstanceLockedError);
  assert.equal(error.holderPid, other.child.pid);
  assert.equal(error.path, join(dataDir.path, INSTANCE_LOCK_FILE));
  assert.match(
    error.message,
    /^Cannot start: another claude-telegram \(pid \d+\) is running on this DATA_DIR; it holds ".*state\/lock"/,
  );
  await other.child.stdin.close();
  assert.equal((await other.child.status).code, 0);
  using lock = await InstanceLock.acquire(dataDir.path);
  assert.equal(
    (await Deno.readTextFile(lock.path)).trim(),
    String(Deno.pid),
  );
});

Deno.test("InstanceLock: a killed holder leaves no stale lock", async () => {
  await using dataDir = await tempDataDir();
  await using other = new OtherBot(dataDir.path);
  assert.equal(await other.firstLine(), "locked");
  other.child.kill("SIGKILL");
  assert.equal((await other.child.status).signal, "SIGKILL");
  using lock = await InstanceLock.acquire(dataDir.path);
  assert.ok(lock.path.endsWith(INSTANCE_LOCK_FILE));
});

Deno.test("InstanceLock.release() lets the next one in; a second release is harmless", async () => {
  await using dataDir = await tempDataDir();
  const first = await InstanceLock.acquire(dataDir.path);
  await assert.rejects(InstanceLock.acquire(dataDir.path), InstanceLockedError);
  first.release();
  first.release();
  using second = await InstanceLock.acquire(dataDir.path);
  assert.ok(second.path);
  const mode = (await Deno.stat(join(dataDir.path, "state"))).mode! & 0o777;
  assert.equal(mode, 0o700);
});
