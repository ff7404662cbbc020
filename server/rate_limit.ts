/**
 * Per-client rate limiting for `GET /new`: a token bucket per client IP.
 *
 * @module
 */

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
 * The client IP to rate-limit by: the peer address, or, when the peer is a proxy on a private or
 * loopback address (Traefik, a load balancer) and sent `X-Forwarded-For`, the last address in
 * that header (the one the proxy itself saw).
 *
 * @param request The request.
 * @param peer The TCP peer address.
 * @returns The IP.
 */
export function clientIp(request: Request, peer: string): string {
  const forwarded = request.headers.get("x-forwarded-for");
  if (!forwarded || !isPrivateAddress(peer)) return peer;
  const last = forwarded.split(",").map((part) => part.trim()).filter(Boolean).pop();
  return last ?? peer;
}

function isPrivateAddress(ip: string): boolean {
  const v4 = ip.replace(/^::ffff:/i, "");
  return /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.)/.test(v4) ||
    /^(::1$|f[cd][0-9a-f]{2}:|fe[89ab][0-9a-f]:)/i.test(ip);
}
