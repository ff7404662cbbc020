/**
 * The one error type handlers throw to refuse a request, rendered to JSON in one place
 * ({@linkcode HttpError.toReply}), and the refusals more than one route gives, each status and
 * message written once.
 *
 * @example
 * ```ts
 * import { HttpError } from "./http_error.ts";
 * throw new HttpError(409, `Channel "x" already has a client connected`, { log: true });
 * ```
 *
 * @module
 */
import { type ErrorReason, errorReply } from "./_http.ts";
import type { Reply } from "../http1/mod.ts";
import { CHANNEL_SECRET_HEADER } from "../protocol/wire.ts";

/** Options for {@linkcode HttpError}. */
export interface HttpErrorOptions {
  /** Machine-readable reason sent beside the message. */
  reason?: ErrorReason;
  /** Extra response headers (e.g. `Retry-After`). */
  headers?: Record<string, string>;
  /** Log the refusal as a warning (`Refused {method} {path} from {ip}: …`). @default false */
  log?: boolean;
  /** What caused it. */
  cause?: unknown;
}

/** A refusal with its HTTP status; the app answers `{"error": message, "reason"?}`. */
export class HttpError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** Machine-readable reason, if any. */
  readonly reason?: ErrorReason;
  /** Extra response headers. */
  readonly headers?: Record<string, string>;
  /** Whether the refusal is logged as a warning. */
  readonly log: boolean;

  /**
   * Creates the error.
   * @param status HTTP status.
   * @param message What went wrong and, where possible, what to do.
   * @param options Reason, headers, logging, cause.
   */
  constructor(status: number, message: string, options: HttpErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.reason = options.reason;
    this.headers = options.headers;
    this.log = options.log ?? false;
  }

  /**
   * The JSON answer for this error, as the server writes it.
   * @returns The reply.
   */
  toReply(): Reply {
    return errorReply(this.status, this.message, this.headers, this.reason);
  }
}

/** `Retry-After` seconds for requests refused while shutting down (a replica takes over). */
export const SHUTDOWN_RETRY_AFTER = 5;

/**
 * 503 while the server drains: webhooks, `/new` and `/ws` should go to another replica.
 * @returns The error.
 */
export function shuttingDown(): HttpError {
  return new HttpError(503, "The server is shutting down; retry shortly", {
    headers: { "retry-after": String(SHUTDOWN_RETRY_AFTER) },
  });
}

/**
 * 401 without a valid `--auth-token` bearer token.
 * @returns The error.
 */
export function tokenRequired(): HttpError {
  return new HttpError(
    401,
    "This server requires a token: pass --auth-token (Authorization: Bearer)",
    { reason: "auth_token", log: true },
  );
}

/**
 * 503 when this replica already holds `--max-channels`.
 * @returns The error.
 */
export function channelsFull(): HttpError {
  return new HttpError(503, "This server holds its maximum number of channels; try later", {
    log: true,
  });
}

/**
 * 403 for an id that is not a channel anyone issued.
 * @param id The id asked for.
 * @returns The error.
 */
export function unknownChannel(id: string): HttpError {
  return new HttpError(403, `Unknown channel "${id}": get one from GET /new`, {
    reason: "unknown_channel",
  });
}

/**
 * 401 for a missing or wrong channel secret.
 * @param id The channel.
 * @returns The error.
 */
export function wrongChannelSecret(id: string): HttpError {
  return new HttpError(
    401,
    `Missing or wrong channel secret for "${id}": send the channel_secret from GET /new in the "${CHANNEL_SECRET_HEADER}" header`,
    { reason: "channel_secret", log: true },
  );
}

/**
 * 404 for a path no route serves.
 * @param method The request method.
 * @param path The request path.
 * @returns The error.
 */
export function noRoute(method: string, path: string): HttpError {
  return new HttpError(404, `No route for ${method} ${path}`);
}

/**
 * 405 for a method no route at this path takes.
 * @param method The request method.
 * @returns The error.
 */
export function methodNotAllowed(method: string): HttpError {
  return new HttpError(405, `Method ${method} not allowed`);
}
