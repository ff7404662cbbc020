/**
 * Small HTTP helpers for the server's handlers.
 *
 * @module
 */
import { Reply } from "../http1/mod.ts";

/**
 * A JSON response.
 * @param status HTTP status.
 * @param body Any JSON-serialisable value.
 * @param headers Extra headers.
 * @returns The response.
 */
export function jsonResponse(status: number, body: unknown, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify(body), { status, headers });
  response.headers.set("content-type", "application/json; charset=utf-8");
  return response;
}

/**
 * Machine-readable reasons a client can act on, sent beside the message as `"reason"`:
 * `auth_token` (fix the token), `channel_secret` / `unknown_channel` (get a new channel),
 * `offline_mode` (the server refuses the client's `--offline` mode: pick another).
 */
export type ErrorReason = "auth_token" | "channel_secret" | "unknown_channel" | "offline_mode";

/**
 * An error answer with body `{"error": message}` (plus `"reason"` when given), as a {@linkcode Reply} (what the webhook path
 * answers with: no `Headers` or stream to build).
 * @param status HTTP status.
 * @param message What went wrong and, where possible, what to do.
 * @param headers Extra headers (e.g. `Retry-After`).
 * @param reason Machine-readable reason.
 * @returns The reply.
 */
export function errorReply(
  status: number,
  message: string,
  headers?: Record<string, string>,
  reason?: ErrorReason,
): Reply {
  return Reply.json(
    status,
    reason ? { error: message, reason } : { error: message },
    headers ? Object.entries(headers) : [],
  );
}
