/**
 * Per-client rate limiting for `GET /new`: a token bucket per client IP.
 *
 * @module
 */
import { type CidrSet, parseIp } from "./cidr.ts";
import type { HeaderLookup } from "../protocol/providers.ts";

/** Options for {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Requests allowed per window (also the burst size). */
  limit: number;
  /** Window length in ms. @default 60000 */
  windowMs?: number;
  /** Clock. @default Date.now */
  now?: () => number;
}

/** Most buckets kept; beyond this, idle (full) buckets are dropped first. */
const MAX_BUCKETS = 100_000;

/** A token bucket per key, refilled continuously at `limit` per window. */
export class RateLimiter {
  #limit: number;
  #windowMs: number;
  #now: () => number;
  #buckets = new Map<string, { tokens: number; at: number }>();

  /** @param options Limit and window. */
  constructor(options: RateLimiterOptions) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Takes one token for `key`.
   * @param key Usually the client IP.
   * @returns 0 when allowed, else the seconds until a token is available (for `Retry-After`).
   */
  take(key: string): number {
    if (this.#limit <= 0) return 0;
    const now = this.#now();
    const rate = this.#limit / this.#windowMs;
    const bucket = this.#buckets.get(key) ?? { tokens: this.#limit, at: now };
    bucket.tokens = Math.min(this.#limit, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > MAX_BUCKETS) this.#evict();
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000));
  }

  #evict(): void {
    // Map iteration is in insertion order and take() re-inserts, so the first entries are the
    // least recently used.
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size <= MAX_BUCKETS / 2) break;
      this.#buckets.delete(key);
    }
  }
}

/**
 * The client IP to rate-limit by. From a peer outside `trusted` (`--trusted-proxy`; none by
 * default) it is the peer itself, whatever `X-Forwarded-For` says: behind source NAT every peer
 * looks private, so a private address proves nothing. From a trusted proxy it is the right-most
 * `X-Forwarded-For` hop that is not itself a trusted proxy (the address the last trusted hop
 * saw; everything left of it was written by the client); a hop that is no IP address stops the
 * walk at the trusted hop right of it.
 *
 * @param request The request's headers (a `ServerRequest` or `Headers`).
 * @param peer The TCP peer address.
 * @param trusted The trusted proxies. @default none
 * @returns The IP.
 * @example
 * ```ts
 * import { CidrSet } from "./cidr.ts";
 * import { clientIp } from "./rate_limit.ts";
 * const request = new Request("http://x/new", { headers: { "x-forwarded-for": "6.6.6.6, 192.0.2.7" } });
 * clientIp(request.headers, "10.0.0.2", new CidrSet(["10.0.0.0/8"])); // "192.0.2.7"
 * clientIp(request.headers, "10.0.0.2"); // "10.0.0.2"
 * ```
 */
export function clientIp(request: HeaderLookup, peer: string, trusted?: CidrSet): string {
  if (!trusted?.has(peer)) return peer;
  const hops = (request.get("x-forwarded-for") ?? "").split(",").map(hostOfHop);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    if (parseIp(hop) === undefined) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

/** A forwarded-for hop without spaces, brackets or port (`[2001:db8::1]:443`, `1.2.3.4:80`). */
function hostOfHop(hop: string): string {
  const text = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) return bracketed[1];
  return /^[\d.]+:\d+$/.test(text) ? text.replace(/:\d+$/, "") : text;
}
