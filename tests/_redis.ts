/**
 * Test helper: starts a throwaway `redis-server` on a free loopback port, in a temporary
 * directory, with persistence off (`--save "" --appendonly no`), and stops it again.
 *
 * @example
 * ```ts ignore
 * import { startRedis } from "./_redis.ts";
 * await using redis = await startRedis();
 * console.log(redis.url); // redis://127.0.0.1:40123
 * ```
 *
 * @module
 */

/** Where Debian's `redis-server` package installs the binary; `REDIS_SERVER` overrides it. */
export const REDIS_SERVER_BIN: string = Deno.env.get("REDIS_SERVER") ?? "/usr/bin/redis-server";

/** How long to wait for a started server to answer `PING`, ms. */
const START_TIMEOUT = 10_000;

/** How many ports to try when another process takes the chosen port between probe and bind. */
const PORT_ATTEMPTS = 5;

/** A running `redis-server` started by {@linkcode startRedis}. */
export interface RedisProc extends AsyncDisposable {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Loopback address it listens on. */
  readonly hostname: string;
  /** TCP port it listens on. */
  readonly port: number;
  /** Process id (to SIGKILL it in a test). */
  readonly pid: number;
  /** Lines the server wrote so far (its log goes to stdout). */
  readonly output: string[];
  /** Kills the server (SIGKILL), waits for it to exit and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startRedis}. */
export interface StartRedisOptions {
  /** Loopback address to bind. @default {"127.0.0.1"} */
  hostname?: string;
  /** Extra `redis-server` arguments, e.g. `["--maxmemory", "8mb"]`. @default {[]} */
  args?: string[];
}

function freePort(hostname: string): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Sends `PING` over a raw connection; true when `+PONG` comes back. */
async function ping(hostname: string, port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname, port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/**
 * Starts `redis-server` on a free loopback port with persistence off, in a fresh temporary
 * directory, and waits until it answers `PING`.
 *
 * @param options Address and extra arguments.
 * @returns The running server; call `stop()` (or `await using`) to kill it and clean up.
 * @throws {Error} When the binary is missing or the server does not come up in time.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisProc> {
  const hostname = options.hostname ?? "127.0.0.1";
  let lastError = "";
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const dir = await Deno.makeTempDir({ prefix: "wow-redis-" });
    const port = freePort(hostname);
    const child = new Deno.Command(REDIS_SERVER_BIN, {
      args: [
        "--port",
        String(port),
        "--bind",
        hostname,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--protected-mode",
        "no",
        ...(options.args ?? []),
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const output: string[] = [];
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    const pumps = [child.stdout, child.stderr].map(async (stream) => {
      let partial = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop()!;
        output.push(...parts);
      }
      if (partial) output.push(partial);
    });
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      await status;
      await Promise.all(pumps);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    const deadline = Date.now() + START_TIMEOUT;
    while (!exited && Date.now() < deadline) {
      if (await ping(hostname, port)) {
        return {
          url: `redis://${hostname}:${port}`,
          hostname,
          port,
          pid: child.pid,
          output,
          stop,
          [Symbol.asyncDispose]: stop,
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await stop();
    lastError = output.join("\n");
    if (!/address already in use/i.test(lastError)) break;
  }
  throw new Error(`Cannot start "${REDIS_SERVER_BIN}": ${lastError || "no answer to PING"}`);
}
