// A real SessionRegistry for unit tests: a store in a temp dir (or a given
// one), in-memory Claude processes and a manual clock.
import { SessionRegistry } from "../../sessions.ts";
import { SessionStore } from "../../store.ts";
import { ManualClock } from "./manual_clock.ts";
import { memoryClaudeStarter } from "./memory_claude.ts";

/**
 * Builds and loads the registry; `dir` is `options.dataDir` or a new temp dir
 * (the caller removes it).
 */
export async function memorySessions(options: {
  defaultIdleTimeoutMs: number;
  startMs: number;
  dataDir?: string;
  refuseResumes?: boolean;
}) {
  const dir = options.dataDir ??
    await Deno.makeTempDir({ prefix: "ct-sessions-" });
  const clock = new ManualClock(options.startMs);
  const store = new SessionStore({ dataDir: dir, clock });
  await store.init();
  const claude = memoryClaudeStarter({ refuseResumes: options.refuseResumes });
  const sessions = new SessionRegistry({
    store,
    clock,
    launch: claude.start,
    instanceId: "00000000-0000-4000-8000-000000000000",
    defaultIdleTimeoutMs: options.defaultIdleTimeoutMs,
    claudeDefaults: { permissionMode: "acceptEdits", allowedTools: [] },
    graceMs: 1000,
  });
  await sessions.load();
  return { dir, clock, claude, sessions };
}
