/**
 * The same figures on real sockets: in-process nodes via {@linkcode startCluster}, each on its
 * own loopback address (127.0.0.11, .12, …) and the same port, with default (LAN) timings.
 * One process hosts every node; at LAN timings the load is negligible, so the figures match
 * separate processes closely (the lead's benchmark also runs separate processes).
 *
 * @module
 */

import { type ClusterHandle, startCluster } from "../mod.ts";
import type { SwimTimings } from "../types.ts";
import { type Distribution, distribution } from "./figures.ts";

/** Options of {@linkcode measureRealCluster}. */
export interface RealClusterOptions {
  /** Replicas. @default 5 */
  replicas?: number;
  /** Kill trials. @default 5 */
  trials?: number;
  /** First loopback host number (`127.0.0.<first>`). @default 11 */
  firstHost?: number;
  /** Timing overrides. @default LAN defaults */
  timings?: Partial<SwimTimings>;
  /** Per-wait bound in ms. @default 30_000 */
  timeout?: number;
}

/** Results of {@linkcode measureRealCluster}. */
export interface RealClusterFigures {
  /** Kill (shutdown without leave) → every survivor marks it dead (ms). */
  detection: Distribution;
  /** A new member joins → every member sees it alive (ms). */
  joinSeen: Distribution;
}

async function waitFor(predicate: () => boolean, timeout: number): Promise<number> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeout) throw new Error("Timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - start;
}

function sees(node: ClusterHandle, name: string, state: string): boolean {
  return node.members().some((m) => m.name === name && m.state === state);
}

/**
 * Starts `replicas` nodes, then per trial kills one and restarts it under a new name (a fresh
 * join), measuring detection and join visibility.
 */
export async function measureRealCluster(
  options: RealClusterOptions = {},
): Promise<RealClusterFigures> {
  const replicas = options.replicas ?? 5;
  const trials = options.trials ?? 5;
  const first = options.firstHost ?? 11;
  const timeout = options.timeout ?? 30_000;
  const nodes: ClusterHandle[] = [];
  const detection: number[] = [];
  const joinSeen: number[] = [];
  let port = 0;
  let serial = 0;
  const start = async (slot: number): Promise<ClusterHandle> => {
    const ip = `127.0.0.${first + slot}`;
    const node = await startCluster({
      nodeName: `real-${slot}-${serial++}`,
      bindAddr: ip,
      advertiseAddr: ip,
      port,
      timings: options.timings,
    });
    port = Number(node.address.split(":")[1]);
    return node;
  };
  try {
    for (let i = 0; i < replicas; i++) {
      const node = await start(i);
      if (i > 0) await node.join([nodes[0].address]);
      nodes.push(node);
    }
    await waitFor(
      () => nodes.every((n) => n.members().filter((m) => m.state === "alive").length >= replicas),
      timeout,
    );
    for (let t = 0; t < trials; t++) {
      const slot = t % replicas;
      const victim = nodes[slot];
      const others = nodes.filter((n) => n !== victim);
      await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000));
      await victim.shutdown();
      detection.push(
        await waitFor(() => others.every((n) => sees(n, victim.localName, "dead")), timeout),
      );
      // Restart in the same slot under a new name (a dead name cannot move address until
      // reaped, as in memberlist) and measure how fast everyone sees it.
      const fresh = await start(slot);
      const joinedAt = performance.now();
      await fresh.join([others[0].address]);
      nodes[slot] = fresh;
      await waitFor(() => others.every((n) => sees(n, fresh.localName, "alive")), timeout);
      joinSeen.push(performance.now() - joinedAt);
    }
  } finally {
    await Promise.all(nodes.map((n) => n.shutdown()));
  }
  return { detection: distribution(detection), joinSeen: distribution(joinSeen) };
}
