import { runOverhead } from "../overhead.ts";
const t = performance.now();
console.log(await runOverhead({ turns: 1000, warmup: 50 }));
console.log(performance.now() - t);
