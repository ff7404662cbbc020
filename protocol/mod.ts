/**
 * The tunnel's wire protocol, spoken by `server/` and `client/`: a frame codec, request and
 * response heads, the multiplexing {@linkcode TunnelSession} with per-stream flow control, and
 * the limits both sides share. The byte-exact HTTP/1.1 client both use to replay requests lives
 * in its own package, `http1/`.
 *
 * @example
 * ```ts
 * import { encodeRequestHead, type FrameTransport, TunnelSession } from "./mod.ts";
 * // Any WebSocket-shaped socket; this one drops what it is sent.
 * const socket: FrameTransport = { send: () => {}, bufferedAmount: 0 };
 * const session = new TunnelSession(socket, { role: "server" });
 * const stream = session.openStream();
 * stream.sendHead(encodeRequestHead({ method: "POST", target: "/", headers: [] }));
 * console.log(session.activeStreams);
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./frame.ts";
export * from "./head.ts";
export * from "./headers.ts";
export * from "./limits.ts";
export * from "./queued.ts";
export * from "./session.ts";
export * from "./wire.ts";
