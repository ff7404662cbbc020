/**
 * IP addresses and CIDR ranges (IPv4 and IPv6), for `--trusted-proxy`: which peers may say who
 * the client is in `X-Forwarded-For`.
 *
 * @example
 * ```ts
 * import { CidrSet } from "./cidr.ts";
 * const trusted = new CidrSet(["10.0.0.0/8", "::1"]);
 * trusted.has("10.1.2.3"); // true
 * ```
 *
 * @module
 */

/** A parsed range: the address bytes (4 or 16) and the prefix length in bits. */
export interface Cidr {
  /** Network address bytes. */
  readonly bytes: Uint8Array;
  /** Prefix length in bits. */
  readonly prefix: number;
}

/**
 * Parses an IPv4 or IPv6 address to bytes; an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`)
 * becomes its 4 IPv4 bytes, so either spelling matches the same range.
 * @param text The address, without brackets or port.
 * @returns 4 or 16 bytes, or `undefined` when `text` is no IP address.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = parseIPv4(text);
  if (v4) return v4;
  const v6 = parseIPv6(text);
  if (!v6) return undefined;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = parts.map((part) => /^(0|[1-9]\d{0,2})$/.test(part) ? Number(part) : NaN);
  return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : undefined;
}

function parseIPv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text)) return undefined;
  let tail: Uint8Array | undefined;
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    // An embedded IPv4 tail: ::ffff:1.2.3.4.
    tail = parseIPv4(text.slice(lastColon + 1));
    if (!tail) return undefined;
    body = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => half === "" ? [] : half.split(":");
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (!all.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined;
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  if (tail) bytes.set(tail, 12);
  return bytes;
}

/**
 * Parses `addr/prefix` or a bare address (a range of one).
 * @param text E.g. `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`.
 * @returns The range.
 * @throws {TypeError} When `text` is no address or range.
 * @example
 * ```ts
 * import { parseCidr } from "./cidr.ts";
 * parseCidr("172.16.0.0/12").prefix; // 12
 * ```
 */
export function parseCidr(text: string): Cidr {
  const [address, prefixText, ...more] = text.trim().split("/");
  const bytes = parseIp(address.replace(/^\[(.*)\]$/, "$1"));
  const bits = (bytes?.length ?? 0) * 8;
  const mappedV4 = bytes?.length === 4 && address.includes(":");
  let prefix = prefixText === undefined ? bits : Number(prefixText);
  // ::ffff:10.0.0.0/104 names the same range as 10.0.0.0/8.
  if (mappedV4 && prefixText !== undefined) prefix -= 96;
  if (
    !bytes || more.length > 0 ||
    (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) || !(prefix >= 0 && prefix <= bits)
  ) {
    throw new TypeError(
      `Expected an IP address or CIDR range such as "10.0.0.0/8" or "fd00::/8", got "${text}"`,
    );
  }
  return { bytes, prefix };
}

/**
 * Whether `ip` (bytes from {@linkcode parseIp}) lies in `range`.
 * @param range The range.
 * @param ip The address bytes.
 * @returns Whether it matches (an IPv4 address never matches an IPv6 range and vice versa).
 */
export function cidrContains(range: Cidr, ip: Uint8Array): boolean {
  if (ip.length !== range.bytes.length) return false;
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (ip[i] !== range.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[whole] & mask) === (range.bytes[whole] & mask);
}

/** A set of ranges; see the module doc. */
export class CidrSet {
  #ranges: Cidr[];

  /**
   * @param ranges Range texts (see {@linkcode parseCidr}).
   * @throws {TypeError} When one is no range.
   */
  constructor(ranges: readonly string[] = []) {
    this.#ranges = ranges.map(parseCidr);
  }

  /** True when the set has no range. */
  get empty(): boolean {
    return this.#ranges.length === 0;
  }

  /**
   * Whether `ip` lies in one of the ranges.
   * @param ip An address text; one that is no IP address is in no range.
   * @returns Whether it matches.
   */
  has(ip: string): boolean {
    const bytes = parseIp(ip);
    return bytes !== undefined && this.#ranges.some((range) => cidrContains(range, bytes));
  }
}
