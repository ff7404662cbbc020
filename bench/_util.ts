/**
 * Small helpers for the benchmark (kept here so the bench does not depend on the test harness).
 *
 * @module
 */

/**
 * A TCP port that was free a moment ago on `host`.
 * @param host Address to probe.
 * @returns The port.
 */
export function freePort(host = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname: host, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Polls `check` every 50 ms until it returns a truthy value or `timeout` ms pass.
 * @param check The condition.
 * @param what Named in the timeout error.
 * @param timeout Deadline in ms.
 * @returns The truthy value.
 */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  what: string,
  timeout = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  while (true) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Linux clock ticks per second for `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system) a process has used so far, in microseconds, from `/proc/<pid>/stat`;
 * 0 when the process is gone. Resolution is one clock tick (10 ms), so divide a whole run's
 * difference by its request count, never a single request's.
 * @param pid The process.
 * @returns Microseconds of CPU time.
 */
export function cpuMicros(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name (which may hold spaces): state is field 3,
    // utime field 14 and stime field 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks * (1e6 / CLOCK_TICKS_PER_SECOND);
  } catch {
    return 0;
  }
}

/** A running bench/channels.ts process that opens idle tunnels on request. */
export interface ChannelOpener {
  /**
   * Opens channels until `count` are open.
   * @param count The total wanted.
   * @returns How many are open.
   */
  openTo(count: number): Promise<number>;
  /** Kills the opener (its sockets close with it). */
  stop(): Promise<void>;
}

/** How long one step of opening channels may take, ms. */
const OPEN_STEP_TIMEOUT = 120_000;

/**
 * Starts bench/channels.ts against `serverUrl` (it opens nothing until asked).
 * @param serverUrl The server.
 * @param parallel Channels opened at once.
 * @returns The opener.
 */
export function startChannelOpener(serverUrl: string, parallel = 32): ChannelOpener {
  const opener = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./channels.ts", import.meta.url).pathname,
      serverUrl,
      "0",
      String(parallel),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = opener.stdin.getWriter();
  const lines = opener.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  return {
    async openTo(count) {
      await writer.write(new TextEncoder().encode(`${count}\n`));
      const deadline = Date.now() + OPEN_STEP_TIMEOUT;
      while (Date.now() < deadline) {
        const nl = pending.indexOf("\n");
        if (nl >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          const m = line.match(/^open (\d+)/);
          if (m) return Number(m[1]);
          continue;
        }
        const { value, done } = await lines.read();
        if (done) throw new Error("The channel opener exited");
        pending += value;
      }
      throw new Error("Timed out opening channels");
    },
    async stop() {
      try {
        opener.kill("SIGKILL");
      } catch { /* gone */ }
      await opener.status;
    },
  };
}

/**
 * The arguments of `main.ts` for a bench server on `127.0.0.1:port` whose gossip port is any
 * free one (the bench's servers are single replicas).
 */
export function loopbackServerArgs(port: number): string[] {
  return ["server", "--port", String(port), "--bind-addr", "127.0.0.1", "--memberlist-port", "0"];
}
