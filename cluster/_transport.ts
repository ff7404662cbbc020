/**
 * The abstract transport the membership engine talks through: the real UDP/TCP one in
 * `_net_transport.ts` and the simulation's virtual network implement it. Callback-based (not
 * promises) so the simulation runs synchronously and deterministically on a virtual clock.
 *
 * @module
 */

import type { Message, PingMessage, PushPullMessage } from "./wire/mod.ts";
import type { ClusterObserver } from "./types.ts";

/** An IP address (text) and port. */
export interface HostPort {
  /** IPv4 dotted or IPv6 text, without brackets. */
  readonly ip: string;
  /** Port number. */
  readonly port: number;
}

/** `ip:port`, with IPv6 in brackets. */
export function formatHostPort(hp: HostPort): string {
  return hp.ip.includes(":") ? `[${hp.ip}]:${hp.port}` : `${hp.ip}:${hp.port}`;
}

/** Outgoing side of a transport, used by the engine. */
export interface Transport {
  /**
   * Bytes available for the messages of one UDP packet: memberlist's `UDPBufferSize` minus
   * encryption and label overhead.
   */
  readonly packetBudget: number;
  /** Encoded size of one message in bytes (its type byte included). */
  encodedSize(message: Message): number;
  /**
   * Sends `messages` in one datagram (a compound when more than one), best effort.
   *
   * @param options.crc Add memberlist's CRC wrapper (for peers with PMax ≥ 5).
   */
  sendPacket(to: HostPort, messages: Message[], options: { crc: boolean }): void;
  /**
   * TCP fallback ping: dials `to`, sends `ping`, waits for the matching ack.
   *
   * @param done Called once: true when the ack arrived within `timeoutMs`.
   */
  streamPing(
    to: HostPort,
    ping: PingMessage,
    timeoutMs: number,
    done: (ok: boolean) => void,
  ): void;
  /**
   * Push/pull exchange over TCP: sends `request`, returns the peer's state.
   *
   * @param done Called once with the reply or the error.
   */
  pushPull(
    to: HostPort,
    request: PushPullMessage,
    timeoutMs: number,
    done: (reply: PushPullMessage | Error) => void,
  ): void;
}

/** Minimal structured logger (a logtape `Logger` fits). */
export interface EngineLogger {
  /** Debug-level message; `{name}` placeholders are filled from `properties`. */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** Info-level message. */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Warning-level message. */
  warn(message: string, properties?: Record<string, unknown>): void;
}

/** A logger that discards everything (simulation). */
export const silentLogger: EngineLogger = {
  debug() {},
  info() {},
  warn() {},
};

/** Named counters for `stats()`, each change also told to an optional observer. */
export class Counters {
  readonly #values = new Map<string, number>();
  readonly #observer?: ClusterObserver;

  /** @param observer Told of every increment (see {@linkcode ClusterObserver}). */
  constructor(observer?: ClusterObserver) {
    this.#observer = observer;
  }

  /** Adds `by` (default 1) to counter `name`. */
  inc(name: string, by = 1): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + by);
    this.#observer?.counted(name, by);
  }

  /** Current value of `name` (0 when never counted). */
  get(name: string): number {
    return this.#values.get(name) ?? 0;
  }

  /** All counters as a plain object, sorted by name. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.#values].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
  }
}
