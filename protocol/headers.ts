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

/**
 * Returns the end-to-end headers of a header list: drops hop-by-hop headers and any header the
 * `Connection` header names.
 *
 * @param headers Lower-case `[name, value]` pairs.
 * @returns A new list without hop-by-hop headers, order and repeats kept.
 */
export function endToEndHeaders(headers: Iterable<[string, string]>): HeaderList {
  const list = [...headers].map(([name, value]): [string, string] => [name.toLowerCase(), value]);
  const named = new Set<string>();
  for (const [name, value] of list) {
    if (name === "connection") {
      for (const token of value.split(",")) named.add(token.trim().toLowerCase());
    }
  }
  return list.filter(([name]) => !HOP_BY_HOP_HEADERS.has(name) && !named.has(name));
}
