/**
 * The real transport: one UDP socket and one TCP listener on the same port, speaking
 * memberlist's wire format through `cluster/wire`. Bad input is counted and dropped (logged at
 * DEBUG), never thrown; TCP exchanges run under a 10 s deadline, one request per connection.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Counters, HostPort, Transport } from "./_transport.ts";
import {
  MAX_CONCURRENT_STREAMS,
  TCP_TIMEOUT,
  UDP_COMPRESS_MIN,
  UDP_PACKET_BUDGET,
  UDP_RECEIVE_BUFFER,
  UDP_SEND_BURST,
  UDP_SEND_QUEUE_DEPTH,
} from "./defaults.ts";
import {
  decodeUdpPacket,
  encodeMessage,
  encodeStreamMessage,
  encodeUdpPacket,
  type Keyring,
  type Message,
  type PingMessage,
  type PushPullMessage,
  readStreamMessage,
  type StreamMessage,
  udpOverhead,
  WireDecodeError,
} from "./wire/mod.ts";

const log = getLogger(["wow", "cluster"]);

/** What the transport hands received traffic to (the engine). */
export interface InboundHandler {
  /** One datagram's messages. */
  handlePacket(messages: readonly Message[], from: HostPort): void;
  /** One TCP request; returns the reply, if any. */
  handleStream(message: StreamMessage): StreamMessage | undefined;
}

/** Options of {@linkcode NetTransport.listen}. */
export interface NetTransportOptions {
  /** Address to bind UDP and TCP to. */
  bindAddr: string;
  /** Port (0 picks a free one, the same for UDP and TCP). */
  port: number;
  /** Keyring; when non-empty every packet and stream is encrypted and must decrypt. */
  keys?: Keyring;
  /** Counters for `stats()`. */
  counters: Counters;
}

/** Wire-level decode errors that mean "wrong or missing key". */
const KEY_ERRORS = new Set(["encryptedNoKeys", "notEncrypted", "decrypt"]);
/** Attempts to find a port free for both UDP and TCP when the port is 0. */
const PORT_ATTEMPTS = 20;

interface Outgoing {
  bytes: Promise<Uint8Array>;
  to: Deno.NetAddr;
}

/** UDP + TCP transport bound to one port. */
export class NetTransport implements Transport {
  readonly #udp: Deno.DatagramConn;
  readonly #tcp: Deno.TcpListener;
  readonly #keys: Keyring;
  readonly #counters: Counters;
  readonly #encoded = new WeakMap<Message, Uint8Array>();
  readonly #conns = new Set<Deno.Conn>();
  readonly #dials = new Set<AbortController>();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #queue: Outgoing[] = [];
  #pumping = false;
  #handler: InboundHandler | undefined;
  #closed = false;
  /** Bytes available for messages in one packet. */
  readonly packetBudget: number;

  private constructor(
    udp: Deno.DatagramConn,
    tcp: Deno.TcpListener,
    options: NetTransportOptions,
  ) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#keys = options.keys ?? [];
    this.#counters = options.counters;
    this.packetBudget = UDP_PACKET_BUDGET - udpOverhead({ keys: this.#keys });
  }

  /**
   * Binds UDP and TCP on `bindAddr:port`.
   *
   * @throws {Deno.errors.AddrInUse} When the port is taken.
   */
  static listen(options: NetTransportOptions): NetTransport {
    const hostname = options.bindAddr;
    for (let attempt = 0;; attempt++) {
      const udp = Deno.listenDatagram({ transport: "udp", hostname, port: options.port });
      const port = (udp.addr as Deno.NetAddr).port;
      try {
        const tcp = Deno.listen({ transport: "tcp", hostname, port });
        return new NetTransport(udp, tcp, options);
      } catch (error) {
        udp.close();
        if (options.port !== 0 || attempt >= PORT_ATTEMPTS) throw error;
      }
    }
  }

  /** The bound port (UDP and TCP). */
  get port(): number {
    return (this.#udp.addr as Deno.NetAddr).port;
  }

  /** Starts receiving; traffic goes to `handler`. */
  start(handler: InboundHandler): void {
    this.#handler = handler;
    this.#track(this.#receiveLoop());
    this.#track(this.#acceptLoop());
  }

  /** Closes both sockets, aborts exchanges in flight and waits for every task to end. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#queue.length = 0;
      for (const c of [this.#udp, this.#tcp]) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      for (const c of this.#conns) closeQuietly(c);
      for (const d of this.#dials) d.abort();
    }
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  // ---------------------------------------------------------------- Transport

  /** Encoded size (the encoding is cached for the send). */
  encodedSize(message: Message): number {
    return this.#encode(message).length;
  }

  /** Queues one datagram; sends are paced and never throw. */
  sendPacket(to: HostPort, messages: Message[], options: { crc: boolean }): void {
    if (this.#closed) return;
    if (this.#queue.length >= UDP_SEND_QUEUE_DEPTH) {
      this.#counters.inc("udpSendDropped");
      return;
    }
    let parts: Uint8Array[];
    try {
      parts = messages.map((m) => this.#encode(m));
    } catch (error) {
      this.#counters.inc("udpEncodeErrors");
      log.warn("Cannot encode packet for {to}: {error}", { to: to.ip, error: String(error) });
      return;
    }
    const size = parts.reduce((n, p) => n + p.length, 0);
    const bytes = encodeUdpPacket(parts, {
      crc: options.crc,
      compress: size >= UDP_COMPRESS_MIN,
      keys: this.#keys,
    });
    bytes.catch(() => {}); // reported when the pump awaits it
    this.#queue.push({ bytes, to: { transport: "udp", hostname: to.ip, port: to.port } });
    if (!this.#pumping) this.#track(this.#pump());
  }

  /** TCP fallback ping. */
  streamPing(to: HostPort, ping: PingMessage, timeoutMs: number, done: (ok: boolean) => void) {
    this.#track(
      this.#exchange(to, ping, timeoutMs).then(
        (reply) => done(reply.type === "ack" && reply.seqNo === ping.seqNo),
        () => done(false),
      ),
    );
  }

  /** Push/pull over TCP. */
  pushPull(
    to: HostPort,
    request: PushPullMessage,
    timeoutMs: number,
    done: (reply: PushPullMessage | Error) => void,
  ): void {
    this.#track(
      this.#exchange(to, request, timeoutMs).then(
        (reply) => {
          if (reply.type === "pushPull") return done(reply);
          const detail = reply.type === "err" ? reply.error : `unexpected "${reply.type}"`;
          done(new Error(`Push/pull with "${to.ip}:${to.port}" failed: ${detail}`));
        },
        (error) =>
          done(
            new Error(`Push/pull with "${to.ip}:${to.port}" failed: ${errorText(error)}`, {
              cause: error,
            }),
          ),
      ),
    );
  }

  // ---------------------------------------------------------------- UDP

  #encode(message: Message): Uint8Array {
    let bytes = this.#encoded.get(message);
    if (bytes === undefined) {
      bytes = encodeMessage(message);
      this.#encoded.set(message, bytes);
    }
    return bytes;
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      let burst = 0;
      while (this.#queue.length > 0 && !this.#closed) {
        const { bytes, to } = this.#queue.shift()!;
        try {
          const packet = await bytes;
          await this.#udp.send(packet, to);
          this.#counters.inc("udpSent");
          this.#counters.inc("udpSentBytes", packet.length);
        } catch (error) {
          if (this.#closed) return;
          this.#counters.inc("udpSendErrors");
          log.debug("Cannot send to {to}: {error}", { to: to.hostname, error: errorText(error) });
        }
        if (++burst >= UDP_SEND_BURST) {
          burst = 0;
          // Yield so receives run and the peer's kernel buffer drains.
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #receiveLoop(): Promise<void> {
    const buffer = new Uint8Array(UDP_RECEIVE_BUFFER);
    while (!this.#closed) {
      let data: Uint8Array, addr: Deno.Addr;
      try {
        [data, addr] = await this.#udp.receive(buffer);
      } catch (error) {
        if (this.#closed) return;
        this.#counters.inc("udpReceiveErrors");
        log.debug("UDP receive failed: {error}", { error: errorText(error) });
        continue;
      }
      // Copy before the next receive reuses the buffer; decode while the next one is pending.
      this.#track(this.#ingest(data.slice(), addr as Deno.NetAddr));
    }
  }

  async #ingest(bytes: Uint8Array, from: Deno.NetAddr): Promise<void> {
    this.#counters.inc("udpReceived");
    this.#counters.inc("udpReceivedBytes", bytes.length);
    let messages: Message[];
    try {
      messages = await decodeUdpPacket(bytes, {
        keys: this.#keys,
        onWarning: (e) => {
          this.#counters.inc("udpPartsDropped");
          log.debug("Dropped part of packet from {from}: {error}", {
            from: from.hostname,
            error: e.message,
          });
        },
      });
    } catch (error) {
      const keyError = error instanceof WireDecodeError && KEY_ERRORS.has(error.code);
      this.#counters.inc(keyError ? "udpDecryptErrors" : "udpDecodeErrors");
      log.debug("Dropped packet from {from}: {error}", {
        from: `${from.hostname}:${from.port}`,
        error: errorText(error),
      });
      return;
    }
    if (this.#closed || messages.length === 0) return;
    this.#handler?.handlePacket(messages, { ip: from.hostname, port: from.port });
  }

  // ---------------------------------------------------------------- TCP

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#tcp.accept();
      } catch (error) {
        if (this.#closed) return;
        this.#counters.inc("tcpAcceptErrors");
        log.debug("TCP accept failed: {error}", { error: errorText(error) });
        continue;
      }
      this.#counters.inc("tcpAccepted");
      if (this.#conns.size >= MAX_CONCURRENT_STREAMS) {
        this.#counters.inc("tcpRejected");
        closeQuietly(conn);
        continue;
      }
      this.#track(this.#serve(conn));
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    this.#conns.add(conn);
    // The whole exchange has TCP_TIMEOUT; closing the connection ends any pending read.
    const deadline = setTimeout(() => closeQuietly(conn), TCP_TIMEOUT);
    try {
      let request: StreamMessage;
      try {
        ({ message: request } = await readStreamMessage(this.#counted(conn), {
          keys: this.#keys,
        }));
        this.#counters.inc("tcpReceived");
      } catch (error) {
        if (this.#closed) return;
        if (error instanceof WireDecodeError && error.code === "eof") return;
        const keyError = error instanceof WireDecodeError && KEY_ERRORS.has(error.code);
        this.#counters.inc(keyError ? "tcpDecryptErrors" : "tcpDecodeErrors");
        log.debug("Bad TCP request from {from}: {error}", {
          from: (conn.remoteAddr as Deno.NetAddr).hostname,
          error: errorText(error),
        });
        await this.#reply(conn, { type: "err", error: errorText(error) });
        return;
      }
      if (this.#closed) return;
      const reply = this.#handler?.handleStream(request);
      if (reply !== undefined) await this.#reply(conn, reply);
    } catch (error) {
      this.#counters.inc("tcpErrors");
      log.debug("TCP exchange failed: {error}", { error: errorText(error) });
    } finally {
      clearTimeout(deadline);
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }

  async #reply(conn: Deno.Conn, message: StreamMessage): Promise<void> {
    try {
      await this.#write(
        conn,
        await encodeStreamMessage(message, { reply: true, keys: this.#keys }),
      );
    } catch (error) {
      this.#counters.inc("tcpErrors");
      log.debug("Cannot write TCP reply: {error}", { error: errorText(error) });
    }
  }

  async #exchange(
    to: HostPort,
    request: StreamMessage,
    timeoutMs: number,
  ): Promise<StreamMessage> {
    if (this.#closed) throw new Error("Transport closed");
    const abort = new AbortController();
    let conn: Deno.TcpConn | undefined;
    const timer = setTimeout(() => {
      abort.abort();
      if (conn) closeQuietly(conn);
    }, timeoutMs);
    this.#dials.add(abort);
    try {
      conn = await Deno.connect({ hostname: to.ip, port: to.port, signal: abort.signal });
      if (abort.signal.aborted) throw new Error("Timed out");
      this.#conns.add(conn);
      conn.setNoDelay(true);
      await this.#write(conn, await encodeStreamMessage(request, { keys: this.#keys }));
      const { message } = await readStreamMessage(this.#counted(conn), {
        keys: this.#keys,
        reply: true,
      });
      this.#counters.inc("tcpReceived");
      return message;
    } catch (error) {
      this.#counters.inc("tcpDialFailures");
      throw error;
    } finally {
      clearTimeout(timer);
      this.#dials.delete(abort);
      if (conn) {
        this.#conns.delete(conn);
        closeQuietly(conn);
      }
    }
  }

  /** Writes one stream message, counted as `tcpSent`/`tcpSentBytes`. */
  async #write(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
    await writeAll(conn, bytes);
    this.#counters.inc("tcpSent");
    this.#counters.inc("tcpSentBytes", bytes.length);
  }

  /** The connection as a reader whose reads count `tcpReceivedBytes`. */
  #counted(conn: Deno.Conn): { read(p: Uint8Array): Promise<number | null> } {
    const counters = this.#counters;
    return {
      async read(p: Uint8Array): Promise<number | null> {
        const n = await conn.read(p);
        if (n) counters.inc("tcpReceivedBytes", n);
        return n;
      },
    };
  }

  #track(task: Promise<unknown>): void {
    const p = task.catch((error) => {
      log.debug("Transport task failed: {error}", { error: errorText(error) });
    }).finally(() => this.#tasks.delete(p));
    this.#tasks.add(p);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

const closedConns = new WeakSet<Deno.Conn>();

function closeQuietly(conn: Deno.Conn): void {
  if (closedConns.has(conn)) return;
  closedConns.add(conn);
  try {
    conn.close();
  } catch { /* already closed */ }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
