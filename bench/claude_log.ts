// Reads the fake claude's FAKE_CLAUDE_LOG (with FAKE_CLAUDE_LOG_TIMES=1): when
// each process started, when each user line reached its stdin, when each
// result left it.

/** A user message as the fake claude received it. */
export interface LoggedInput {
  pid: number;
  /** Receipt time, epoch ms. */
  t: number;
  /** The message text (string content) or its JSON. */
  text: string;
}

/** A `result` line as the fake claude emitted it. */
export interface LoggedResult {
  pid: number;
  /** Emission time, epoch ms. */
  t: number;
  subtype: string;
}

/** The timed events of one log, oldest first. */
export interface ClaudeLog {
  /** The processes that started, with their working directories. */
  starts: { pid: number; cwd: string }[];
  inputs: LoggedInput[];
  results: LoggedResult[];
}

/** Parses the log file; a missing file is an empty log. */
export async function readClaudeLog(path: string): Promise<ClaudeLog> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const log: ClaudeLog = { starts: [], inputs: [], results: [] };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const entry = JSON.parse(line);
    if ("argv" in entry) log.starts.push({ pid: entry.pid, cwd: entry.cwd });
    else if ("result" in entry) {
      log.results.push({ pid: entry.pid, t: entry.t, subtype: entry.result });
    } else if (entry.stdin?.type === "user") {
      const content = entry.stdin.message?.content;
      log.inputs.push({
        pid: entry.pid,
        t: entry.t,
        text: typeof content === "string" ? content : JSON.stringify(content),
      });
    }
  }
  return log;
}
