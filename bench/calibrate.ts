// Sets the fake claude's start-up delay from the real CLI: times the pinned
// Claude Code CLI (tools/claude-code) offline against the fake Anthropic API
// when it is installed, else takes claude-cli.md §9 (spawn → first result
// 475 ms), and subtracts the fake's own start-up.
import { join, resolve } from "node:path";
import { TextLineStream } from "../line_stream.ts";
import { userMessageLine } from "../stream_json.ts";
import { STREAM_JSON_ARGS } from "../subprocess.ts";
import { createFakeClaudeBin } from "../tests/fakes/claude_bin.ts";
import { FakeAnthropicApi } from "../tests/fakes/fake_anthropic_api.ts";
import { percentile, round } from "./stats.ts";

/** What the calibration measured and chose, in ms. */
export interface Calibration {
  /** "measured" from the pinned CLI, or "claude-cli.md §9". */
  source: string;
  /** Real CLI: spawn with the message written at once → first `result`. */
  realFirstResultMs: number;
  /** Real CLI: second message written → its `result` (a warm turn). */
  realWarmTurnMs: number;
  /** Fake claude with no delay: spawn → first `result`. */
  fakeFirstResultMs: number;
  /** FAKE_CLAUDE_START_DELAY_MS that makes the fake start like the CLI when its turn takes realWarmTurnMs. */
  startDelayMs: number;
}

const REAL_CLI = resolve(
  import.meta.dirname ?? ".",
  "../tools/claude-code/node_modules/.bin/claude",
);
/** claude-cli.md §9, long-lived: spawn → first result, median of 5. */
const DOCUMENTED_FIRST_RESULT_MS = 475;
/** claude-cli.md §9: warm second turn, write → result, median of 5. */
const DOCUMENTED_WARM_TURN_MS = 19;
const RUN_TIMEOUT_MS = 30_000;

/** Measures `runs` starts of each (medians) and derives the fake's delay. */
export async function calibrate(runs: number): Promise<Calibration> {
  const dir = await Deno.makeTempDir({ prefix: "ct-bench-calibrate-" });
  try {
    const home = join(dir, "home");
    await Deno.mkdir(home);
    const base = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home };
    const fakeBin = await createFakeClaudeBin(dir);
    const fake: number[] = [];
    for (let i = 0; i < runs; i++) {
      fake.push((await timeTurns(fakeBin, dir, base)).firstMs);
    }
    const fakeFirstResultMs = round(percentile(fake, 50));
    let real: { first: number; warm: number } | undefined;
    if (await isFile(REAL_CLI)) {
      await using api = FakeAnthropicApi.start();
      const env = {
        ...base,
        ANTHROPIC_BASE_URL: api.url,
        ANTHROPIC_API_KEY: "sk-dummy",
        DISABLE_TELEMETRY: "1",
        DISABLE_ERROR_REPORTING: "1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      };
      const first: number[] = [];
      const warm: number[] = [];
      for (let i = 0; i < runs; i++) {
        const timing = await timeTurns(REAL_CLI, dir, env);
        first.push(timing.firstMs);
        warm.push(timing.warmMs);
      }
      real = { first: percentile(first, 50), warm: percentile(warm, 50) };
    }
    const realFirstResultMs = round(real?.first ?? DOCUMENTED_FIRST_RESULT_MS);
    const realWarmTurnMs = round(real?.warm ?? DOCUMENTED_WARM_TURN_MS);
    return {
      source: real ? "measured" : "claude-cli.md §9",
      realFirstResultMs,
      realWarmTurnMs,
      fakeFirstResultMs,
      // The fake spends realWarmTurnMs on the turn itself (its stream rate).
      startDelayMs: Math.max(
        0,
        Math.round(realFirstResultMs - fakeFirstResultMs - realWarmTurnMs),
      ),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Spawns `bin`, writes a message at once, then a second after the first result. */
async function timeTurns(
  bin: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ firstMs: number; warmMs: number }> {
  const spawnedAt = performance.now();
  const child = new Deno.Command(bin, {
    args: [...STREAM_JSON_ARGS],
    cwd,
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).spawn();
  const writer = child.stdin.getWriter();
  const encode = (line: string) => new TextEncoder().encode(line + "\n");
  await writer.write(encode(userMessageLine("hello")));
  const results: number[] = [];
  let secondSentAt = 0;
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream());
  for await (const line of lines) {
    if (!line.startsWith('{"type":"result"')) continue;
    results.push(performance.now());
    if (results.length === 1) {
      secondSentAt = performance.now();
      await writer.write(encode(userMessageLine("again")));
    } else {
      await writer.close();
    }
  }
  const status = await child.status;
  if (results.length < 2) {
    throw new Error(`Cannot calibrate with "${bin}": exited ${status.code}`);
  }
  return {
    firstMs: results[0] - spawnedAt,
    warmMs: results[1] - secondSentAt,
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
