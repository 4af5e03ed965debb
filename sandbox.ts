// Runs Claude inside a bubblewrap sandbox: the whole filesystem read-only,
// its own folders writable, the bot's state and secrets masked, and a pid
// namespace of its own, so nothing Claude or its tools run can reach the bot.
// With a network allow-list, Anthropic's sandbox-runtime runs it instead
// (sandbox_runtime.ts), with the same filesystem rules.
// It only rewrites the command line; the marker, stop and reaper are as they were.

import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import { isBelow } from "./paths.ts";
import { runCommand, type SpawnFn } from "./spawner.ts";
import type { CommandLine, CommandWrapper } from "./subprocess.ts";
import {
  runtimeCommand,
  runtimeFiles,
  type RuntimeSettings,
  runtimeSettings,
  SANDBOX_RUNTIME_BIN,
  SANDBOX_RUNTIME_INSTALL,
} from "./sandbox_runtime.ts";

/** CLAUDE_SANDBOX: `auto` uses the sandbox when it works, `on` requires it, `off` never uses it. */
export type SandboxMode = "auto" | "on" | "off";

/** The program that runs the sandbox; it needs a place in `--allow-run`. */
export const SANDBOX_BIN = "bwrap";

/** What Debian and Ubuntu call the package that brings {@linkcode SANDBOX_BIN}. */
const SANDBOX_PACKAGE = "bubblewrap";

/** Bounds the start-up probe; bwrap runs `true` in a few milliseconds. */
const PROBE_TIMEOUT_MS = 10_000;

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

/**
 * Finds out whether the sandbox can run, by running `bwrap … true` once with
 * the namespaces Claude will get (a missing package, a kernel or AppArmor that
 * refuses user namespaces, and a Deno without `--allow-run=bwrap` all show here).
 * With `network`, srt runs `true` instead, under those domains.
 * @param options.network CLAUDE_SANDBOX_NETWORK: the domains Claude may
 *   reach. A list is a demand: when srt cannot run, or CLAUDE_SANDBOX is
 *   off, the start is refused in every mode rather than leave the network open
 * @param options.dataDir where srt's settings files go (needed with `network`)
 * @throws {SandboxUnavailableError} in `on` mode when it cannot run, and
 *   whenever `network` lists a domain the sandbox cannot enforce
 */
export async function detectSandbox(
  mode: SandboxMode,
  options: { spawn: SpawnFn; network?: readonly string[]; dataDir?: string },
): Promise<SandboxStatus> {
  const { network = [] } = options;
  if (network.length > 0) {
    if (mode === "off") {
      throw new SandboxUnavailableError(
        "CLAUDE_SANDBOX_NETWORK restricts the sandbox's network, but " +
          "CLAUDE_SANDBOX is off: set it to auto or on, or unset " +
          "CLAUDE_SANDBOX_NETWORK",
      );
    }
    if (options.dataDir === undefined) {
      throw new TypeError("detectSandbox() needs dataDir with a network list");
    }
    const problem = await runtimeProbeProblem(options.spawn, {
      network,
      dataDir: options.dataDir,
    });
    if (problem !== undefined) throw new SandboxUnavailableError(problem);
    return { isActive: true, engine: "sandbox-runtime" };
  }
  if (mode === "off") return { isActive: false, reason: "off" };
  const problem = await probeProblem(options.spawn);
  if (problem === undefined) return { isActive: true, engine: "bubblewrap" };
  if (mode === "on") throw new SandboxUnavailableError(problem);
  return { isActive: false, reason: "unavailable", problem };
}

/** Runs `srt … true` with the allow-list; its refusal, if any, in one line. */
async function runtimeProbeProblem(
  spawn: SpawnFn,
  options: { network: readonly string[]; dataDir: string },
): Promise<string | undefined> {
  const settings = join(options.dataDir, "sandbox", "probe.json");
  try {
    writeSettings(settings, {
      network: {
        allowedDomains: [...options.network],
        deniedDomains: [],
        strictAllowlist: true,
      },
      filesystem: {
        denyRead: [],
        allowRead: [],
        allowWrite: [],
        denyWrite: [],
      },
    });
    const { code, stderr } = await runCommand(spawn, SANDBOX_RUNTIME_BIN, {
      args: ["--settings", settings, "--", "true"],
      timeoutMs: PROBE_TIMEOUT_MS,
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

async function probeProblem(spawn: SpawnFn): Promise<string | undefined> {
  const probe = [...namespaceArgs(), ...baseMountArgs(), "--", "true"];
  try {
    const { code, stderr } = await runCommand(spawn, SANDBOX_BIN, {
      args: probe,
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    if (code === 0) return undefined;
    return `${SANDBOX_BIN} cannot create the sandbox (exit code ${code}: ` +
      `${stderr.trim() || "no message"}); user namespaces may be disabled ` +
      `(sysctl kernel.unprivileged_userns_clone, or AppArmor's ` +
      `kernel.apparmor_restrict_unprivileged_userns on Ubuntu 24.04)`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `${SANDBOX_BIN} is not installed: install the ` +
        `"${SANDBOX_PACKAGE}" package (apt-get install ${SANDBOX_PACKAGE})`;
    }
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) {
      return `the bot may not run ${SANDBOX_BIN}: add it to --allow-run`;
    }
    throw error;
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

/** What a path is on disk, followed through symlinks. */
export type PathInfo =
  | { kind: "missing" }
  | { kind: "dir" | "file"; realPath: string };

/** Looks a path up on disk; the real one is {@linkcode probeDisk}. */
export type PathProbe = (path: string) => PathInfo;

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
    return (command) => {
      prepareFolders(spec);
      const files = runtimeFiles(spec);
      writeSettings(files.settings, runtimeSettings(spec, network));
      emptyFolder(files.tmpDir);
      return runtimeCommand(command, files);
    };
  }
  return (command) => {
    prepareFolders(spec);
    return sandboxCommand(spec, command, probeDisk);
  };
}

/**
 * The bwrap command line for `command` under `spec`, with paths looked up by
 * `probe`. Mounts apply in order, so the layers go from widest to strongest:
 * read-only `/`, then read-write binds, then DATA_DIR masked with the
 * session's folders bound again, then the masks of secrets, which win over
 * every bind.
 */
export function sandboxCommand(
  spec: SandboxSpec,
  command: CommandLine,
  probe: PathProbe,
): CommandLine {
  const real = (path: string) => {
    const info = probe(path);
    return info.kind === "missing" ? undefined : info;
  };
  const args = [...namespaceArgs(), ...baseMountArgs()];
  // The program (its folder, and its real one behind a symlink) and the
  // `readable` folders stay reachable when they live under the private /tmp.
  // Only a program there is looked up (the bot may read CLAUDE_BIN, not the
  // folders around it); folders are bound by name, bwrap follows symlinks.
  const bin = isAbsolute(command.bin) && isBelow(command.bin, "/tmp")
    ? real(command.bin)
    : undefined;
  const visible = unique([
    ...(bin ? [dirname(command.bin), dirname(bin.realPath)] : []),
    ...(spec.readable ?? []),
  ]).filter((path) => isBelow(path, "/tmp"));
  for (const path of visible.sort(byDepth)) args.push("--ro-bind", path, path);
  const sessionPaths = [spec.workDir, spec.uploadDir];
  const writable = unique([
    spec.claudeConfig.dir,
    ...(spec.claudeConfig.file ? [spec.claudeConfig.file] : []),
    ...spec.writable,
    ...sessionPaths,
  ].flatMap((path) => real(path)?.realPath ?? []));
  for (const path of writable.sort(byDepth)) args.push("--bind", path, path);
  const dataDir = real(spec.dataDir);
  if (dataDir !== undefined) {
    args.push("--tmpfs", dataDir.realPath);
    const inside = unique(sessionPaths.flatMap((path) => {
      const found = real(path)?.realPath;
      return found && isBelow(found, dataDir.realPath) ? [found] : [];
    }));
    for (const path of inside.sort(byDepth)) args.push("--bind", path, path);
  }
  for (const path of [join(spec.botDir, ".env"), ...spec.hide]) {
    const found = real(path);
    if (found?.kind === "dir") {
      args.push("--tmpfs", found.realPath, "--remount-ro", found.realPath);
    } else if (found?.kind === "file") {
      args.push("--ro-bind", "/dev/null", found.realPath);
    }
  }
  // Last: a mask inside DATA_DIR needs its mount point made first.
  if (dataDir !== undefined) args.push("--remount-ro", dataDir.realPath);
  args.push("--chdir", spec.workDir, "--", command.bin, ...command.args);
  return { bin: SANDBOX_BIN, args };
}

/**
 * Namespaces and process ties. A pid namespace hides every process outside
 * (the bot, other sessions) from /proc, ps and kill. --die-with-parent: when
 * the bot kills bwrap, everything inside dies with it (the namespace's init
 * takes its members along). --new-session: no controlling terminal to push
 * keystrokes into. --cap-drop ALL: when the bot runs as root, bwrap would
 * otherwise keep root's capabilities inside, enough to unmount the masks.
 */
function namespaceArgs(): string[] {
  return [
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--unshare-ipc",
    "--cap-drop",
    "ALL",
  ];
}

/** Read-only `/`, a minimal /dev, a /proc of the new pid namespace, a private /tmp. */
function baseMountArgs(): string[] {
  return [
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
  ];
}

/** The real PathProbe: follows symlinks, so a mask covers what the path leads to. */
export function probeDisk(path: string): PathInfo {
  try {
    const realPath = Deno.realPathSync(path);
    const kind = Deno.statSync(realPath).isDirectory ? "dir" : "file";
    return { kind, realPath };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "missing" };
    throw new SandboxSetupError(path, String(error), { cause: error });
  }
}

function checkSpec(spec: SandboxSpec): void {
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
function prepareFolders(spec: SandboxSpec): void {
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
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new SandboxSetupError(dir, String(error), { cause: error });
    }
  }
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new SandboxSetupError(dir, String(error), { cause: error });
  }
}

function unique(paths: string[]): string[] {
  return [...new Set(paths)];
}

/** Shallow first, so a nested bind lands on top of its parent's. */
function byDepth(a: string, b: string): number {
  return a.split(sep).length - b.split(sep).length || a.localeCompare(b);
}
