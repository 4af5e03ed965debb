// A second bot, as far as the instance lock goes: takes the lock of the
// DATA_DIR given as its argument in a process of its own, prints "locked"
// (then holds it until stdin ends) or "refused <holder pid>" and exits 3.

import { InstanceLock, InstanceLockedError } from "../../instance_lock.ts";

try {
  const lock = await InstanceLock.acquire(Deno.args[0]);
  console.log("locked");
  for await (const _ of Deno.stdin.readable) {
    // Held until the test closes stdin (or kills this process).
  }
  lock.release();
} catch (error) {
  if (!(error instanceof InstanceLockedError)) throw error;
  console.log(`refused ${error.holderPid}`);
  Deno.exit(3);
}
