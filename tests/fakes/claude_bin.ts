// Writes the fake `claude` executable that tests and benchmarks spawn: a shell
// wrapper that execs Deno on fake_claude.ts, as a real install's wrapper
// execs the real CLI (so the pid we spawn is the pid that speaks).

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const FAKE_CLAUDE_PATH = fileURLToPath(
  new URL("./fake_claude.ts", import.meta.url),
);

/**
 * Writes an executable `claude` wrapper script into `dir` that execs Deno on
 * fake_claude.ts (like a real wrapper that execs the real CLI) and returns its
 * absolute path.
 */
export async function createFakeClaudeBin(dir: string): Promise<string> {
  const binPath = resolve(dir, "claude");
  const script = [
    "#!/bin/sh",
    `exec ${shellQuote(Deno.execPath())} run --quiet --no-config --no-lock ` +
    `--allow-all ${shellQuote(FAKE_CLAUDE_PATH)} "$@"`,
    "",
  ].join("\n");
  await Deno.writeTextFile(binPath, script);
  // writeTextFile's `mode` is filtered by the umask; chmod is exact.
  await Deno.chmod(binPath, 0o755);
  return binPath;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
