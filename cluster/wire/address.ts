/**
 * IP addresses as memberlist carries them: raw bytes, 4 for IPv4 and 16 for IPv6.
 *
 * @module
 */

const IPV4_BYTES = 4;
const IPV6_BYTES = 16;
const IPV6_GROUPS = 8;
const MAX_OCTET = 255;
const MAX_GROUP = 0xffff;
const HEX = 16;
const BYTE_BITS = 8;
/** Bytes 10 and 11 of an IPv4-mapped IPv6 address are ff ff (`::ffff:a.b.c.d`). */
const V4_MAPPED_PREFIX_BYTES = 10;

function parseIpv4(ip: string): Uint8Array | undefined {
  const parts = ip.split(".");
  if (parts.length !== IPV4_BYTES) return undefined;
  const out = new Uint8Array(IPV4_BYTES);
  for (let i = 0; i < IPV4_BYTES; i++) {
    const p = parts[i];
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > MAX_OCTET) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(ip: string): Uint8Array | undefined {
  const zone = ip.indexOf("%");
  if (zone >= 0) ip = ip.slice(0, zone);
  let tail: Uint8Array | undefined;
  const lastColon = ip.lastIndexOf(":");
  if (lastColon >= 0 && ip.indexOf(".", lastColon) >= 0) {
    tail = parseIpv4(ip.slice(lastColon + 1));
    if (!tail) return undefined;
    ip = ip.slice(0, lastColon + 1) + "0:0";
  }
  const halves = ip.split("::");
  if (halves.length > 2) return undefined;
  const toGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const groups: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      groups.push(parseInt(g, HEX));
    }
    return groups;
  };
  const head = toGroups(halves[0]);
  const rest = halves.length === 2 ? toGroups(halves[1]) : [];
  if (!head || !rest) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = IPV6_GROUPS - head.length - rest.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== IPV6_GROUPS) return undefined;
  const out = new Uint8Array(IPV6_BYTES);
  groups.forEach((g, i) => {
    if (g > MAX_GROUP) return;
    out[2 * i] = g >> BYTE_BITS;
    out[2 * i + 1] = g & MAX_OCTET;
  });
  if (tail) out.set(tail, IPV6_BYTES - IPV4_BYTES);
  return out;
}

/**
 * Converts an IP string to memberlist's raw address bytes: 4 bytes for IPv4 (as Go sends),
 * 16 for IPv6. IPv4-mapped IPv6 strings (`::ffff:1.2.3.4`) become 4 bytes.
 *
 * @param ip Dotted IPv4 or textual IPv6 (brackets and zone allowed).
 * @returns 4 or 16 bytes.
 * @throws {TypeError} When `ip` is not an IP address.
 *
 * @example
 * ```ts
 * import { ipToBytes } from "./mod.ts";
 * ipToBytes("127.0.0.21"); // Uint8Array [127, 0, 0, 21]
 * ```
 */
export function ipToBytes(ip: string): Uint8Array {
  const bare = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const v4 = parseIpv4(bare);
  if (v4) return v4;
  const v6 = bare.includes(":") ? parseIpv6(bare) : undefined;
  if (!v6) throw new TypeError(`Cannot parse IP address "${ip}"`);
  return isV4Mapped(v6) ? v6.slice(IPV6_BYTES - IPV4_BYTES) : v6;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < V4_MAPPED_PREFIX_BYTES; i++) if (b[i] !== 0) return false;
  return b[V4_MAPPED_PREFIX_BYTES] === MAX_OCTET && b[V4_MAPPED_PREFIX_BYTES + 1] === MAX_OCTET;
}

/**
 * Converts memberlist's raw address bytes to an IP string. Like Go's `net.IP.String`, a
 * 16-byte IPv4-mapped address (what Go advertises when bound to 0.0.0.0) prints as IPv4.
 *
 * @param bytes 4 or 16 bytes.
 * @returns Dotted IPv4 or RFC 5952 IPv6 text.
 * @throws {RangeError} When `bytes` is not 4 or 16 bytes long.
 *
 * @example
 * ```ts
 * import { bytesToIp } from "./mod.ts";
 * bytesToIp(new Uint8Array([127, 0, 0, 21])); // "127.0.0.21"
 * ```
 */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === IPV4_BYTES) return bytes.join(".");
  if (bytes.length !== IPV6_BYTES) {
    throw new RangeError(`Cannot format IP address: expected 4 or 16 bytes, got ${bytes.length}`);
  }
  if (isV4Mapped(bytes)) return bytes.subarray(IPV6_BYTES - IPV4_BYTES).join(".");
  const groups: number[] = [];
  for (let i = 0; i < IPV6_GROUPS; i++) groups.push((bytes[2 * i] << BYTE_BITS) | bytes[2 * i + 1]);
  // RFC 5952: compress the longest run (≥ 2) of zero groups, the first one on ties.
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < IPV6_GROUPS;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < IPV6_GROUPS && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(HEX));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
