/**
 * Small HTTP helpers for the server's handlers.
 *
 * @module
 */

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
 * An error response with body `{"error": message}`.
 * @param status HTTP status.
 * @param message What went wrong and, where possible, what to do.
 * @param headers Extra headers (e.g. `Retry-After`).
 * @returns The response.
 */
export function errorResponse(status: number, message: string, headers?: HeadersInit): Response {
  return jsonResponse(status, { error: message }, headers);
}
