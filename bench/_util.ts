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
