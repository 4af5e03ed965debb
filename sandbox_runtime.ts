// The sandbox with a network allow-list (CLAUDE_SANDBOX_NETWORK): Anthropic's
// sandbox-runtime (`srt`) runs Claude in bubblewrap without a network of its
// own, and lets it out only through srt's proxy, which admits the listed
// domains. The filesystem rules are those of sandbox_bwrap.ts, in srt's terms.

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isWithin } from "./paths.ts";
import {
  SANDBOX_PROBE_TIMEOUT_MS,
  SandboxSetupError,
  type SandboxSpec,
} from "./sandbox_spec.ts";
import { runCommand, type SpawnFn } from "./spawner.ts";
import type { CommandLine, CommandWrapper } from "./subprocess.ts";

/**
 * srt's command-line entry, installed by `npm ci` in tools/sandbox-runtime
 * (pinned there); a node script, so `node` must be on PATH.
 */
export const SANDBOX_RUNTIME_BIN = fileURLToPath(
  new URL(
    "./tools/sandbox-runtime/node_modules/@anthropic-ai/sandbox-runtime/dist/cli.js",
    import.meta.url,
  ),
);

/** How to install what srt needs, for messages. */
export const SANDBOX_RUNTIME_INSTALL =
  "apt-get install bubblewrap socat ripgrep, Node.js on PATH, and " +
  "`npm ci` in tools/sandbox-runtime";

/** The paths of one session's srt sandbox (the network list aside). */
export type RuntimeSandboxPaths = Omit<SandboxSpec, "network" | "readable">;

/** srt's settings file (the subset the bot writes). */
export interface RuntimeSettings {
  network: {
    allowedDomains: string[];
    deniedDomains: string[];
    /** Never ask: a domain not listed is refused. */
    strictAllowlist: true;
  };
  filesystem: {
    denyRead: string[];
    allowRead: string[];
    allowWrite: string[];
    denyWrite: string[];
  };
}

/**
 * Where the bot keeps one session's srt files, inside DATA_DIR (which the
 * sandbox hides): the settings file and the session's private temp folder.
 * Named by a short hash of the upload folder, which no two sessions share (a
 * working dir can be: two sessions on one repository); short, because unix
 * sockets that tools make in TMPDIR have a 108-byte path limit.
 */
export function runtimeFiles(
  paths: Pick<RuntimeSandboxPaths, "dataDir" | "uploadDir">,
): { settings: string; tmpDir: string } {
  const key = shortHash(paths.uploadDir);
  return {
    settings: join(runtimeDir(paths.dataDir), `${key}.json`),
    tmpDir: join(runtimeDir(paths.dataDir), "tmp", key),
  };
}

/**
 * Removes every session's temp folder: at start, before any srt runs, so an
 * archived or renamed session leaves nothing behind for long.
 * @throws {SandboxSetupError} when one cannot be removed
 */
export function clearRuntimeTemp(dataDir: string): void {
  removeTree(join(runtimeDir(dataDir), "tmp"));
}

function runtimeDir(dataDir: string): string {
  return join(dataDir, "sandbox");
}

/**
 * 56 bits of cyrb53 (a well-known non-cryptographic string hash) in hex:
 * enough to keep a handful of sessions' names apart, with no `node:crypto`
 * (1 MB resident) for it.
 */
function shortHash(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^
    Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^
    Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16)
    .padStart(14, "0");
}

/**
 * The settings for one session: DATA_DIR, the bot's `.env` and the hidden
 * paths unreadable, the session's folders (and its temp folder) readable
 * again inside DATA_DIR and writable with Claude's config and
 * CLAUDE_SANDBOX_WRITABLE (except inside DATA_DIR); the rest read-only. The
 * network: only `domains`, through srt's proxy.
 */
export function runtimeSettings(
  paths: RuntimeSandboxPaths,
  domains: readonly string[],
): RuntimeSettings {
  const { tmpDir } = runtimeFiles(paths);
  const own = [paths.workDir, paths.uploadDir, tmpDir];
  const config = [
    paths.claudeConfig.dir,
    ...(paths.claudeConfig.file ? [paths.claudeConfig.file] : []),
  ];
  const writable = paths.writable.filter((path) =>
    !isWithin(path, paths.dataDir)
  );
  return {
    network: networkSettings(domains),
    filesystem: {
      denyRead: [paths.dataDir, join(paths.botDir, ".env"), ...paths.hide],
      allowRead: own,
      allowWrite: [...new Set([...own, ...config, ...writable])],
      denyWrite: [],
    },
  };
}

/** Only `domains`, and never a question (srt could ask a callback). */
function networkSettings(
  domains: readonly string[],
): RuntimeSettings["network"] {
  return {
    allowedDomains: [...domains],
    deniedDomains: [],
    strictAllowlist: true,
  };
}

/**
 * The srt command line for `command`. Inside, `env` points TMPDIR at the
 * session's temp folder (srt leaves /tmp read-only) and drops NO_PROXY:
 * there is no network but the proxy, so every connection goes to it and the
 * allow-list decides (srt's NO_PROXY would send private addresses nowhere).
 */
export function runtimeCommand(
  command: CommandLine,
  files: { settings: string; tmpDir: string },
): CommandLine {
  return {
    bin: SANDBOX_RUNTIME_BIN,
    args: [
      "--settings",
      files.settings,
      "--",
      "env",
      "-u",
      "NO_PROXY",
      "-u",
      "no_proxy",
      `TMPDIR=${files.tmpDir}`,
      command.bin,
      ...command.args,
    ],
  };
}

/**
 * Returns a CommandWrapper into srt for one session: each call writes its
 * settings and empties its temp folder (a fresh one per process, as a
 * private /tmp would be), then builds the command line.
 * @throws {SandboxSetupError} (from the wrapper) when a file cannot be written
 */
export function runtimeWrapper(
  paths: RuntimeSandboxPaths,
  domains: readonly string[],
): CommandWrapper {
  return (command) => {
    const files = runtimeFiles(paths);
    writeSettings(files.settings, runtimeSettings(paths, domains));
    emptyFolder(files.tmpDir);
    return runtimeCommand(command, files);
  };
}

/** Runs `srt … true` with the allow-list; its refusal, if any, in one line. */
export async function runtimeProbeProblem(
  spawn: SpawnFn,
  network: { domains: readonly string[]; dataDir: string },
): Promise<string | undefined> {
  const settings = join(runtimeDir(network.dataDir), "probe.json");
  try {
    writeSettings(settings, {
      network: networkSettings(network.domains),
      filesystem: {
        denyRead: [],
        allowRead: [],
        allowWrite: [],
        denyWrite: [],
      },
    });
    const { code, stderr } = await runCommand(spawn, SANDBOX_RUNTIME_BIN, {
      args: ["--settings", settings, "--", "true"],
      timeoutMs: SANDBOX_PROBE_TIMEOUT_MS,
    });
    if (code === 0) return undefined;
    const said = stderr.trim().split("\n").filter(Boolean).join("; ");
    return `sandbox-runtime (srt) cannot run for CLAUDE_SANDBOX_NETWORK ` +
      `(exit code ${code}: ${said || "no message"}); it needs ` +
      SANDBOX_RUNTIME_INSTALL;
  } catch (error) {
    if (error instanceof SandboxSetupError) return error.message;
    if (error instanceof Deno.errors.NotFound) {
      return `sandbox-runtime (srt) is not installed, and ` +
        `CLAUDE_SANDBOX_NETWORK needs it: ${SANDBOX_RUNTIME_INSTALL}`;
    }
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) {
      return `the bot may not run ${SANDBOX_RUNTIME_BIN}: add it to --allow-run`;
    }
    throw error;
  }
}

/**
 * Writes an srt settings file (owner-only, in a folder the sandbox hides).
 * @throws {SandboxSetupError} when it cannot be written
 */
function writeSettings(path: string, settings: RuntimeSettings): void {
  try {
    Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    Deno.writeTextFileSync(path, JSON.stringify(settings, null, 2), {
      mode: 0o600,
    });
  } catch (error) {
    throw new SandboxSetupError(path, String(error), { cause: error });
  }
}

/**
 * Makes `dir` an empty folder: a session's temp folder starts fresh with
 * each process, as a private /tmp does.
 * @throws {SandboxSetupError} when it cannot be emptied or created
 */
function emptyFolder(dir: string): void {
  removeTree(dir);
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new SandboxSetupError(dir, String(error), { cause: error });
  }
}

/**
 * Removes `dir` and what is in it, if it is there. Claude ran as the bot's
 * user and may have left a folder without write permission (`chmod 500`):
 * such folders are made writable again and the removal retried once.
 * @throws {SandboxSetupError} when it cannot be removed
 */
function removeTree(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    if (!(error instanceof Deno.errors.PermissionDenied)) {
      throw new SandboxSetupError(dir, String(error), { cause: error });
    }
    try {
      makeWritable(dir);
      Deno.removeSync(dir, { recursive: true });
    } catch (retryError) {
      throw new SandboxSetupError(dir, String(retryError), {
        cause: retryError,
      });
    }
  }
}

/** Gives the owner full access to `dir` and every folder below it. */
function makeWritable(dir: string): void {
  Deno.chmodSync(dir, 0o700);
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isDirectory) makeWritable(join(dir, entry.name));
  }
}
