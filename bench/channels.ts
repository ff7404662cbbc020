/**
 * Opens many idle tunnels from ONE process, to measure the server's memory per connected channel
 * without thousands of client processes: `GET /new`, then a WebSocket to `/ws/<id>` with the
 * channel secret and protocol version headers (Deno's built-in WebSocket; fine for idle sockets).
 *
 * Usage: `deno run -A bench/channels.ts <server-url> <count> [parallel]`. Reads newline-separated
 * target counts on stdin ("1000", "2000"); after reaching each it prints `open <n>`. Stays idle
 * until stdin closes or it gets SIGTERM.
 *
 * @module
 */
const [serverUrl, countArg, parallelArg] = Deno.args;
const parallel = Number(parallelArg ?? 32);
const sockets: WebSocket[] = [];
let failures = 0;

async function openOne(): Promise<void> {
  const response = await fetch(`${serverUrl}/new`);
  if (!response.ok) {
    throw new Error(`GET /new answered ${response.status}: ${await response.text()}`);
  }
  const { channel_id: id, channel_secret: secret } = await response.json();
  const wsUrl = `${serverUrl.replace(/^http/, "ws")}/ws/${id}`;
  const socket = new WebSocket(wsUrl, {
    headers: { "x-channel-secret": secret ?? "", "x-wow-protocol": "1" },
  } as unknown as string[]);
  socket.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = (e) => reject(new Error(`WebSocket error: ${(e as ErrorEvent).message}`));
  });
  socket.onerror = () => {};
  socket.onclose = () => failures++;
  sockets.push(socket);
}

async function openUpTo(target: number): Promise<void> {
  while (sockets.length < target) {
    const batch = Math.min(parallel, target - sockets.length);
    const results = await Promise.allSettled(Array.from({ length: batch }, openOne));
    const rejected = results.filter((r) => r.status === "rejected");
    if (rejected.length) {
      failures += rejected.length;
      console.error(`failed: ${(rejected[0] as PromiseRejectedResult).reason}`);
      if (failures > 50) Deno.exit(1);
    }
  }
}

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
const decoder = new TextDecoder();
let buffered = "";
if (Number(countArg) > 0) {
  await openUpTo(Number(countArg));
  console.log(`open ${sockets.length} closed ${failures}`);
}
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (!line) continue;
    await openUpTo(Number(line));
    console.log(`open ${sockets.length} closed ${failures}`);
  }
}
Deno.exit(0);
