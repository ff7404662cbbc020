/**
 * Header rules shared by both ends of the tunnel.
 *
 * @module
 */
import type { HeaderList } from "./head.ts";

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy never forwards
 * them. `host` is not here: the client replaces it with the target's.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** `HOP_BY_HOP_LENGTHS[n]` is 1 when a hop-by-hop header name has `n` characters. */
const HOP_BY_HOP_LENGTHS: Uint8Array = (() => {
  const lengths = new Uint8Array(Math.max(...[...HOP_BY_HOP_HEADERS].map((h) => h.length)) + 1);
  for (const name of HOP_BY_HOP_HEADERS) lengths[name.length] = 1;
  return lengths;
})();

/**
 * Returns the end-to-end headers of a header list: drops hop-by-hop headers and any header the
 * `Connection` header names.
 *
 * @param headers `[name, value]` pairs.
 * @returns A new list without hop-by-hop headers, names lower-cased, order and repeats kept (pairs
 *   already lower-case are the given ones, not copies).
 */
export function endToEndHeaders(headers: Iterable<[string, string]>): HeaderList {
  const pairs = Array.isArray(headers) ? headers : [...headers];
  const list: HeaderList = [];
  let named: Set<string> | undefined;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i];
    const name = pair[0];
    const lower = name.toLowerCase();
    // Only names of a hop-by-hop header's length need the set lookup.
    if (HOP_BY_HOP_LENGTHS[lower.length] === 1 && HOP_BY_HOP_HEADERS.has(lower)) {
      if (lower === "connection") {
        named ??= new Set();
        for (const token of pair[1].split(",")) named.add(token.trim().toLowerCase());
      }
      continue;
    }
    list.push(lower === name ? pair : [lower, pair[1]]);
  }
  return named === undefined ? list : list.filter(([name]) => !named.has(name));
}

/**
 * Turns Node's flat `rawHeaders` list (`[name, value, name, value, …]`) into pairs, keeping order
 * and repeats.
 * @param raw The flat list.
 * @returns `[name, value]` pairs.
 */
export function rawHeaderPairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1). */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

/**
 * Whether a response to `method` with `status` carries a body: never for `HEAD` requests nor for
 * 204, 205 and 304 answers.
 * @param method The request method.
 * @param status The response status.
 * @returns Whether a body follows.
 */
export function responseHasBody(method: string, status: number): boolean {
  return method !== "HEAD" && !NULL_BODY_STATUSES.has(status);
}
