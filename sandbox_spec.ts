// What a sandbox is for the bot, whichever engine runs it: the modes and
// status, its errors, one session's paths (SandboxSpec) and the folders made
// before Claude starts in it.

import { isAbsolute, join, resolve } from "node:path";

/** CLAUDE_SANDBOX: `auto` uses the sandbox when it works, `on` requires it, `off` never uses it. */
export type SandboxMode = "auto" | "on" | "off";

/** Bounds an engine's start-up probe, which runs `true` in well under a second. */
export const SANDBOX_PROBE_TIMEOUT_MS = 10_000;

/**
 * The program behind the sandbox: bubblewrap itself, or sandbox-runtime
 * (srt, over bubblewrap) when the network is restricted.
 */
export type SandboxEngine = "bubblewrap" | "sandbox-runtime";

/** Whether Claude runs sandboxed, and if not, why. */
export type SandboxStatus =
  | { isActive: true; engine: SandboxEngine }
  | {
    isActive: false;
    /** `off`: CLAUDE_SANDBOX=off; `unavailable`: auto mode without a working engine. */
    reason: "off" | "unavailable";
    /** For `unavailable`: one line saying what is missing and what to install. */
    problem?: string;
  };

/** The sandbox the configuration asks for cannot run here (CLAUDE_SANDBOX=on, or CLAUDE_SANDBOX_NETWORK). */
export class SandboxUnavailableError extends Error {
  override name = "SandboxUnavailableError";
  /** What is missing, and what to install or change. */
  readonly problem: string;
  /** @param problem what is missing, and what to install or change */
  constructor(problem: string) {
    super(`Cannot start Claude's sandbox: ${problem}`);
    this.problem = problem;
  }
}

/** A sandbox for one session cannot be set up (a path it needs is unusable). */
export class SandboxSetupError extends Error {
  override name = "SandboxSetupError";
  /** The path that could not be prepared or inspected. */
  readonly path: string;
  /**
   * @param path the path that could not be used
   * @param detail what went wrong, for the log
   */
  constructor(path: string, detail: string, options?: ErrorOptions) {
    super(`Cannot set up the sandbox at "${path}": ${detail}`, options);
    this.path = path;
  }
}

/** Where Claude keeps its sessions and credentials. */
export interface ClaudeConfigPaths {
  /** CLAUDE_CONFIG_DIR, or ~/.claude */
  dir: string;
  /** ~/.claude.json; undefined with CLAUDE_CONFIG_DIR, which keeps it inside `dir` */
  file?: string;
}

/**
 * Claude's config paths for the environment Claude runs with.
 * @throws {SandboxSetupError} when neither CLAUDE_CONFIG_DIR nor HOME is an absolute path
 */
export function claudeConfigPaths(
  env: Record<string, string | undefined>,
): ClaudeConfigPaths {
  const configDir = env.CLAUDE_CONFIG_DIR;
  if (configDir && isAbsolute(configDir)) return { dir: configDir };
  const home = env.HOME;
  if (!home || !isAbsolute(home)) {
    throw new SandboxSetupError(
      home ?? "HOME",
      "HOME is not an absolute path, so Claude's config dir is unknown",
    );
  }
  return { dir: join(home, ".claude"), file: join(home, ".claude.json") };
}

/** What one session's sandbox lets Claude reach. All paths are absolute. */
export interface SandboxSpec {
  /** The session's working dir: read-write. */
  workDir: string;
  /** The session's upload folder: read-write (created when missing). */
  uploadDir: string;
  /** Claude's config (created when missing: the CLI cannot create it in a read-only HOME). */
  claudeConfig: ClaudeConfigPaths;
  /** DATA_DIR: hidden, except `workDir` and `uploadDir` when they are inside it. */
  dataDir: string;
  /** The bot's own folder: its `.env` is hidden. */
  botDir: string;
  /** CLAUDE_SANDBOX_WRITABLE: read-write too, except inside DATA_DIR (which stays hidden). */
  writable: readonly string[];
  /** CLAUDE_SANDBOX_HIDE: masked (an empty folder, or an empty file). */
  hide: readonly string[];
  /**
   * Folders to keep visible, read-only, when they lie under the host's /tmp,
   * which the sandbox replaces with a private one (the bot's own code).
   */
  readable?: readonly string[];
  /**
   * CLAUDE_SANDBOX_NETWORK: when it lists domains, sandbox-runtime runs the
   * sandbox and Claude reaches only those.
   */
  network?: readonly string[];
}

export function checkSpec(spec: SandboxSpec): void {
  const paths = [
    spec.workDir,
    spec.uploadDir,
    spec.dataDir,
    spec.botDir,
    spec.claudeConfig.dir,
    ...(spec.claudeConfig.file ? [spec.claudeConfig.file] : []),
    ...spec.writable,
    ...spec.hide,
  ];
  const relativePath = paths.find((path) => !isAbsolute(path));
  if (relativePath !== undefined) {
    throw new TypeError(
      `Cannot build a sandbox: "${relativePath}" is not an absolute path`,
    );
  }
  for (const path of [spec.workDir, spec.uploadDir]) {
    if (resolve(path) === resolve(spec.dataDir)) {
      throw new TypeError(
        `Cannot build a sandbox: "${path}" is DATA_DIR itself`,
      );
    }
  }
}

/**
 * Creates the session's folders and Claude's config when missing: bwrap can
 * bind only what exists, and Claude cannot create them in a read-only HOME.
 * An empty ~/.claude.json is what the CLI writes on its first start.
 * @throws {SandboxSetupError} when one cannot be created
 */
export function prepareFolders(spec: SandboxSpec): void {
  const { dir, file } = spec.claudeConfig;
  for (const path of [spec.workDir, spec.uploadDir, dir]) {
    try {
      Deno.mkdirSync(path, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new SandboxSetupError(path, String(error), { cause: error });
    }
  }
  if (file === undefined) return;
  // Its folder, HOME, exists: making ~/.claude above made it if need be (the
  // bot may write only Claude's two paths, not HOME itself).
  try {
    Deno.writeTextFileSync(file, "{}\n", { createNew: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    throw new SandboxSetupError(file, String(error), { cause: error });
  }
}
