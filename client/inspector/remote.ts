/**
 * The `replay` command's side: asks a running client's inspector API to replay one delivery.
 *
 * @module
 */
import type { DeliveryDetail } from "./recorder.ts";
import { formatVerdict } from "../verify/verdict.ts";
import { parseInspectAddr } from "./server.ts";

/** Options for {@linkcode replayRemote}. */
export interface ReplayRemoteOptions {
  /** The running client's `--inspect-addr`. */
  addr: string;
  /** Replay to this URL instead of the client's target. */
  targetUrl?: string;
  /** The client's `--inspect-token`. */
  token?: string;
  /** Aborts the call. */
  signal?: AbortSignal;
}

/** The inspector answered with an error (unknown id, refused, …). */
export class ReplayRemoteError extends Error {
  /**
   * @param message What the inspector said.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReplayRemoteError";
  }
}

/**
 * Replays a delivery through a running client's `POST /api/deliveries/{id}/replay`.
 * @param id The delivery id.
 * @param options Address, target, token.
 * @returns The new delivery record.
 * @throws {ReplayRemoteError} When the inspector cannot be reached or refuses.
 */
export async function replayRemote(
  id: string,
  options: ReplayRemoteOptions,
): Promise<DeliveryDetail> {
  const { hostname, port } = parseInspectAddr(options.addr);
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const connectTo = host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host;
  const url = `http://${connectTo}:${port}/api/deliveries/${encodeURIComponent(id)}/replay`;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify(options.targetUrl ? { target_url: options.targetUrl } : {}),
      signal: options.signal,
    });
  } catch (error) {
    throw new ReplayRemoteError(
      `Cannot reach the inspector at ${connectTo}:${port}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.status !== 201) {
    const reason = (body as { error?: string } | undefined)?.error ?? text.slice(0, 200);
    throw new ReplayRemoteError(`The inspector refused: HTTP ${response.status} ${reason}`);
  }
  return body as DeliveryDetail;
}

/**
 * One line for a delivery: id, method, path, status (or outcome), duration, what it replays, and
 * the signature verdict when there is one.
 * @param delivery A record.
 * @returns e.g. `0mx9… POST /hook 200 3.1ms replay_of=0mx8… verify=valid (github)`.
 */
export function statusLine(delivery: DeliveryDetail): string {
  const status = delivery.status ?? delivery.outcome;
  const replay = delivery.replay_of ? ` replay_of=${delivery.replay_of}` : "";
  const verify = delivery.verification ? ` verify=${formatVerdict(delivery.verification)}` : "";
  return `${delivery.id} ${delivery.method} ${delivery.path} ${status} ${delivery.duration_ms}ms${replay}${verify}`;
}
