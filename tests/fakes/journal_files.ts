// Reads a live bot's inbound journal from disk without touching it (loading
// an InboundJournal would clean temp files and move entries the bot is
// writing), for tests that wait for an entry's state.
import { join } from "node:path";
import type { JournalEntry } from "../../journal.ts";

/** Every entry under DATA_DIR/journal, oldest first; [] before the bot started. */
export async function readJournal(dataDir: string): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = [];
  const dir = join(dataDir, "journal");
  try {
    // One folder per chat; half-written temp files end in ".tmp-<uuid>" and
    // renames are atomic, so every .json file is whole.
    for await (const chat of Deno.readDir(dir)) {
      if (!chat.isDirectory || chat.name === "quarantine") continue;
      for await (const file of Deno.readDir(join(dir, chat.name))) {
        if (!file.name.endsWith(".json")) continue;
        const path = join(dir, chat.name, file.name);
        entries.push(JSON.parse(await Deno.readTextFile(path)));
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return entries.sort((a, b) => a.id - b.id);
}
