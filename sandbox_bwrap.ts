// The bubblewrap engine: the whole filesystem read-only, the session's
// folders writable, the bot's state and secrets masked, and a pid namespace
// of its own, so nothing Claude or its tools run can reach the bot. The
// network stays the host's.

import { dirname, isAbsolute, join, sep } from "node:path";
import { isBelow } from "./paths.ts";
import {
  SANDBOX_PROBE_TIMEOUT_MS,
  SandboxSetupError,
  type SandboxSpec,
} from "./sandbox_spec.ts";
import { runCommand, type SpawnFn } from "./spawner.ts";
import type { CommandLine } from "./subprocess.ts";

/** The program that runs the sandbox; it needs a place in `--allow-run`. */
export const SANDBOX_BIN = "bwrap";

/** What Debian and Ubuntu call the package that brings {@linkcode SANDBOX_BIN}. */
const SANDBOX_PACKAGE = "bubblewrap";

/**
 * Why bwrap cannot create the sandbox here (one line naming what to install
 * or change), or undefined when it can.
 */
export async function bwrapProbeProblem(
  spawn: SpawnFn,
): Promise<string | undefined> {
  const probe = [...namespaceArgs(), ...baseMountArgs(), "--", "true"];
  try {
    const { code, stderr } = await runCommand(spawn, SANDBOX_BIN, {
      args: probe,
      timeoutMs: SANDBOX_PROBE_TIMEOUT_MS,
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

/** What a path is on disk, followed through symlinks. */
export type PathInfo =
  | { kind: "missing" }
  | { kind: "dir" | "file"; realPath: string };

/** Looks a path up on disk; the real one is {@linkcode probeDisk}. */
export type PathProbe = (path: string) => PathInfo;

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

function unique(paths: string[]): string[] {
  return [...new Set(paths)];
}

/** Shallow first, so a nested bind lands on top of its parent's. */
function byDepth(a: string, b: string): number {
  return a.split(sep).length - b.split(sep).length || a.localeCompare(b);
}
