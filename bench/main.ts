// `deno task bench`: runs every benchmark against the fakes (no network, no
// real Claude needed), prints the results as a table and writes
// bench/results.json. Names as arguments run only those benchmarks:
// overhead, warm-cold, streaming, many-chats, memory, suspend-resume, forum,
// replies.
import { calibrate } from "./calibrate.ts";
import { runMemory } from "./memory.ts";
import { runOverhead } from "./overhead.ts";
import { runReplies } from "./replies.ts";
import { type BenchResults, markdownTable, tableRows } from "./report.ts";
import { runStreaming } from "./streaming.ts";
import { runSuspendResume } from "./suspend_resume.ts";
import { runWarmCold } from "./warm_cold.ts";

const BENCHMARKS = [
  "overhead",
  "warm-cold",
  "streaming",
  "many-chats",
  "memory",
  "suspend-resume",
  "forum",
  "replies",
] as const;
type BenchmarkName = typeof BENCHMARKS[number];

const RESULTS_PATH = new URL("./results.json", import.meta.url);

/** The machine the numbers came from. */
async function machine(): Promise<Record<string, unknown>> {
  // Through commands: Deno lets only --allow-all read /proc directly.
  const cpuinfo = await commandOutput("cat", ["/proc/cpuinfo"]);
  const memory = await commandOutput("free", ["-g"]);
  return {
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    nproc: Number(await commandOutput("nproc", [])),
    memoryTotalGb: Number(/^Mem:\s+(\d+)/m.exec(memory)?.[1]),
    kernel: await commandOutput("uname", ["-sr"]),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  };
}

async function commandOutput(command: string, args: string[]) {
  const { stdout } = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

async function timed<T>(name: string, run: () => Promise<T>): Promise<T> {
  const startedAt = performance.now();
  console.error(`${name}…`);
  const result = await run();
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.error(`${name}: done in ${seconds} s`);
  return result;
}

async function main(): Promise<void> {
  const unknown = Deno.args.filter((arg) =>
    !BENCHMARKS.includes(arg as BenchmarkName)
  );
  if (unknown.length > 0) {
    console.error(
      `Unknown benchmark "${unknown[0]}": choose from ${BENCHMARKS.join(", ")}`,
    );
    Deno.exit(2);
  }
  const selected = new Set<string>(
    Deno.args.length > 0 ? Deno.args : BENCHMARKS,
  );
  const startedAt = performance.now();
  const calibration = await timed("calibration", () => calibrate(5));
  const results: BenchResults = { calibration };
  if (selected.has("overhead")) {
    results.overhead = await timed(
      "overhead",
      () => runOverhead({ turns: 1000, warmup: 50 }),
    );
  }
  if (selected.has("warm-cold")) {
    results.warmCold = await timed(
      "warm-cold",
      () => runWarmCold({ warmSamples: 30, coldSamples: 10 }, calibration),
    );
  }
  // The setting: 10,000 characters over 10 s.
  const stream = { answerChars: 10_000, streamSeconds: 10 };
  if (selected.has("streaming")) {
    results.streaming = await timed("streaming", () =>
      runStreaming({
        ...stream,
        chats: { private: 1, group: 1 },
        startDelayMs: calibration.startDelayMs,
      }));
  }
  if (selected.has("many-chats")) {
    results.manyChats = await timed("many-chats", () =>
      runStreaming({
        ...stream,
        chats: { group: 20 },
        startDelayMs: calibration.startDelayMs,
      }));
  }
  if (selected.has("forum")) {
    results.forum = await timed("forum", () =>
      runStreaming({
        answerChars: 4_000,
        streamSeconds: 10,
        chats: { topic: 4 },
        startDelayMs: calibration.startDelayMs,
      }));
  }
  if (selected.has("replies")) {
    results.replies = await timed(
      "replies",
      () => runReplies({ warmSamples: 20, firstTokenMs: 500 }, calibration),
    );
  }
  if (selected.has("memory")) {
    results.memory = await timed(
      "memory",
      () => runMemory({ sessionCounts: [0, 100, 1000], runs: 3 }),
    );
  }
  if (selected.has("suspend-resume")) {
    results.suspendResume = await timed(
      "suspend-resume",
      () => runSuspendResume(200),
    );
  }
  const rows = tableRows(results);
  const totalSeconds = Math.round((performance.now() - startedAt) / 1000);
  const about = await machine();
  console.log(markdownTable(rows));
  console.log(
    `\n${about.nproc} × ${about.cpuModel}, ${about.memoryTotalGb} GB, ` +
      `${about.kernel}, Deno ${about.deno}; ${totalSeconds} s in all`,
  );
  await Deno.writeTextFile(
    RESULTS_PATH,
    JSON.stringify(
      {
        ranAt: new Date().toISOString(),
        machine: about,
        totalSeconds,
        results,
        table: rows,
      },
      null,
      2,
    ) + "\n",
  );
  console.error(`Wrote ${RESULTS_PATH.pathname}`);
}

if (import.meta.main) await main();
