/**
 * Getting a channel: reuse the one saved in the state file, or ask the server's `GET /new` for a
 * fresh one (and save it).
 *
 * @module
 */
import { loadChannel, saveChannel, type SavedChannel } from "./state.ts";
import { CLIENT_DEFAULTS, type ClientOptions } from "./options.ts";
import { fetchJson } from "../http1/mod.ts";

/** The client cannot go on (bad server URL, refused token, protocol mismatch). */
export class ClientError extends Error {
  /**
   * Creates the error.
   * @param message What went wrong and what to do.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientError";
  }
}

/** A channel and whether it was issued just now (a fresh channel cannot be stale). */
export interface ObtainedChannel extends SavedChannel {
  /** True when `GET /new` issued it in this run. */
  fresh: boolean;
}

/**
 * Returns `url` with a trailing slash and no query, so relative paths resolve below it.
 * @param url A server URL, possibly with a path prefix.
 * @returns The base URL.
 */
export function baseUrl(url: URL): URL {
  const copy = new URL(url.href);
  if (!copy.pathname.endsWith("/")) copy.pathname += "/";
  copy.search = "";
  copy.hash = "";
  return copy;
}

/**
 * The saved channel for this server and target, unless `--new-channel`; else a new one.
 * @param options Client options.
 * @param serverUrl The server.
 * @param targetUrl The local app.
 * @returns The channel.
 * @throws {ClientError} When the server cannot be reached or refuses.
 */
export async function obtainChannel(
  options: ClientOptions,
  serverUrl: URL,
  targetUrl: URL,
): Promise<ObtainedChannel> {
  if (options.stateFile && !options.newChannel) {
    const saved = await loadChannel(options.stateFile, serverUrl.href, targetUrl.href);
    if (saved) return { ...saved, fresh: false };
  }
  return await issueChannel(options, serverUrl, targetUrl);
}

/**
 * Asks `GET /new` for a channel and saves it to the state file.
 * @param options Client options (token, TLS, state file).
 * @param serverUrl The server.
 * @param targetUrl The local app (part of the state file key).
 * @returns The new channel.
 * @throws {ClientError} When the server cannot be reached, refuses, or answers nonsense.
 */
export async function issueChannel(
  options: ClientOptions,
  serverUrl: URL,
  targetUrl: URL,
): Promise<ObtainedChannel> {
  const headers: Record<string, string> = {};
  if (options.authToken) headers.authorization = `Bearer ${options.authToken}`;
  let answer: { status: number; text: string };
  try {
    answer = await fetchJson(new URL("new", baseUrl(serverUrl)), {
      headers,
      caCerts: options.caCerts,
      insecure: options.insecure,
      timeout: CLIENT_DEFAULTS.issueTimeout,
    });
  } catch (error) {
    const detail = describeError(error);
    const hint = /certificate|UnknownIssuer|InvalidData|tls/i.test(detail)
      ? " (a private CA: pass --ca-file; a self-signed development server: --insecure)"
      : "";
    throw new ClientError(`Cannot reach the server at ${serverUrl.origin}: ${detail}${hint}`, {
      cause: error,
    });
  }
  if (answer.status !== 200) {
    throw new ClientError(
      `The server refused to issue a channel (HTTP ${answer.status}): ${answer.text.slice(0, 300)}`,
    );
  }
  let body: { channel_id?: unknown; channel_secret?: unknown };
  try {
    body = JSON.parse(answer.text);
  } catch {
    body = {};
  }
  if (typeof body.channel_id !== "string" || typeof body.channel_secret !== "string") {
    throw new ClientError(
      `The server at ${serverUrl.origin} did not answer GET /new with a channel_id and channel_secret: is it a webhook-over-websocket server of this release?`,
    );
  }
  const channel = { channel_id: body.channel_id, channel_secret: body.channel_secret };
  if (options.stateFile) {
    await saveChannel(options.stateFile, serverUrl.href, targetUrl.href, channel);
  }
  return { ...channel, fresh: true };
}

/**
 * An error's message followed by its causes' messages (`fetch failed: invalid peer certificate`).
 * @param error Anything thrown.
 * @returns One line.
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e = error; e !== undefined && parts.length < 4; e = (e as Error)?.cause) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.includes(message)) parts.push(message);
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ");
}
