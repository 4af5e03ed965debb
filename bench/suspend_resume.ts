// Benchmark 6: the bot's own time to suspend an idle session and to resume it
// for the next message, without the CLI's start: Claude is the in-memory
// MemoryClaude, and the idle timer runs on a manual clock. A second variant
// adds what subprocess.ts does around a real process on those paths (one `ps`
// for the start time on resume, one `ps` scan for stragglers on stop).
import { join } from "node:path";
import { processes } from "../tests/fakes/spare_process.ts";
import type { LaunchFn } from "../launcher.ts";
import { SessionRegistry } from "../sessions.ts";
import { SessionStore } from "../store.ts";
import { ManualClock } from "../tests/fakes/manual_clock.ts";
import { memoryClaudeStarter } from "../tests/fakes/memory_claude.ts";
import { summarize, type Summary } from "./stats.ts";

/** Suspend and resume times of one variant, in ms. */
export interface SuspendResumeTimes {
  suspendMs: Summary;
  resumeMs: Summary;
}

/** Both variants. */
export interface SuspendResumeResult {
  /** SessionRegistry and store only. */
  sessions: SuspendResumeTimes;
  /** Plus subprocess.ts's `ps` runs. */
  withProcessChecks: SuspendResumeTimes;
}

const IDLE_TIMEOUT_MS = 60_000;
const CHAT_KEY = "1001";

/** Runs `cycles` suspend/resume cycles of one session per variant. */
export async function runSuspendResume(
  cycles: number,
): Promise<SuspendResumeResult> {
  return {
    sessions: await measure(cycles, false),
    withProcessChecks: await measure(cycles, true),
  };
}

async function measure(
  cycles: number,
  isCheckingProcesses: boolean,
): Promise<SuspendResumeTimes> {
  const dir = await Deno.makeTempDir({ prefix: "ct-bench-suspend-" });
  try {
    const clock = new ManualClock(Date.now());
    const store = new SessionStore({ dataDir: join(dir, "data"), clock });
    await store.init();
    const probe = new Probe(isCheckingProcesses);
    const sessions = new SessionRegistry({
      store,
      clock,
      launch: probe.start,
      instanceId: crypto.randomUUID(),
      defaultIdleTimeoutMs: IDLE_TIMEOUT_MS,
      claudeDefaults: { permissionMode: "acceptEdits", allowedTools: [] },
      graceMs: 1_000,
    });
    const { name } = await sessions.ensureActive(CHAT_KEY);
    const send = async () => {
      const updates = sessions.send(CHAT_KEY, {
        session: name,
        input: { text: "hello" },
      });
      for await (const _update of updates) {
        // The turn runs as its updates are pulled; the bench needs none.
      }
    };
    await send();
    const suspend: number[] = [];
    const resume: number[] = [];
    for (let i = 0; i < cycles; i++) {
      const stopped = probe.next("stopped");
      let startedAt = performance.now();
      clock.advance(IDLE_TIMEOUT_MS);
      await stopped;
      await store.flush();
      suspend.push(performance.now() - startedAt);
      const written = probe.next("written");
      startedAt = performance.now();
      const turn = send();
      await written;
      resume.push(performance.now() - startedAt);
      await turn;
    }
    await sessions.shutdown();
    return { suspendMs: summarize(suspend), resumeMs: summarize(resume) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts MemoryClaude processes and reports when one stopped or got a message. */
class Probe {
  #isCheckingProcesses: boolean;
  #waiters = new Map<string, () => void>();
  #memory = memoryClaudeStarter();

  constructor(isCheckingProcesses: boolean) {
    this.#isCheckingProcesses = isCheckingProcesses;
  }

  /** Resolves at the next `stopped` or `written`. */
  next(what: "stopped" | "written"): Promise<void> {
    return new Promise((resolve) => this.#waiters.set(what, resolve));
  }

  readonly start: LaunchFn = (options) => {
    const claude = this.#memory.start(options);
    return {
      pid: claude.pid,
      events: claude.events,
      exited: claude.exited,
      get isAlive() {
        return claude.isAlive;
      },
      startTime: () =>
        this.#isCheckingProcesses
          ? processes.startTime(Deno.pid)
          : claude.startTime(),
      sendUserMessage: async (content) => {
        await claude.sendUserMessage(content);
        this.#notify("written");
      },
      interrupt: () => claude.interrupt(),
      answerPermission: (requestId, decision) =>
        claude.answerPermission(requestId, decision),
      stop: async (stopOptions) => {
        const exit = await claude.stop(stopOptions);
        if (this.#isCheckingProcesses) {
          await processes.findMarked(options.marker);
        }
        this.#notify("stopped");
        return exit;
      },
    };
  };

  #notify(what: string): void {
    this.#waiters.get(what)?.();
    this.#waiters.delete(what);
  }
}
