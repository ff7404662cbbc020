/**
 * End-to-end test harness: starts real `server`, `client` and `echo` processes
 * (`deno run -A main.ts …`) on ephemeral loopback ports, reads their output, and stops them.
 *
 * @module
 */

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const REPO_ROOT = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Default deadline for waiting on a process's output, ms. */
export const WAIT_TIMEOUT = 20_000;

/** A running child process with its output collected line by line. */
export class Proc {
  /** Lines written to stdout so far. */
  readonly stdout: string[] = [];
  /** Lines written to stderr so far. */
  readonly stderr: string[] = [];
  /** Resolves with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #waiters = new Set<() => void>();
  #pumps: Promise<void>[];

  constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#pumps = [this.#pump(child.stdout, this.stdout), this.#pump(child.stderr, this.stderr)];
    this.status = child.status.then(async (status) => {
      await Promise.all(this.#pumps);
      this.#notify();
      return status;
    });
  }

  /** Process id. */
  get pid(): number {
    return this.#child.pid;
  }

  async #pump(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    let partial = "";
    for await (const chunk of stream) {
      partial += decoder.decode(chunk, { stream: true });
      const parts = partial.split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
      if (Deno.env.get("E2E_VERBOSE")) {
        for (const line of parts) console.error(`[${this.pid}] ${line}`);
      }
      this.#notify();
    }
    if (partial) lines.push(partial);
  }

  #notify(): void {
    for (const waiter of this.#waiters) waiter();
  }

  /**
   * Waits for an output line matching `pattern` on stdout or stderr.
   * @returns The match.
   */
  async waitFor(
    pattern: RegExp,
    options: { stream?: "stdout" | "stderr" | "any"; timeout?: number; from?: number } = {},
  ): Promise<RegExpMatchArray> {
    const deadline = Date.now() + (options.timeout ?? WAIT_TIMEOUT);
    let exited = false;
    this.status.then(() => (exited = true));
    while (true) {
      const lines = options.stream === "stdout"
        ? this.stdout
        : options.stream === "stderr"
        ? this.stderr
        : [...this.stdout, ...this.stderr];
      for (const line of lines.slice(options.from ?? 0)) {
        const match = line.match(pattern);
        if (match) return match;
      }
      if (exited || Date.now() > deadline) {
        throw new Error(
          `Timed out waiting for ${pattern}${exited ? " (process exited)" : ""}; output:\n${
            [...this.stdout, ...this.stderr].join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, Math.min(200, deadline - Date.now())));
        const waiter = () => done();
        this.#waiters.add(waiter);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.status.finally(() => this.#waiters.delete(waiter));
        setTimeout(() => this.#waiters.delete(waiter), 250);
      });
    }
  }

  /** Sends a signal (ignores a process that already exited). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** Kills (SIGKILL unless told otherwise) and waits for exit. */
  async stop(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    this.kill(signal);
    return await this.status;
  }

  /** Async disposal: kill and wait. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Spawns `deno run -A main.ts …args`.
 * @param args CLI arguments.
 * @param env Extra environment variables.
 * @returns The process.
 */
export function spawnMain(args: string[], env: Record<string, string> = {}): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  return new Proc(child);
}

/** A started server process and its URL. */
export interface ServerProc extends Proc {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Bound port. */
  port: number;
}

/**
 * A TCP port that was free a moment ago on `host`.
 * @param host Address to probe.
 * @returns The port.
 */
export function freePort(host = "127.0.0.1"): number {
  return freePorts(1, host)[0];
}

/**
 * Several distinct TCP ports that were free a moment ago (held open together, so no two are the
 * same).
 * @param count How many.
 * @param host Address to probe.
 * @returns The ports.
 */
export function freePorts(count: number, host = "127.0.0.1"): number[] {
  const listeners = Array.from({ length: count }, () => Deno.listen({ hostname: host, port: 0 }));
  const ports = listeners.map((listener) => (listener.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

/**
 * Starts `server` on 127.0.0.1 (or `host`) on a free port and waits until `/healthz` answers.
 * @param args Extra flags.
 * @returns The process with its URL.
 */
export async function startServerProc(
  args: string[] = [],
  options: {
    host?: string;
    port?: number;
    env?: Record<string, string>;
    scheme?: string;
    httpClient?: Deno.HttpClient;
  } = {},
): Promise<ServerProc> {
  const host = options.host ?? "127.0.0.1";
  const [freeHttp, freeGossip] = freePorts(2, host);
  const port = options.port ?? freeHttp;
  const proc = spawnMain([
    "server",
    "--port",
    String(port),
    "--bind-addr",
    host,
    ...(args.includes("--memberlist-port") ? [] : ["--memberlist-port", String(freeGossip)]),
    ...args,
  ], options.env) as ServerProc;
  proc.port = port;
  proc.url = `${options.scheme ?? "http"}://${host}:${port}`;
  await waitUntil(async () => {
    if (await Promise.race([proc.status.then(() => true), Promise.resolve(false)])) {
      throw new Error(`The server exited early:\n${proc.stderr.join("\n")}`);
    }
    try {
      const response = await fetch(`${proc.url}/healthz`, { client: options.httpClient });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }, `server ${proc.url} healthy`);
  return proc;
}

/** A started client process and its webhook URL. */
export interface ClientProc extends Proc {
  /** The printed webhook URL. */
  webhookUrl: string;
  /** The printed channel id. */
  channelId: string;
  /** The state file it uses. */
  stateFile: string;
}

/**
 * Starts `client` and waits for its three start-up lines.
 * @param serverUrl The server.
 * @param targetUrl The local app.
 * @param args Extra flags.
 * @returns The process with its webhook URL.
 */
export async function startClientProc(
  serverUrl: string,
  targetUrl: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<ClientProc> {
  const stateIndex = args.indexOf("--state-file");
  const stateFile = stateIndex >= 0 ? args[stateIndex + 1] : await tempStateFile();
  const stateArgs = stateIndex >= 0 ? [] : ["--state-file", stateFile];
  // The inspector's default port is shared by every test: off unless a test asks for it.
  if (!args.includes("--inspect-addr") && !("WOW_INSPECT_ADDR" in env)) {
    stateArgs.push("--inspect-addr", "off");
  }
  const proc = spawnMain([
    "client",
    "--server-url",
    serverUrl,
    "--target-url",
    targetUrl,
    ...stateArgs,
    ...args,
  ], env) as ClientProc;
  proc.stateFile = stateFile;
  proc.channelId = (await proc.waitFor(/^Issued Channel ID: (\S+)$/, { stream: "stdout" }))[1];
  proc.webhookUrl = (await proc.waitFor(/^Please set the webhook destination as follows: (\S+)$/, {
    stream: "stdout",
  }))[1];
  await proc.waitFor(/^A tunnel to the server has been established\.$/, { stream: "stdout" });
  return proc;
}

/** A fresh state-file path in a new temp dir. */
export async function tempStateFile(): Promise<string> {
  return `${await Deno.makeTempDir({ prefix: "wow-state-" })}/state.json`;
}

/** A local app served in the test process. */
export interface App extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Stops it. */
  close(): Promise<void>;
}

/**
 * Starts a local app in this process.
 * @param handler The app.
 * @returns Its URL and a closer.
 */
export function startApp(handler: Deno.ServeHandler): App {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const close = () => server.shutdown();
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Polls `check` until it returns a truthy value or the deadline passes.
 * @returns The truthy value.
 */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  what: string,
  timeout = WAIT_TIMEOUT,
): Promise<T> {
  const deadline = Date.now() + timeout;
  while (true) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Reads a response body fully as bytes. */
export async function bytesOf(response: Response): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await response.arrayBuffer());
}

/** Deterministic pseudo-random bytes (xorshift), for bodies. */
export function pseudoRandomBytes(size: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Decodes an HTTP/1.1 chunked body (for tests that read raw responses).
 * @param data The bytes after the head.
 * @returns The body.
 */
export function dechunk(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let offset = 0;
  const text = new TextDecoder("latin1");
  while (offset < data.length) {
    const lineEnd = data.indexOf(0x0a, offset);
    const size = parseInt(text.decode(data.subarray(offset, lineEnd)).trim(), 16);
    if (!size) break;
    for (const byte of data.subarray(lineEnd + 1, lineEnd + 1 + size)) out.push(byte);
    offset = lineEnd + 1 + size + 2;
  }
  return new Uint8Array(out);
}

/**
 * Sends `head` (and whatever bytes it carries) on a fresh loopback connection and returns the
 * whole answer as text, read until the server closes: for requests `fetch` cannot make.
 */
export async function rawRequest(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(head));
    const decoder = new TextDecoder();
    let text = "";
    const buffer = new Uint8Array(16 * 1024);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return text;
  } finally {
    conn.close();
  }
}
