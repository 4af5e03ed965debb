// Finds the user's projects, the git repositories that PROJECTS_DIRS names,
// gives each a unique name, and reads their status for /projects.
import { basename, isAbsolute, join } from "node:path";
import {
  type Git,
  pathExists,
  type RepositoryStatus,
  repositoryStatus,
} from "./git.ts";

/** A git repository the user can open a session in. */
export interface Project {
  /** Unique among projects, case-insensitively; usually the folder name. */
  name: string;
  /** The repository's folder, as found under PROJECTS_DIRS (symlinks kept). */
  path: string;
}

/** Something about PROJECTS_DIRS worth a log line; discovery goes on regardless. */
export type DiscoveryWarning =
  | { kind: "missing"; dir: string }
  | { kind: "not-a-directory"; dir: string }
  | { kind: "unreadable"; dir: string; error: string }
  /** The project could not have its folder name (see {@linkcode discoverProjects}). */
  | { kind: "renamed"; path: string; name: string };

/** A warning as a log line (start-up logs each one and keeps serving). */
export function describeDiscoveryWarning(warning: DiscoveryWarning): string {
  switch (warning.kind) {
    case "missing":
      return `PROJECTS_DIRS entry "${warning.dir}" does not exist; its projects are left out until it does`;
    case "not-a-directory":
      return `PROJECTS_DIRS entry "${warning.dir}" is not a folder; it is skipped`;
    case "unreadable":
      return `Cannot read "${warning.dir}" for projects: ${warning.error}`;
    case "renamed":
      return `Project at "${warning.path}" is called "${warning.name}": its folder name is taken or unusable`;
  }
}

/** The projects found, and what went wrong on the way. */
export interface ProjectDiscovery {
  projects: Project[];
  warnings: DiscoveryWarning[];
}

/**
 * Finds the projects under `dirs` (PROJECTS_DIRS, in order): a listed folder
 * that is a git repository is a project, and so is each direct subfolder
 * that is one (hidden ones, starting with ".", are skipped). A folder is a
 * repository when it has a `.git` entry (a folder, or a file as in a
 * worktree). Never throws for a folder that is missing or unreadable: that
 * becomes a warning.
 *
 * Names: a project is named after its folder, with whitespace and "@"
 * replaced by "-" (they would break `/open <project>@<branch> [name]`).
 * Projects are ordered as PROJECTS_DIRS lists them, a listed folder before
 * its subfolders, subfolders alphabetically. A name belongs to the first
 * project that has it (compared case-insensitively, so `/open` can ignore
 * case); each later one gets the first free `<name>-2`, `<name>-3`, …. A
 * suffix keeps names short to type and free of "/", and the order is in the
 * user's hands: a folder added at the end of PROJECTS_DIRS never renames an
 * existing project. The same repository reached twice is one project.
 * @param dirs absolute folder paths
 * @throws {TypeError} when a path is relative
 */
export async function discoverProjects(
  dirs: readonly string[],
): Promise<ProjectDiscovery> {
  const warnings: DiscoveryWarning[] = [];
  const found: string[] = [];
  for (const dir of dirs) {
    if (!isAbsolute(dir)) {
      throw new TypeError(`Cannot search "${dir}" for projects: not absolute`);
    }
    found.push(...await repositoriesIn(dir, warnings));
  }
  const paths = await withoutDuplicates(found);
  const projects = assignNames(paths, warnings);
  return { projects, warnings };
}

/**
 * The project called `name`: an exact match, else the one whose name matches
 * ignoring case (names are unique that way); undefined when none.
 */
export function findProject(
  projects: readonly Project[],
  name: string,
): Project | undefined {
  return projects.find((project) => project.name === name) ??
    projects.find((project) =>
      project.name.toLowerCase() === name.toLowerCase()
    );
}

/** A project's status, or why it could not be read. */
export type ProjectStatus =
  | { project: Project; status: RepositoryStatus }
  | { project: Project; error: Error };

/** Git commands at once while reading statuses: enough to be quick, few enough for a small host. */
const STATUS_CONCURRENCY = 4;

/**
 * Reads every project's status (branch, clean or dirty, unfinished
 * operation), in the projects' order. A project that fails (moved away,
 * refused by git) gets its error instead; this never throws.
 */
export async function readProjectStatuses(
  git: Git,
  projects: readonly Project[],
): Promise<ProjectStatus[]> {
  const results: ProjectStatus[] = new Array(projects.length);
  let next = 0;
  const worker = async () => {
    while (next < projects.length) {
      const index = next++;
      const project = projects[index];
      try {
        results[index] = {
          project,
          status: await repositoryStatus(git, project.path),
        };
      } catch (error) {
        results[index] = {
          project,
          error: error instanceof Error ? error : new Error(String(error)),
        };
      }
    }
  };
  await Promise.all(
    Array.from(
      { length: Math.min(STATUS_CONCURRENCY, projects.length) },
      worker,
    ),
  );
  return results;
}

/** The repositories among `dir` and its direct subfolders, in naming order. */
async function repositoriesIn(
  dir: string,
  warnings: DiscoveryWarning[],
): Promise<string[]> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      warnings.push({ kind: "not-a-directory", dir });
      return [];
    }
    const found = await isRepository(dir) ? [dir] : [];
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.startsWith(".")) names.push(entry.name);
    }
    // Code-unit order: the same on every host, whatever its locale.
    names.sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
    for (const name of names) {
      const path = join(dir, name);
      try {
        if (await isDirectory(path) && await isRepository(path)) {
          found.push(path);
        }
      } catch (error) {
        // One unreadable subfolder must not hide its siblings.
        warnings.push({ kind: "unreadable", dir: path, error: String(error) });
      }
    }
    return found;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      warnings.push({ kind: "missing", dir });
    } else {
      warnings.push({ kind: "unreadable", dir, error: String(error) });
    }
    return [];
  }
}

/** Drops later paths that resolve to a folder already found (listed twice, or via a symlink). */
async function withoutDuplicates(paths: string[]): Promise<string[]> {
  const seen = new Set<string>();
  const kept: string[] = [];
  for (const path of paths) {
    const real = await Deno.realPath(path).catch(() => path);
    if (seen.has(real)) continue;
    seen.add(real);
    kept.push(path);
  }
  return kept;
}

/** Names each path per the rule in {@linkcode discoverProjects}. */
function assignNames(
  paths: string[],
  warnings: DiscoveryWarning[],
): Project[] {
  const wanted = paths.map((path) =>
    (basename(path) || "root").replace(/[\s@]/g, "-")
  );
  const taken = new Set<string>();
  const names: (string | undefined)[] = wanted.map((name) => {
    const key = name.toLowerCase();
    if (taken.has(key)) return undefined;
    taken.add(key);
    return name;
  });
  return paths.map((path, index) => {
    let name = names[index];
    if (name === undefined) {
      let suffix = 2;
      while (taken.has(`${wanted[index]}-${suffix}`.toLowerCase())) suffix++;
      name = `${wanted[index]}-${suffix}`;
      taken.add(name.toLowerCase());
    }
    if (name !== basename(path)) warnings.push({ kind: "renamed", path, name });
    return { name, path };
  });
}

/** A `.git` folder, or the `.git` file of a worktree or submodule. */
function isRepository(dir: string): Promise<boolean> {
  return pathExists(join(dir, ".git"));
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (error) {
    // A dangling symlink among the subfolders is not a project.
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
