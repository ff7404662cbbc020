import { queueContract } from "./_contract.ts";
import { openMemoryQueue } from "./memory.ts";

Deno.test("openMemoryQueue meets the queue store contract", async (t) => {
  await queueContract(t, {
    durable: false,
    open: (_space, options) => Promise.resolve(openMemoryQueue(options)),
  });
});
