// Named system prompts: a few built-ins plus the user's own in DATA_DIR/personas.json.
import { join } from "node:path";
import { z } from "zod";

/** A named system prompt. */
export interface Persona {
  name: string;
  prompt: string;
}

/** Personas every installation has; personas.json may override them. */
export const BUILT_IN_PERSONAS: readonly Persona[] = [
  {
    name: "reviewer",
    prompt:
      "You are a meticulous code reviewer. Lead with bugs, security risks " +
      "and unclear code, then smaller suggestions. Be terse.",
  },
  {
    name: "architect",
    prompt: "You are a pragmatic software architect. Before changing code, " +
      "state the trade-offs briefly and propose a short plan.",
  },
  {
    name: "mobile",
    prompt: "The user reads your answers on a phone. Keep answers short, " +
      "use small code blocks and avoid wide tables.",
  },
  {
    name: "teacher",
    prompt: "You are a patient teacher. Explain what you do and why, " +
      "step by step, and check the user's understanding.",
  },
];

const personasFileSchema = z.record(
  z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  z.string().min(1),
);

/** personas.json exists but is not a `{ "name": "prompt" }` object. */
export class PersonasFileError extends Error {
  override name = "PersonasFileError";
  /** The personas.json that was refused. */
  readonly path: string;
  /**
   * @param path the personas.json that was refused
   * @param cause why: a read error, a SyntaxError or a ZodError
   */
  constructor(path: string, cause: unknown) {
    super(`Cannot read personas from "${path}": ${describe(cause)}`, {
      cause,
    });
    this.path = path;
  }
}

/** One line per problem, naming the persona, instead of zod's JSON dump. */
function describe(cause: unknown): string {
  if (cause instanceof z.ZodError) {
    return cause.issues.map((issue) =>
      issue.path.length === 0
        ? issue.message
        : `"${issue.path.join(".")}": ${issue.message}`
    ).join("; ");
  }
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Loads built-in and user personas (DATA_DIR/personas.json: `{"name": "prompt"}`).
 * @throws {PersonasFileError} when the file exists but is invalid
 */
export async function loadPersonas(dataDir: string): Promise<Persona[]> {
  const path = join(dataDir, "personas.json");
  const byName = builtInsByName();
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return sortByName(byName);
    throw new PersonasFileError(path, error);
  }
  try {
    const parsed = personasFileSchema.parse(JSON.parse(text));
    for (const [name, prompt] of Object.entries(parsed)) {
      byName.set(name, { name, prompt });
    }
  } catch (error) {
    throw new PersonasFileError(path, error);
  }
  return sortByName(byName);
}

/** The personas to start with, and why the user's file was left out. */
export interface LoadedPersonas {
  personas: Persona[];
  /** Set when personas.json is invalid: the built-ins alone are in use. */
  problem?: PersonasFileError;
}

/**
 * Loads the personas for start-up: an invalid personas.json must not keep
 * the bot from starting, so it falls back to the built-ins and returns the
 * error (naming the file) for the log.
 */
export async function loadPersonasOrBuiltIns(
  dataDir: string,
): Promise<LoadedPersonas> {
  try {
    return { personas: await loadPersonas(dataDir) };
  } catch (error) {
    if (!(error instanceof PersonasFileError)) throw error;
    return { personas: sortByName(builtInsByName()), problem: error };
  }
}

function builtInsByName(): Map<string, Persona> {
  return new Map(BUILT_IN_PERSONAS.map((p) => [p.name, p]));
}

/** One order whether or not personas.json exists, so /personas lists stay stable. */
function sortByName(byName: Map<string, Persona>): Persona[] {
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Resolves what the user typed after `/new <name>` or `/persona`: a defined
 * persona's name, or else free text used as the system prompt itself.
 * Returns undefined for a single unknown word (most likely a typo).
 */
export function resolvePersona(
  personas: readonly Persona[],
  text: string,
): { name?: string; prompt: string } | undefined {
  const trimmed = text.trim();
  const named = personas.find((p) => p.name === trimmed);
  if (named) return named;
  return /\s/.test(trimmed) ? { prompt: trimmed } : undefined;
}
