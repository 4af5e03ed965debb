import { InProcessBot, NO_PACING, until } from "../in_process_bot.ts";
import { epochMs } from "../epoch.ts";
await using bot = await InProcessBot.start({ pacing: NO_PACING });
for (let i = 0; i < 5; i++) {
  const k = bot.api.calls.length;
  const t0 = epochMs();
  bot.api.sendText(`hello ${i}`);
  await until(() => bot.api.messages().some((m) => m.text.includes(`hello ${i}`)) && bot.isIdle(), "idle");
  console.log(bot.api.calls.slice(k).map((c) => `${c.method} ${(c.at - t0).toFixed(2)}`).join(" | "));
}
const log = await bot.claudeLog();
console.log(log.inputs.slice(-2), log.results.slice(-2));
const k = bot.api.calls.length;
bot.api.sendText("!long 10000");
await until(() => bot.isIdle() && bot.api.calls.length > k + 3, "idle", {timeoutMs: 60000});
console.log(bot.api.calls.slice(k).map((c) => c.method).join(" "));
const msgs = bot.api.messages().slice(-4);
for (const m of msgs) console.log(m.message_id, m.text.length, m.document?.content.length, m.edits);
console.log(bot.logs);
