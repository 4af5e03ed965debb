// Start-up check of what spawning needs, so that a known cause becomes one
// clear message instead of an uncaught error and a restart loop: dynamic
// loader variables (Deno's scoped --allow-run then refuses every spawn) and a
// `ps` that is missing or is not procps (busybox lacks `e` and lstart).

import { runCommand, type SpawnFn } from "./spawner.ts";

/** Bounds each probe; ps and kill answer in milliseconds. */
const PROBE_TIMEOUT_MS = 10_000;
/** Set on the probe's ps, which must then show it in its own environment. */
const PROBE_ENV = { LC_ALL: "C", TZ: "UTC", CLAUDE_TELEGRAM_PREFLIGHT: "1" };
/** `ps -o pid=,lstart=`: procps prints lstart 24 characters wide. */
const LSTART_LINE = /^\s*(\d+)\s+(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})$/;

/**
 * Variables that make Deno refuse to spawn anything under a scoped
 * `--allow-run` ("Requires --allow-run permissions to spawn subprocess with
 * LD_PRELOAD environment variable"): every non-empty LD_* and DYLD_*.
 */
export function loaderVariables(
  env: Record<string, string | undefined>,
): string[] {
  return Object.keys(env).filter((name) =>
    /^(LD|DYLD)_/.test(name) && env[name]
  ).sort();
}

/** The one-line problem that loader variables cause, or undefined when none is set. */
export function loaderProblem(
  env: Record<string, string | undefined>,
): string | undefined {
  const loader = loaderVariables(env);
  if (loader.length === 0) return undefined;
  return `${loader.join(" and ")} ${loader.length === 1 ? "is" : "are"} set ` +
    "in the bot's environment: Deno's scoped --allow-run then refuses to " +
    "start any program (Claude, ps, kill). Unset " +
    `${loader.length === 1 ? "it" : "them"} for the bot (its shell, ` +
    "systemd unit or .env)";
}

/**
 * Checks that the bot can spawn its helpers and read processes the way the
 * reaper and the stop path need. Returns one line per problem, naming its
 * cause and the fix; empty when all is well.
 * @param options.env the bot's environment
 */
export async function checkEnvironment(
  options: { env: Record<string, string | undefined>; spawn: SpawnFn },
): Promise<string[]> {
  const loader = loaderProblem(options.env);
  // Every probe below would fail for this same reason.
  if (loader) return [loader];
  const problems = [
    await checkPs(options.spawn),
    await checkKill(options.spawn),
  ];
  return problems.filter((problem) => problem !== undefined);
}

async function checkPs(spawn: SpawnFn): Promise<string | undefined> {
  const notProcps = "ps is not procps ps (busybox's lacks `e` and lstart, " +
    "which finding and stopping Claude's processes need): install procps";
  try {
    const start = await runCommand(spawn, "ps", {
      args: ["-o", "pid=,lstart=", "-p", String(Deno.pid)],
      env: PROBE_ENV,
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    const match = LSTART_LINE.exec(start.stdout.trim());
    if (start.code !== 0 || Number(match?.[1]) !== Deno.pid) return notProcps;
    // ps lists itself: its own line must end in the environment we gave it.
    const withEnv = await runCommand(spawn, "ps", {
      args: ["axeww", "-o", "pid=,args="],
      env: PROBE_ENV,
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    const showsEnv = withEnv.stdout.split("\n").some((line) =>
      line.includes(" CLAUDE_TELEGRAM_PREFLIGHT=1")
    );
    return withEnv.code === 0 && showsEnv ? undefined : notProcps;
  } catch (error) {
    return spawnProblem("ps", "procps", error);
  }
}

async function checkKill(spawn: SpawnFn): Promise<string | undefined> {
  try {
    const { code, stderr } = await runCommand(spawn, "kill", {
      args: ["-0", String(Deno.pid)],
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    return code === 0 ? undefined : `kill cannot signal the bot itself ` +
      `(exit code ${code}: ${stderr.trim()}): install procps`;
  } catch (error) {
    return spawnProblem("kill", "procps", error);
  }
}

/** @throws the error itself when it is not one of the known causes */
function spawnProblem(bin: string, apt: string, error: unknown): string {
  if (error instanceof Deno.errors.NotFound) {
    return `${bin} is missing: install the "${apt}" package`;
  }
  if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    return `the bot may not run ${bin}: add it to --allow-run`;
  }
  throw error;
}
