import { summarize } from "../stats.ts";
const dir = await Deno.makeTempDir();
const xs: number[] = [];
const ys: number[] = [];
for (let i = 0; i < 300; i++) {
  const t = performance.now();
  const f = await Deno.open(`${dir}/a.tmp`, { write: true, create: true, truncate: true });
  await f.write(new TextEncoder().encode("x".repeat(600)));
  const t1 = performance.now();
  await f.syncData();
  xs.push(performance.now() - t1);
  f.close();
  await Deno.rename(`${dir}/a.tmp`, `${dir}/a.json`);
  ys.push(performance.now() - t);
}
console.log("fsync", summarize(xs), "write+fsync+rename", summarize(ys));
