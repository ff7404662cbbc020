/**
 * `startCluster`: binds the real transport, starts the engine and discovery, returns the handle.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { isIP } from "node:net";
import { realClock } from "./_clock.ts";
import { Discovery, hostPortKey } from "./_discovery.ts";
import { Engine } from "./_engine.ts";
import { NetTransport } from "./_net_transport.ts";
import { defaultNodeName } from "./_node_name.ts";
import { Counters, formatHostPort } from "./_transport.ts";
import {
  DEFAULT_BIND_ADDR,
  DEFAULT_LEAVE_TIMEOUT,
  DEFAULT_PORT,
  DEFAULT_SYNC_INTERVAL,
  DEFAULT_TIMINGS,
  META_MAX_SIZE,
} from "./defaults.ts";
import type { ClusterHandle, ClusterOptions, SwimTimings } from "./types.ts";

const log = getLogger(["wow", "cluster"]);
const GOSSIP_KEY_LENGTHS = [16, 24, 32];
/** memberlist incarnations are uint32. */
const U32_MAX = 0xffff_ffff;

/** A fresh incarnation: the Unix time in seconds (see the note on the first incarnation). */
const freshIncarnation = () => Math.min(U32_MAX, Math.floor(Date.now() / 1000));

function checkTimings(timings: SwimTimings): void {
  for (const [name, value] of Object.entries(timings)) {
    const zeroOk = name === "pushPullInterval" || name === "gossipToTheDeadTime";
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (!zeroOk && !value)) {
      throw new RangeError(`Cannot use timing "${name}": "${value}" is not a positive number`);
    }
  }
  if (timings.probeTimeout > timings.probeInterval) {
    throw new RangeError(
      `Cannot use timing "probeTimeout": ${timings.probeTimeout} exceeds probeInterval ${timings.probeInterval}`,
    );
  }
}

/**
 * Starts a cluster node: binds UDP and TCP on `bindAddr:port`, starts SWIM and discovery.
 *
 * The first incarnation is the Unix time in seconds, so a restarted node's `alive` already
 * overrides the `dead` entry the survivors keep of its previous run (it also refutes that
 * entry when push/pull shows it, as memberlist requires).
 *
 * @param options Addresses, seeds, key, timings.
 * @returns The running node's handle.
 * @throws {TypeError} When `advertiseAddr` is not an IP address.
 * @throws {RangeError} On a bad port, key length, metadata size or timing.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 *
 * @example
 * ```ts ignore
 * const node = await startCluster({ advertiseAddr: "127.0.0.11", bindAddr: "127.0.0.11" });
 * console.log(node.members());
 * await node.leave();
 * ```
 */
export function startCluster(options: ClusterOptions): Promise<ClusterHandle> {
  try {
    return Promise.resolve(start(options));
  } catch (error) {
    return Promise.reject(error);
  }
}

function start(options: ClusterOptions): ClusterHandle {
  const advertiseIp = options.advertiseAddr;
  if (typeof advertiseIp !== "string" || !isIP(advertiseIp)) {
    throw new TypeError(`Cannot start cluster: advertise address "${advertiseIp}" is not an IP`);
  }
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot start cluster: port "${port}" out of range`);
  }
  const key = options.gossipKey;
  if (key !== undefined && !GOSSIP_KEY_LENGTHS.includes(key.length)) {
    throw new RangeError(
      `Cannot use gossip key: ${key.length} bytes, expected 16, 24 or 32`,
    );
  }
  const meta = options.meta ?? new Uint8Array(0);
  if (meta.length > META_MAX_SIZE) {
    throw new RangeError(`Cannot use node metadata: ${meta.length} bytes exceeds ${META_MAX_SIZE}`);
  }
  const timings: SwimTimings = { ...DEFAULT_TIMINGS, ...options.timings };
  checkTimings(timings);
  const syncInterval = options.syncInterval ?? DEFAULT_SYNC_INTERVAL;
  if (!(syncInterval > 0)) {
    throw new RangeError(`Cannot use sync interval "${syncInterval}": not a positive number`);
  }
  const signal = options.signal;
  signal?.throwIfAborted();

  const counters = new Counters(options.observer);
  const transport = NetTransport.listen({
    bindAddr: options.bindAddr ?? DEFAULT_BIND_ADDR,
    port,
    keys: key ? [key] : [],
    counters,
  });
  const advertise = { ip: advertiseIp, port: transport.port };
  const name = options.nodeName ?? defaultNodeName();
  const engine = new Engine({
    name,
    advertise,
    meta,
    timings,
    clock: realClock,
    random: Math.random,
    transport,
    logger: log,
    incarnation: freshIncarnation(),
    freshIncarnation,
    counters,
  });
  const join = (to: { ip: string; port: number }) =>
    new Promise<void>((resolve, reject) =>
      engine.pushPull(to, true, (error) => error ? reject(error) : resolve())
    );
  const discovery = new Discovery({
    seeds: options.join ?? [],
    peerDomain: options.peerDomain,
    dnsServer: options.dnsServer,
    syncInterval,
    port: transport.port,
    self: advertise,
    join,
    known: () => new Set(engine.liveAddresses().map((a) => hostPortKey(a.ip, a.port))),
    logger: log,
  });
  transport.start(engine);
  engine.start();
  discovery.start();
  const started = performance.now();
  log.info("Cluster node {name} listening on {address}", {
    name,
    address: formatHostPort(advertise),
  });

  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      signal?.removeEventListener("abort", onAbort);
      engine.stop();
      await discovery.stop();
      await transport.close();
      resolveFinished();
    })();
    return stopping;
  };
  const leave = async (timeoutMs = DEFAULT_LEAVE_TIMEOUT): Promise<void> => {
    if (stopping) return stopping;
    await new Promise<void>((resolve) => engine.leave(timeoutMs, resolve));
    await shutdown();
  };
  const onAbort = () => void leave();
  signal?.addEventListener("abort", onAbort, { once: true });

  return {
    localName: name,
    address: formatHostPort(advertise),
    finished,
    members: () => engine.members(),
    updateMeta: (m) => engine.updateMeta(m),
    join: (seeds) => discovery.joinSeeds(seeds),
    get synced() {
      return engine.synced ||
        (!discovery.active && performance.now() - started >= syncInterval);
    },
    onEvent: (listener) => engine.onEvent(listener),
    stats: () => ({
      ...counters.snapshot(),
      awareness: engine.awareness,
      members: engine.size,
    }),
    leave,
    shutdown,
  };
}
