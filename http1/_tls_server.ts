/**
 * TLS for the server's accepted TCP connections, with `node:tls` over the `Deno.Conn`.
 *
 * Why not `Deno.listenTls`: in Deno 2.9.6 closing one of its connections before the TLS
 * handshake has completed does not close the socket; it stays open until the peer sends or
 * closes. A client that connects and says nothing therefore held its socket (a file descriptor)
 * forever, whatever the head timeout did. Here the handshake runs over the plain `Deno.Conn`, and
 * closing the connection closes that at once.
 *
 * @module
 */
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { type ByteConn, NodeSocketConn } from "./byte_conn.ts";

/** Bytes read from the socket at a time: one TLS record and its overhead. */
const READ_BYTES = 17 * 1024;

/**
 * The certificate and key, parsed once for every connection.
 * @param tls PEM certificate (chain) and key.
 * @returns The context.
 */
export function tlsServerContext(tls: { cert: string; key: string }): SecureContext {
  return createSecureContext({ cert: tls.cert, key: tls.key });
}

/**
 * Serves TLS on an accepted connection: the handshake happens as the connection is first read.
 * @param conn The TCP connection.
 * @param context From {@linkcode tlsServerContext}.
 * @returns The decrypted byte stream; closing it closes `conn`.
 */
export function tlsServerConn(conn: Deno.Conn, context: SecureContext): ByteConn {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  const buffer = new Uint8Array(READ_BYTES);
  const tcp: Duplex = new Duplex({
    read() {
      // The reader has enough (NodeSocketConn paused the TLS socket): leave the bytes in the
      // kernel until it resumes, so a sender faster than the handler is held back by TCP (the
      // TLS socket alone keeps decrypting, and buffering, whatever arrives).
      if (socket.isPaused()) return void socket.once("resume", () => tcp._read(READ_BYTES));
      // One read buffer per connection; what was read is copied out (push may keep it).
      conn.read(buffer).then(
        (n) => tcp.push(n === null ? null : buffer.slice(0, n)),
        (error) => closed || tcp.destroy(error),
      );
    },
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(conn, chunk).then(() => callback(), callback);
    },
    final(callback) {
      // The TLS side ended (close_notify sent): end ours too.
      if (closed) return callback();
      conn.closeWrite().then(() => callback(), () => callback());
    },
    destroy(error, callback) {
      close();
      callback(error);
    },
  });
  const socket = new TLSSocket(tcp as unknown as Socket, {
    isServer: true,
    secureContext: context,
    ALPNProtocols: ["http/1.1"],
  });
  // Over a stream (not a net.Socket) the TLS socket does not close by itself: not once the peer's
  // side ended (a half-closed sender is gone, as for a plain connection), nor when the TCP side
  // failed. NodeSocketConn settles a pending read only on `close`.
  socket.once("end", () => socket.destroy());
  tcp.once("close", () => socket.destroy());
  // A TCP error reaches the reader through the TLS socket's close.
  tcp.on("error", () => {});
  return new NodeSocketConn(socket);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    offset += await conn.write(offset === 0 ? bytes : bytes.subarray(offset));
  }
}
