// Runs Claude in a sandbox: bubblewrap directly (sandbox_bwrap.ts), or,
// with a network allow-list, Anthropic's sandbox-runtime (sandbox_runtime.ts),
// both under the same filesystem rules (sandbox_spec.ts). It only rewrites
// the command line; the marker, stop and reaper are as they were.

import {
  bwrapProbeProblem,
  probeDisk,
  sandboxCommand,
} from "./sandbox_bwrap.ts";
import {
  clearRuntimeTemp,
  runtimeProbeProblem,
  runtimeWrapper,
} from "./sandbox_runtime.ts";
import {
  checkSpec,
  prepareFolders,
  type SandboxMode,
  SandboxSetupError,
  type SandboxSpec,
  type SandboxStatus,
  SandboxUnavailableError,
} from "./sandbox_spec.ts";
import type { SpawnFn } from "./spawner.ts";
import type { CommandWrapper } from "./subprocess.ts";

/**
 * Finds out whether the sandbox can run, by running `bwrap … true` once with
 * the namespaces Claude will get (a missing package, a kernel or AppArmor that
 * refuses user namespaces, and a Deno without `--allow-run=bwrap` all show here).
 * With `network`, srt runs `true` instead, under those domains, and the
 * sessions' temp folders a previous run left are removed.
 * @param options.network CLAUDE_SANDBOX_NETWORK's domains, and DATA_DIR, where
 *   srt's files go. A list is a demand: when srt cannot run, or CLAUDE_SANDBOX
 *   is off, the start is refused in every mode rather than leave the network
 *   open. An empty list is no list.
 * @throws {SandboxUnavailableError} in `on` mode when it cannot run, and
 *   whenever `network` lists a domain the sandbox cannot enforce
 */
export async function detectSandbox(
  mode: SandboxMode,
  options: {
    spawn: SpawnFn;
    network?: { domains: readonly string[]; dataDir: string };
  },
): Promise<SandboxStatus> {
  const { network } = options;
  if (network && network.domains.length > 0) {
    if (mode === "off") {
      throw new SandboxUnavailableError(
        "CLAUDE_SANDBOX_NETWORK restricts the sandbox's network, but " +
          "CLAUDE_SANDBOX is off: set it to auto or on, or unset " +
          "CLAUDE_SANDBOX_NETWORK",
      );
    }
    const problem = await runtimeProbeProblem(options.spawn, network);
    if (problem !== undefined) throw new SandboxUnavailableError(problem);
    try {
      clearRuntimeTemp(network.dataDir);
    } catch (error) {
      if (!(error instanceof SandboxSetupError)) throw error;
      throw new SandboxUnavailableError(error.message);
    }
    return { isActive: true, engine: "sandbox-runtime" };
  }
  if (mode === "off") return { isActive: false, reason: "off" };
  const problem = await bwrapProbeProblem(options.spawn);
  if (problem === undefined) return { isActive: true, engine: "bubblewrap" };
  if (mode === "on") throw new SandboxUnavailableError(problem);
  return { isActive: false, reason: "unavailable", problem };
}

/**
 * Returns a CommandWrapper that runs Claude's command inside the sandbox of
 * one session. Each call re-reads the paths, so a folder made since counts.
 * @throws {TypeError} when a path of `spec` is relative, or the working or
 * upload dir is DATA_DIR itself (that would show all of DATA_DIR)
 */
export function sandboxWrapper(spec: SandboxSpec): CommandWrapper {
  checkSpec(spec);
  const { network = [] } = spec;
  if (network.length > 0) {
    const wrap = runtimeWrapper(spec, network);
    return (command) => {
      prepareFolders(spec);
      return wrap(command);
    };
  }
  return (command) => {
    prepareFolders(spec);
    return sandboxCommand(spec, command, probeDisk);
  };
}
