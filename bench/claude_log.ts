// Reads the fake claude's FAKE_CLAUDE_LOG (with FAKE_CLAUDE_LOG_TIMES=1): when
// each process started, when each user line reached its stdin, when each
// text delta and each result left it.

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

/** A text delta as the fake claude emitted it. */
export interface LoggedDelta {
  pid: number;
  /** Emission time, epoch ms. */
  t: number;
  /** Its length in characters. */
  chars: number;
  /** Index of its content block in the message. */
  block: number;
}

/** The timed events of one log, oldest first. */
export interface ClaudeLog {
  /** The processes that started, with their working directories and start times (epoch ms). */
  starts: { pid: number; cwd: string; t: number }[];
  inputs: LoggedInput[];
  deltas: LoggedDelta[];
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
  const log: ClaudeLog = { starts: [], inputs: [], deltas: [], results: [] };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const entry = JSON.parse(line);
    if ("argv" in entry) {
      log.starts.push({ pid: entry.pid, cwd: entry.cwd, t: entry.t });
    } else if ("delta" in entry) {
      log.deltas.push({
        pid: entry.pid,
        t: entry.t,
        chars: entry.delta,
        block: entry.block,
      });
    } else if ("result" in entry) {
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
