import assert from "node:assert/strict";
import { connect as connectTcp, type Socket } from "node:net";
import { type ByteConn, connectTlsInsecure, NodeSocketConn } from "./byte_conn.ts";
import { makeCertificates } from "../client/_test_certs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A `node:net` socket connected to a one-connection Deno TCP server, and the server's side. */
async function socketPair(): Promise<{ socket: Socket; peer: Deno.Conn }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const socket = connectTcp({ host: "127.0.0.1", port: listener.addr.port });
  const [peer] = await Promise.all([
    listener.accept(),
    new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject)),
  ]);
  listener.close();
  return { socket, peer };
}

function closedEvent(socket: Socket): Promise<void> {
  return socket.closed
    ? Promise.resolve()
    : new Promise((resolve) => socket.once("close", resolve));
}

async function readAll(conn: ByteConn, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    const n = await conn.read(out.subarray(filled));
    if (n === null) throw new Error(`EOF after ${filled} of ${size} bytes`);
    filled += n;
  }
  return out;
}

async function writeAll(conn: ByteConn, data: Uint8Array): Promise<void> {
  for (let i = 0; i < data.length;) i += await conn.write(data.subarray(i));
}

Deno.test("NodeSocketConn reads and writes in order, then reads null at the peer's close", async () => {
  const { socket, peer } = await socketPair();
  const conn = new NodeSocketConn(socket);
  await writeAll(conn, encoder.encode("ping"));
  const got = new Uint8Array(4);
  assert.equal(await peer.read(got), 4);
  assert.equal(decoder.decode(got), "ping");
  await peer.write(encoder.encode("hello world"));
  // A small buffer takes the data in pieces; the rest stays queued.
  const small = new Uint8Array(5);
  assert.equal(await conn.read(small), 5);
  assert.equal(decoder.decode(small), "hello");
  assert.equal(decoder.decode(await readAll(conn, 6)), " world");
  assert.equal(await conn.read(new Uint8Array(0)), 0);
  const pending = conn.read(new Uint8Array(8));
  await assert.rejects(conn.read(new Uint8Array(8)), Deno.errors.Busy);
  peer.close();
  assert.equal(await pending, null);
  assert.ok(socket.closed, "the read settles only after the socket closed");
  assert.equal(await conn.read(new Uint8Array(8)), null);
  await assert.rejects(conn.write(new Uint8Array(1)), Deno.errors.BadResource);
  conn.close(); // harmless once closed
});

Deno.test("NodeSocketConn delivers buffered bytes before the peer's close", async () => {
  const { socket, peer } = await socketPair();
  const conn = new NodeSocketConn(socket);
  await peer.write(encoder.encode("last words"));
  peer.close();
  await closedEvent(socket);
  assert.equal(decoder.decode(await readAll(conn, 10)), "last words");
  assert.equal(await conn.read(new Uint8Array(8)), null);
});

Deno.test("NodeSocketConn rejects the pending read and writes with a socket error", async () => {
  const { socket, peer } = await socketPair();
  const conn = new NodeSocketConn(socket);
  const pending = conn.read(new Uint8Array(8));
  const boom = new Error("boom");
  socket.destroy(boom);
  await assert.rejects(pending, (err) => err === boom);
  await assert.rejects(conn.read(new Uint8Array(8)), (err) => err === boom);
  await assert.rejects(conn.write(new Uint8Array(1)), (err) => err === boom);
  peer.close();
});

Deno.test("NodeSocketConn.close settles a pending read with null once the socket is gone", async () => {
  const { socket, peer } = await socketPair();
  const conn = new NodeSocketConn(socket);
  const pending = conn.read(new Uint8Array(8));
  conn.close();
  assert.equal(await pending, null);
  assert.ok(socket.closed);
  // The peer sees EOF.
  assert.equal(await peer.read(new Uint8Array(8)), null);
  peer.close();
});

Deno.test("NodeSocketConn pauses a fast sender while the reader lags, losing nothing", async () => {
  const { socket, peer } = await socketPair();
  const conn = new NodeSocketConn(socket);
  const size = 16 * 1024 * 1024;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 13)) & 0xff;
  let paused = 0;
  const pause = socket.pause.bind(socket);
  socket.pause = () => {
    paused++;
    return pause();
  };
  let sent = false;
  const sending = (async () => {
    for (let i = 0; i < size;) i += await peer.write(data.subarray(i));
    sent = true;
  })();
  // Read nothing for a while: the queue is capped, so the sender must be stuck in the kernel.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(paused > 0, "the socket was paused");
  assert.equal(sent, false, "the sender is held back");
  const got = await readAll(conn, size);
  await sending;
  assert.ok(got.every((byte, i) => byte === data[i]), "bytes arrive intact and in order");
  peer.close();
  assert.equal(await conn.read(new Uint8Array(1)), null);
});

Deno.test("connectTlsInsecure accepts a certificate no trusted CA signed", async () => {
  const { cert, key } = await makeCertificates();
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
  const serving = (async () => {
    const tls = await listener.accept();
    await tls.handshake();
    const buffer = new Uint8Array(64);
    const n = await tls.read(buffer);
    await tls.write(buffer.subarray(0, n ?? 0));
    tls.close();
  })();
  const conn = await connectTlsInsecure("localhost", listener.addr.port);
  await writeAll(conn, encoder.encode("echo me"));
  assert.equal(decoder.decode(await readAll(conn, 7)), "echo me");
  assert.equal(await conn.read(new Uint8Array(8)), null);
  conn.close();
  await serving;
  listener.close();
});
