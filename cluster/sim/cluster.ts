/**
 * An in-process cluster of simulated nodes: real {@linkcode Engine}s on a virtual clock and a
 * seeded lossy virtual network. Deterministic for a given seed.
 *
 * @module
 */

import { Engine } from "../_engine.ts";
import { type Random, seededRandom } from "../_random.ts";
import { Counters, silentLogger } from "../_transport.ts";
import { DEFAULT_TIMINGS } from "../defaults.ts";
import type { MemberEvent, MemberState, SwimTimings } from "../types.ts";
import { Scheduler } from "./scheduler.ts";
import { type NetworkOptions, type SimHost, SimNetwork } from "./network.ts";

/** Options of a {@linkcode SimCluster}. */
export interface SimClusterOptions extends NetworkOptions {
  /** Seed of every random choice. @default 1 */
  seed?: number;
  /** Timing overrides. @default memberlist LAN defaults */
  timings?: Partial<SwimTimings>;
  /** Our refinements on (false: stock memberlist behaviour). @default true */
  extensions?: boolean;
}

/** One simulated node. */
export interface SimNode extends SimHost {
  /** Node name (`n0`, `n1`, …). */
  name: string;
  /** Counters of this node's engine. */
  counters: Counters;
}

/** Listener for events of every node: `observer` is the node that saw the event. */
export type SimEventListener = (observer: SimNode, event: MemberEvent, time: number) => void;

/** A simulated cluster. */
export class SimCluster {
  /** The virtual clock. */
  readonly scheduler = new Scheduler();
  /** The virtual network. */
  readonly network: SimNetwork;
  /** All nodes ever added, by index. */
  readonly nodes: SimNode[] = [];
  readonly #random: Random;
  readonly #timings: SwimTimings;
  readonly #listeners = new Set<SimEventListener>();
  readonly #extensions: boolean;

  /** Creates an empty cluster. */
  constructor(options: SimClusterOptions = {}) {
    const seed = options.seed ?? 1;
    this.#random = seededRandom(seed);
    this.network = new SimNetwork(this.scheduler, seededRandom(seed ^ 0x5eed), options);
    this.#timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.#extensions = options.extensions ?? true;
  }

  /** Current virtual time (ms). */
  get now(): number {
    return this.scheduler.now;
  }

  /** Subscribes to every node's member events. */
  onEvent(listener: SimEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds and starts a node (not joined yet). */
  addNode(): SimNode {
    const i = this.nodes.length;
    const host: SimNode = {
      name: `n${i}`,
      address: { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 7946 },
      stalledUntil: 0,
      dead: false,
      counters: new Counters(),
      engine: undefined as unknown as Engine,
    };
    host.engine = new Engine({
      name: host.name,
      advertise: host.address,
      meta: new Uint8Array(0),
      timings: this.#timings,
      clock: this.scheduler.clockFor(host),
      random: seededRandom(Math.floor(this.#random() * 2 ** 32)),
      transport: this.network.transportFor(host),
      logger: silentLogger,
      incarnation: 1,
      counters: host.counters,
      extensions: this.#extensions,
    });
    host.engine.onEvent((event) => {
      for (const l of this.#listeners) l(host, event, this.scheduler.now);
    });
    this.network.add(host);
    this.nodes.push(host);
    host.engine.start();
    return host;
  }

  /** Node `node` joins through `seed` (a push/pull with join set). */
  join(node: SimNode, seed: SimNode): void {
    node.engine.pushPull(seed.address, true, () => {});
  }

  /**
   * Adds `n` nodes; each joins a random earlier node, spaced by `spacing` ms; then runs until
   * every live node sees every other alive (or `timeout` ms pass).
   *
   * @returns The virtual ms from the last join to convergence, or -1 on timeout.
   */
  grow(n: number, spacing = 10, timeout = 120_000, step = 10): number {
    for (let i = 0; i < n; i++) {
      const node = this.addNode();
      if (this.nodes.length > 1) {
        const seed = this.nodes[Math.floor(this.#random() * (this.nodes.length - 1))];
        this.join(node, seed);
      }
      this.runFor(spacing);
    }
    const start = this.now;
    return this.runUntil(() => this.converged(), timeout, step) ? this.now - start : -1;
  }

  /** Live (not killed) nodes. */
  live(): SimNode[] {
    return this.nodes.filter((n) => !n.dead);
  }

  /** True when every live node sees every live node alive. */
  converged(): boolean {
    const live = this.live();
    for (const a of live) {
      if (a.engine.size < live.length) return false;
      for (const b of live) if (a.engine.stateOf(b.name) !== "alive") return false;
    }
    return true;
  }

  /** True when every live node other than `target` sees it in one of `states`. */
  allSee(target: SimNode, states: readonly (MemberState | undefined)[]): boolean {
    for (const a of this.live()) {
      if (a !== target && !states.includes(a.engine.stateOf(target.name))) return false;
    }
    return true;
  }

  /** Kills `node` at once (like kill -9: no leave, no more packets). */
  kill(node: SimNode): void {
    node.dead = true;
    node.engine.stop();
  }

  /** Stalls `node`'s event loop for `ms` from now. */
  stall(node: SimNode, ms: number): void {
    node.stalledUntil = this.now + ms;
  }

  /** Runs `ms` of virtual time. */
  runFor(ms: number): void {
    this.scheduler.run(this.now + ms);
  }

  /**
   * Runs until `predicate` holds or `timeout` ms pass, checking it every `step` ms of virtual
   * time (after every event when `step` is 0).
   *
   * @returns Whether the predicate held.
   */
  runUntil(predicate: () => boolean, timeout: number, step = 0): boolean {
    if (predicate()) return true;
    const end = this.now + timeout;
    if (step <= 0) return this.scheduler.run(end, predicate);
    while (this.now < end) {
      this.scheduler.run(Math.min(end, this.now + step));
      if (predicate()) return true;
    }
    return false;
  }

  /** Stops every engine. */
  stop(): void {
    for (const n of this.nodes) n.engine.stop();
  }
}
