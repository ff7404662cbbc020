/**
 * Slow-loris protection in front of `Deno.serve`, which (as of Deno 2.9.6) has no timeout for
 * reading a request head: a connection that has not sent a complete request head within
 * `headerTimeout` is answered `408` and closed. Connections that pass are spliced to the real
 * HTTP server on a loopback port.
 *
 * It is opt-in (`--header-timeout`) because every byte then crosses one more socket pair in
 * JavaScript, which costs throughput; behind Traefik or nginx (which enforce their own header
 * timeouts) leave it off. Only the first request head of a connection is timed.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

const log = getLogger(["wow", "server"]);

/** End of an HTTP/1 request head. */
const HEAD_END = new Uint8Array([13, 10, 13, 10]);
/** Read size while waiting for the head. */
const READ_SIZE = 16 * 1024;

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
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
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
  const open = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const conn of listener) {
      open.add(conn);
      guard(conn, options, peers).catch(() => {}).finally(() => {
        open.delete(conn);
        closeQuietly(conn);
      });
    }
  })().catch(() => {});
  return {
    addr: listener.addr as Deno.NetAddr,
    peerOf: (port) => peers.get(port),
    close: async () => {
      closeQuietly(listener);
      for (const conn of open) closeQuietly(conn);
      await accepting;
    },
  };
}

async function guard(
  conn: Deno.Conn,
  options: HeaderGuardOptions,
  peers: Map<number, string>,
): Promise<void> {
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
    await Promise.allSettled([
      conn.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(conn.writable),
    ]);
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

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}
