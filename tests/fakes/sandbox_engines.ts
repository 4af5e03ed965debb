// Which sandbox engines run on this machine, for tests that are skipped
// (ignored, with the reason) where one cannot.
import { detectSandbox } from "../../sandbox.ts";
import {
  type SandboxEngine,
  SandboxUnavailableError,
} from "../../sandbox_spec.ts";
import { systemSpawn } from "../../spawner.ts";

/** The allow-list of the sandbox-runtime tests: the host's loopback, by name. */
export const TEST_DOMAINS = ["localhost"];

/** Why bubblewrap cannot run here, or undefined when it can. */
export async function bwrapProblem(): Promise<string | undefined> {
  const status = await detectSandbox("auto", { spawn: systemSpawn });
  return status.isActive ? undefined : status.problem;
}

/**
 * Why sandbox-runtime (CLAUDE_SANDBOX_NETWORK) cannot run here with
 * {@linkcode TEST_DOMAINS}, or undefined when it can. Any other error fails
 * the test file instead of skipping it.
 */
export async function runtimeProblem(): Promise<string | undefined> {
  const dataDir = await Deno.makeTempDir({ prefix: "sandbox_probe_" });
  try {
    await detectSandbox("on", {
      spawn: systemSpawn,
      network: { domains: TEST_DOMAINS, dataDir },
    });
    return undefined;
  } catch (error) {
    if (error instanceof SandboxUnavailableError) return error.problem;
    throw error;
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** One engine as a test meets it. */
export interface TestEngine {
  engine: SandboxEngine;
  /** The bot's variables that choose it (with CLAUDE_SANDBOX=on). */
  env: Record<string, string>;
  /** Why it cannot run here; the test is ignored then. */
  skip?: string;
}

/** Both engines, each with why it cannot run here, if it cannot. */
export async function sandboxEngines(): Promise<TestEngine[]> {
  const engines: TestEngine[] = [
    { engine: "bubblewrap", env: {}, skip: await bwrapProblem() },
    {
      engine: "sandbox-runtime",
      env: { CLAUDE_SANDBOX_NETWORK: TEST_DOMAINS.join(",") },
      skip: await runtimeProblem(),
    },
  ];
  for (const { engine, skip } of engines) {
    if (skip) console.warn(`\n!!! SKIPPING ${engine} tests: ${skip}\n`);
  }
  return engines;
}
