// Where one absolute path lies relative to another, by their names only
// (no disk access: resolve symlinks first where they matter).
import { isAbsolute, relative, sep } from "node:path";

/** Whether `path` is `dir` or lies below it (both absolute and normalised). */
export function isWithin(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Whether `path` lies below `dir`, not `dir` itself. */
export function isBelow(path: string, dir: string): boolean {
  return relative(dir, path) !== "" && isWithin(path, dir);
}
