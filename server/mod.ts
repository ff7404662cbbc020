/**
 * The public server of webhook-over-websocket: `GET /new` issues channels, `GET /ws/{id}` accepts
 * a client's tunnel, `ANY /webhook/{id}/…` is delivered through it, and `/traefik-config`,
 * `/internal/*`, `/healthz` serve operators.
 *
 * @example
 * ```ts
 * import { startServer } from "./mod.ts";
 * const server = await startServer({ port: 8080 });
 * await server.finished;
 * ```
 *
 * @module
 */
export { startServer } from "./server.ts";
export type { ServerHandle } from "./server.ts";
export { CHANNEL_SECRET_HEADER } from "./server.ts";
export { assertServerOptions, SERVER_DEFAULTS } from "./options.ts";
export type { ServerOptions } from "./options.ts";
export { readTokenFile } from "./access.ts";
export { CidrSet, parseCidr } from "./cidr.ts";
export type { AttachResult, Channel, ChannelRegistry } from "./channels.ts";
export type { ReplicaInfo, Replicas } from "./replicas.ts";
export type { TunnelSession } from "../protocol/mod.ts";
export type { ClusterHandle, Member } from "../cluster/mod.ts";
export { createServerMetrics, SERVER_METRICS } from "./metrics/mod.ts";
