// Real spare processes for the process-tree and reaper tests: started quiet,
// always killed and reaped by the test that started them.

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
