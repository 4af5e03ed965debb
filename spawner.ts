// The one place that starts OS processes: Claude, git, ps and kill are all
// spawned through a SpawnFn that production takes from here and tests fake.

/** Spawns a child; shaped like `new Deno.Command(bin, options).spawn()`. */
export type SpawnFn = (
  bin: string,
  options: Deno.CommandOptions,
) => Deno.ChildProcess;

/** The real spawner. */
export const systemSpawn: SpawnFn = (bin, options) =>
  new Deno.Command(bin, options).spawn();

/** What a finished helper command printed. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a short helper command to its end with stdin closed and its output
 * collected as text; killed once `timeoutMs` passes.
 * @throws the spawn's own error (Deno.errors.NotFound, NotCapable…)
 */
export async function runCommand(
  spawn: SpawnFn,
  bin: string,
  options: {
    args: string[];
    cwd?: string;
    env?: Record<string, string>;
    /** When true the child sees only `env`, none of the bot's environment. */
    clearEnv?: boolean;
    timeoutMs: number;
  },
): Promise<CommandOutput> {
  const child = spawn(bin, {
    args: options.args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}
