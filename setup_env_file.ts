// The set-up wizard's .env file: reading it, replacing the token and the
// allow-list while keeping every other line, and showing the token masked.
import { join } from "node:path";
import { parseEnv } from "node:util";
import { writeTextFileAtomic } from "./atomic_file.ts";

/** The variables the wizard writes; every other line of .env is kept. */
export const WIZARD_WRITES = [
  "TELEGRAM_BOT_TOKEN",
  "ALLOWED_USER_IDS",
] as const;

/** The name of the file the wizard writes, in the directory it is given. */
const ENV_FILE_NAME = ".env";

/** `NAME=` or `export NAME =` at the start of a line, as parseEnv reads it. */
const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/;

/**
 * The .env text with each of `values` set: the first line assigning it is
 * replaced, later ones are dropped (the last would win), a missing one is
 * appended. Other lines, comments included, stay as they were.
 * @param text the current file, or undefined when there is none
 */
export function updateEnvText(
  text: string | undefined,
  values: Readonly<Record<string, string>>,
): string {
  const pending = new Map(Object.entries(values));
  const written = new Set<string>();
  const lines: string[] = [];
  for (const line of (text ?? "").split("\n")) {
    const name = ASSIGNMENT.exec(line)?.[1];
    if (name !== undefined && values[name] !== undefined) {
      if (!written.has(name)) lines.push(`${name}=${values[name]}`);
      written.add(name);
      pending.delete(name);
    } else {
      lines.push(line);
    }
  }
  while (lines.length > 0 && lines.at(-1) === "") lines.pop();
  for (const [name, value] of pending) lines.push(`${name}=${value}`);
  return `${lines.join("\n")}\n`;
}

/** The variables a .env text defines (values as Deno's --env-file reads them). */
export function envFileValues(
  text: string | undefined,
): Record<string, string> {
  if (text === undefined) return {};
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/**
 * ALLOWED_USER_IDS with `userId` first, then the ids already listed (minus
 * duplicates and entries that are not numeric ids, which the bot refuses).
 */
export function pairedUserIds(
  existing: string | undefined,
  userId: number,
): string {
  const others = (existing ?? "").split(",").map((id) => id.trim())
    .filter((id) => /^-?\d{1,20}$/.test(id) && Number(id) !== userId);
  return [String(userId), ...new Set(others)].join(",");
}

/** The token with its secret part hidden: `123456:AB…yz`. */
export function maskToken(token: string): string {
  const colon = token.indexOf(":");
  const secret = colon === -1 ? token : token.slice(colon + 1);
  const id = colon === -1 ? "" : token.slice(0, colon + 1);
  // Too short to show ends without giving most of it away.
  if (secret.length < 8) return `${id}…`;
  return `${id}${secret.slice(0, 2)}…${secret.slice(-2)}`;
}

/** Reads `<dir>/.env`; undefined when there is none. */
export async function readEnvFile(dir: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(join(dir, ENV_FILE_NAME));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Sets the token and the allow-list in `<dir>/.env` atomically, mode 0600.
 * @returns the file's path and the lines the wizard wrote, token masked
 * @throws {AtomicWriteError} when the disk refuses
 */
export async function writeWizardEnv(
  dir: string,
  settings: { token: string; userId: number },
): Promise<{ path: string; shown: string[] }> {
  const path = join(dir, ENV_FILE_NAME);
  const text = await readEnvFile(dir);
  const userIds = pairedUserIds(
    envFileValues(text).ALLOWED_USER_IDS,
    settings.userId,
  );
  await writeTextFileAtomic(
    path,
    updateEnvText(text, {
      TELEGRAM_BOT_TOKEN: settings.token,
      ALLOWED_USER_IDS: userIds,
    }),
  );
  return {
    path,
    shown: [
      `TELEGRAM_BOT_TOKEN=${maskToken(settings.token)}`,
      `ALLOWED_USER_IDS=${userIds}`,
    ],
  };
}
