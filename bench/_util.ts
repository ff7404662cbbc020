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
