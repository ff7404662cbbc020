/**
 * Limits and defaults of the tunnel protocol, in one place, each with the reason for its value.
 *
 * @module
 */

/** Protocol version spoken by this build; sent by the client on upgrade (header `PROTOCOL_HEADER` in `wire.ts`), checked by the server. */
export const PROTOCOL_VERSION = 1;

/**
 * Largest body chunk in one DATA frame. 64 KiB keeps a frame far below any WebSocket message
 * limit while amortising the 10-byte frame header to nothing.
 */
export const MAX_CHUNK_SIZE = 64 * 1024;

/**
 * Credit window per stream and direction: bytes a sender may have in flight before the receiver
 * grants more. 256 KiB is four chunks, enough to keep a loopback or LAN path busy, and bounds the
 * memory one stream can pin on the receiver no matter how slow its consumer is.
 */
export const STREAM_WINDOW = 256 * 1024;

/** A receiver grants credit back once this much of the window has been consumed (half a window). */
export const WINDOW_UPDATE_THRESHOLD = STREAM_WINDOW / 2;

/**
 * Largest encoded request or response head (method, path, headers). Matches the server's header
 * limits with room for JSON escaping.
 */
export const MAX_HEAD_SIZE = 128 * 1024;

/**
 * Largest WebSocket message we accept: frames are coalesced into messages up to
 * {@linkcode MAX_BATCH_SIZE}, and a single HEAD may be up to {@linkcode MAX_HEAD_SIZE}.
 */
export const MAX_MESSAGE_SIZE: number = MAX_HEAD_SIZE + 64 * 1024;

/**
 * Frames queued in the same tick are written as one WebSocket message up to this size; a larger
 * batch is split. Coalescing saves a syscall and a WebSocket header per frame.
 */
export const MAX_BATCH_SIZE = 128 * 1024;

/**
 * A sender stops writing DATA frames while the socket has more than this many bytes buffered and
 * waits for it to drain, so a slow peer bounds memory instead of growing a queue.
 */
export const SOCKET_HIGH_WATER = 1024 * 1024;

/** How often a sender waiting on {@linkcode SOCKET_HIGH_WATER} re-checks `bufferedAmount`, in ms. */
export const DRAIN_POLL_INTERVAL = 2;

/**
 * Keep-alive: the server pings an idle client after this many ms and drops it if the pong does not
 * come within the same time, so a dead peer is noticed in at most 2 × 12 s = 24 s (< 30 s).
 */
export const KEEPALIVE_INTERVAL = 12_000;

/** WebSocket close code for a normal closure (RFC 6455 §7.4.1). */
export const CLOSE_NORMAL = 1000;

/** WebSocket close code for a protocol violation (RFC 6455 §7.4.1). */
export const CLOSE_POLICY_VIOLATION = 1008;

/** WebSocket close code for a message too big to process (RFC 6455 §7.4.1). */
export const CLOSE_TOO_BIG = 1009;

/**
 * WebSocket close code (application range 4000-4999, 4409 for HTTP's 409 Conflict) for a session
 * closed because a newer client attached to its channel, on this replica or another: the client
 * stops instead of reconnecting, so two clients with one channel secret cannot take the channel
 * from each other forever.
 */
export const CLOSE_TAKEN_OVER = 4409;
