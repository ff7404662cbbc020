/**
 * The tunnel's wire protocol, spoken by `server/` and `client/`: a frame codec, request and
 * response heads, the multiplexing {@linkcode TunnelSession} with per-stream flow control, the
 * limits both sides share, and the byte-exact HTTP/1.1 client both use to replay requests (the
 * client to the local app, a replica to the replica holding a channel).
 *
 * @example
 * ```ts
 * import { encodeRequestHead, TunnelSession } from "./mod.ts";
 * const session = new TunnelSession(socket, { role: "server" });
 * const stream = session.openStream();
 * stream.sendHead(encodeRequestHead({ method: "POST", target: "/", headers: [] }));
 * await stream.sendBody(request.body);
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./frame.ts";
export * from "./head.ts";
export * from "./headers.ts";
export * from "./http1.ts";
export * from "./limits.ts";
export * from "./session.ts";
