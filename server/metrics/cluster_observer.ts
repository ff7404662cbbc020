/**
 * The bridge from the cluster's counters to the server's metrics: `cluster/` tells a
 * {@linkcode ClusterObserver} of every counter it moves and knows nothing of Prometheus; this
 * maps the counters that matter onto {@linkcode ServerMetrics}' recording methods.
 *
 * @module
 */
import type { ClusterObserver } from "../../cluster/mod.ts";
import type { ServerMetrics } from "./server_metrics.ts";

/** Cluster counters that count a packet or stream dropped as undecodable or unauthenticated. */
const BAD_INPUT = new Set([
  "udpDecodeErrors",
  "udpDecryptErrors",
  "tcpDecodeErrors",
  "tcpDecryptErrors",
]);

/**
 * An observer to pass as `startCluster({ observer })`.
 * @param metrics The server's metrics.
 * @returns The observer.
 * @example
 * ```ts
 * import { clusterObserver, createServerMetrics } from "./mod.ts";
 * const observer = clusterObserver(createServerMetrics({ processMetrics: false }));
 * observer.counted("probeAcks", 1); // wow_cluster_probes_total{result="ok"} + 1
 * ```
 */
export function clusterObserver(metrics: ServerMetrics): ClusterObserver {
  return {
    counted(name: string, by: number): void {
      switch (name) {
        case "udpSent":
        case "tcpSent":
          return metrics.gossipMessage("out");
        case "udpReceived":
        case "tcpReceived":
          return metrics.gossipMessage("in");
        case "udpSentBytes":
        case "tcpSentBytes":
          return metrics.gossipBytes("out", by);
        case "udpReceivedBytes":
        case "tcpReceivedBytes":
          return metrics.gossipBytes("in", by);
        case "probeAcks":
        case "tcpFallbackSuccesses":
          return metrics.probed(true);
        case "probeFailures":
          return metrics.probed(false);
        case "suspicions":
          return metrics.suspected();
        case "refutations":
          return metrics.refuted();
        case "deadVerdicts":
          return metrics.declaredDead();
        default:
          if (BAD_INPUT.has(name)) metrics.badPacket();
      }
    },
  };
}
