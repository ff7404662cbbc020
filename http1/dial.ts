/**
 * Opens the byte stream for one HTTP/1.1 connection: TCP with `TCP_NODELAY`, then TLS for
 * `https:`/`wss:` with the same trust choices everywhere the program speaks HTTP/1 by hand
 * (system roots plus `caCerts`, or no verification with `insecure`).
 *
 * @module
 */
import { type ByteConn, connectTlsInsecure } from "./byte_conn.ts";

/** Where to connect. */
export interface DialTarget {
  /** Host name or IP address (IPv6 without brackets). */
  hostname: string;
  /** TCP port. */
  port: number;
  /** Speak TLS on the connection. */
  tls: boolean;
}

/** Options for {@linkcode dial}. */
export interface DialOptions {
  /**
   * PEM certificates trusted in addition to the system roots.
   * @default {undefined}
   */
  caCerts?: string[];
  /**
   * With TLS: do not verify the server's certificate at all (a `node:tls` socket, see
   * {@linkcode connectTlsInsecure}); `caCerts` is then ignored.
   * @default {false}
   */
  insecure?: boolean;
  /**
   * Aborts the connect: the socket is closed and the promise rejects with `signal.reason`.
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * The target of an `http:`/`https:`/`ws:`/`wss:` URL.
 * @param url The URL; its scheme picks TLS and the default port.
 * @returns Host name without brackets, port and whether TLS is spoken.
 */
export function dialTarget(url: URL): DialTarget {
  const tls = url.protocol === "https:" || url.protocol === "wss:";
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : tls ? 443 : 80,
    tls,
  };
}

/**
 * Connects: TCP with `TCP_NODELAY`, then for TLS `Deno.startTls` (ALPN `http/1.1`, `caCerts`
 * trusted) and its handshake, or `node:tls` without verification when `insecure`.
 *
 * @param target Host, port and whether to speak TLS.
 * @param options Trust and an abort signal.
 * @returns The open connection, TLS handshake done.
 * @throws {Deno.errors.ConnectionRefused} And other socket or TLS errors as they come (e.g.
 *   `Deno.errors.InvalidData` for an untrusted certificate; Node-style errors with `insecure`).
 * @throws {unknown} `signal.reason` when aborted.
 *
 * @example
 * ```ts ignore
 * const conn = await dial({ hostname: "localhost", port: 8443, tls: true }, { insecure: true });
 * conn.close();
 * ```
 */
export async function dial(target: DialTarget, options: DialOptions = {}): Promise<ByteConn> {
  const { hostname, port } = target;
  const { signal } = options;
  signal?.throwIfAborted();
  if (target.tls && options.insecure) return await connectTlsInsecure(hostname, port, { signal });
  let open: Deno.Conn | undefined;
  const onAbort = () => {
    try {
      open?.close();
    } catch {
      // already closed
    }
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const tcp = await Deno.connect({ hostname, port, signal });
    open = tcp;
    signal?.throwIfAborted();
    tcp.setNoDelay(true);
    if (!target.tls) return tcp;
    const tls = await Deno.startTls(tcp, {
      hostname,
      caCerts: options.caCerts,
      alpnProtocols: ["http/1.1"],
    });
    open = tls;
    signal?.throwIfAborted();
    await tls.handshake();
    signal?.throwIfAborted();
    return tls;
  } catch (error) {
    onAbort();
    throw signal?.aborted ? signal.reason : error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
