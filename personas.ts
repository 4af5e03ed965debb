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
  constructor(path: string, cause: unknown) {
    super(`Cannot read personas from "${path}": ${cause}`, { cause });
  }
}

/**
 * Loads built-in and user personas (DATA_DIR/personas.json: `{"name": "prompt"}`).
 * @throws {PersonasFileError} when the file exists but is invalid
 */
export async function loadPersonas(dataDir: string): Promise<Persona[]> {
  const path = join(dataDir, "personas.json");
  const byName = new Map(BUILT_IN_PERSONAS.map((p) => [p.name, p]));
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
