/**
 * Slow-loris protection in front of `Deno.serve`, which (as of Deno 2.9.6) has no timeout for
 * reading a request head: a connection that has not sent a complete request head within
 * `headerTimeout` is answered `408` and closed. Connections that pass are spliced to the real
 * HTTP server on a loopback port by a cheap byte pump (`_byte_pump.ts`), and a kept-alive
 * connection on which no byte moved either way for `idleTimeout` is closed (Deno.serve has no idle
 * timeout either). WebSocket connections (answered `101`) are exempt: the tunnel's pings keep
 * their own liveness.
 *
 * Only the first request head of a connection is timed; later heads on a kept-alive connection
 * are bounded by the idle timeout (a byte per `idleTimeout` keeps a connection open).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { closeQuietly, splice } from "./_byte_pump.ts";

const log = getLogger(["wow", "server"]);

/** End of an HTTP/1 request head. */
const HEAD_END = new Uint8Array([13, 10, 13, 10]);
/** Read size while waiting for the head. */
const READ_SIZE = 16 * 1024;
/** Status line prefix of a protocol switch (WebSocket upgrade). */
const SWITCHING = new TextEncoder().encode("HTTP/1.1 101 ");
/** The idle sweep runs this many times per idle timeout, so a connection lives ≤ 1.25×. */
const SWEEPS_PER_TIMEOUT = 4;

/** Options for {@linkcode startHeaderGuard}. */
export interface HeaderGuardOptions {
  /** Public address to listen on. */
  hostname: string;
  /** Public port (0 picks one). */
  port: number;
  /** Serve TLS with this certificate and key (the guard terminates TLS). */
  tls?: { cert: string; key: string };
  /** Loopback port of the real HTTP server. */
  upstreamPort: number;
  /** A complete first request head must arrive within this many ms. */
  headerTimeout: number;
  /** Largest request head accepted, bytes (larger: 431). */
  maxHeadSize: number;
  /** Close a spliced connection after this many ms without a byte either way; 0 disables. */
  idleTimeout: number;
}

/** Handle of a running guard. */
export interface HeaderGuard {
  /** The public address. */
  addr: Deno.NetAddr;
  /**
   * The sender's address for a request the real server received from the guard.
   * @param upstreamLocalPort The guard-side port of the loopback connection (the server's
   * `remoteAddr.port`).
   */
  peerOf(upstreamLocalPort: number): string | undefined;
  /** Connections open on the public side. */
  readonly connections: number;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

/** One spliced connection's idle bookkeeping. */
interface Tracked {
  conn: Deno.Conn;
  /** `performance.now()` of the last byte moved; `Infinity` once upgraded (never idle). */
  lastActive: number;
}

/**
 * Starts the guard.
 * @param options Addresses, timeout, limits.
 * @returns Its handle.
 */
export function startHeaderGuard(options: HeaderGuardOptions): HeaderGuard {
  const listener = options.tls
    ? Deno.listenTls({ hostname: options.hostname, port: options.port, ...options.tls })
    : Deno.listen({ hostname: options.hostname, port: options.port });
  const peers = new Map<number, string>();
  const open = new Map<Deno.Conn, Tracked>();
  const accepting = (async () => {
    for await (const conn of listener) {
      const tracked = { conn, lastActive: Infinity };
      open.set(conn, tracked);
      guard(tracked, options, peers).catch(() => {}).finally(() => {
        open.delete(conn);
        closeQuietly(conn);
      });
    }
  })().catch(() => {});
  const sweep = options.idleTimeout > 0
    ? setInterval(() => {
      const cutoff = performance.now() - options.idleTimeout;
      for (const tracked of open.values()) {
        if (tracked.lastActive < cutoff) {
          log.debug("Closed a connection from {ip} idle for {ms} ms", {
            ip: (tracked.conn.remoteAddr as Deno.NetAddr).hostname,
            ms: options.idleTimeout,
          });
          closeQuietly(tracked.conn);
        }
      }
    }, Math.max(1, Math.floor(options.idleTimeout / SWEEPS_PER_TIMEOUT)))
    : undefined;
  return {
    addr: listener.addr as Deno.NetAddr,
    peerOf: (port) => peers.get(port),
    get connections() {
      return open.size;
    },
    close: async () => {
      clearInterval(sweep);
      closeQuietly(listener);
      for (const conn of open.keys()) closeQuietly(conn);
      await accepting;
    },
  };
}

async function guard(
  tracked: Tracked,
  options: HeaderGuardOptions,
  peers: Map<number, string>,
): Promise<void> {
  const { conn } = tracked;
  const peer = (conn.remoteAddr as Deno.NetAddr).hostname;
  const head = await readHead(conn, options);
  if (head.status) {
    log.warn("Refused a connection from {ip}: {status} {message}", {
      ip: peer,
      status: head.status,
      message: head.message,
    });
    await reply(conn, head.status, head.message);
    return;
  }
  const upstream = await Deno.connect({ hostname: "127.0.0.1", port: options.upstreamPort });
  const localPort = (upstream.localAddr as Deno.NetAddr).port;
  peers.set(localPort, peer);
  try {
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    upstream.setNoDelay(true);
    await writeAll(upstream, head.bytes);
    tracked.lastActive = performance.now();
    await splice(conn, upstream, {
      onActivity: () => {
        if (tracked.lastActive !== Infinity) tracked.lastActive = performance.now();
      },
      onUpstreamChunk: (chunk) => {
        if (startsWith(chunk, SWITCHING)) tracked.lastActive = Infinity;
      },
    });
  } finally {
    peers.delete(localPort);
    closeQuietly(upstream);
  }
}

/** Reads until the end of the first request head, the deadline or the size limit. */
async function readHead(
  conn: Deno.Conn,
  options: HeaderGuardOptions,
): Promise<{ bytes: Uint8Array; status?: number; message?: string }> {
  let buffer = new Uint8Array(0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.headerTimeout);
  });
  try {
    while (true) {
      const chunk = new Uint8Array(READ_SIZE);
      const n = await Promise.race([conn.read(chunk), deadline]);
      if (n === "timeout") {
        return {
          bytes: buffer,
          status: 408,
          message: `The request head did not arrive within ${options.headerTimeout} ms`,
        };
      }
      if (n === null) return { bytes: buffer, status: 400, message: "Connection closed" };
      const next = new Uint8Array(buffer.length + n);
      next.set(buffer);
      next.set(chunk.subarray(0, n), buffer.length);
      buffer = next;
      if (indexOf(buffer, HEAD_END) >= 0) return { bytes: buffer };
      if (buffer.length > options.maxHeadSize) {
        return { bytes: buffer, status: 431, message: "The request head is too large" };
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

async function reply(conn: Deno.Conn, status: number, message = ""): Promise<void> {
  const body = JSON.stringify({ error: message });
  const text = `HTTP/1.1 ${status} ${status === 408 ? "Request Timeout" : "Bad Request"}\r\n` +
    `content-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
  try {
    await writeAll(conn, new TextEncoder().encode(text));
  } catch {
    // The peer is gone.
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (
    let i = Math.max(0, haystack.length - READ_SIZE - needle.length);
    i <= haystack.length - needle.length;
    i++
  ) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
