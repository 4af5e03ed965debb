// Real spare processes for the process-tree and reaper tests: started quiet,
// always killed and reaped by the test that started them.
import { systemClock } from "../../clock.ts";
import { ProcessTable } from "../../process_tree.ts";
import { systemSpawn } from "../../spawner.ts";

/** Spawns `command` with no stdio and exactly `env` added to ours. */
export function spawnQuiet(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Deno.ChildProcess {
  return new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** SIGKILLs each child still running and reaps it, so none outlives its test. */
export async function killAll(children: Deno.ChildProcess[]): Promise<void> {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // It has already exited; awaiting its status below reaps it.
    }
    await child.status;
  }
}

/** The real process table, for tests that look processes up through ps. */
export const processes = new ProcessTable({
  spawn: systemSpawn,
  clock: systemClock,
});
