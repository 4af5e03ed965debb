// Prints a Deno process's memory as the bot's dependencies load, stage by
// stage, one JSON line each: where the bot's resident memory goes before it
// holds any state. memory.ts runs it with --v8-flags=--expose-gc so each
// figure follows a full collection.
const MB = 1024 * 1024;

const STAGES: [string, () => Promise<unknown>][] = [
  ["Deno runtime", () => Promise.resolve()],
  // The first npm package also starts Deno's Node compatibility layer.
  ["+ grammY", () => import("grammy")],
  ["+ zod, marked", () => Promise.all([import("zod"), import("marked")])],
  ["+ fflate", () => import("fflate")],
  ["+ the bot's own modules", () => import("../app.ts")],
];

for (const [stage, load] of STAGES) {
  await load();
  (globalThis as { gc?: () => void }).gc?.();
  const memory = Deno.memoryUsage();
  console.log(JSON.stringify({
    stage,
    rssMb: memory.rss / MB,
    heapUsedMb: memory.heapUsed / MB,
    heapTotalMb: memory.heapTotal / MB,
  }));
}
