/**
 * Flag value parsers for commander, each turning a bad value into a one-line message that names
 * what is expected.
 *
 * @module
 */
import { InvalidArgumentError } from "commander";
import { parseDuration, parseSize } from "./parse.ts";
import { parseInspectAddr } from "../client/mod.ts";
import { parseCidr } from "../server/mod.ts";

/** Environment variable prefix: `--server-url` is also `WOW_SERVER_URL`. */
export const ENV_PREFIX = "WOW_";

/**
 * The environment variable backing a flag.
 * @param flag Long flag name without dashes, e.g. `server-url`.
 * @returns e.g. `WOW_SERVER_URL`.
 */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replaceAll("-", "_");
}

function wrap<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** Parses a TCP/UDP port, 0–65535. */
export const portArg: (text: string) => number = wrap((text) => {
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || port > 65535) {
    throw new RangeError(`Expected a port number 0-65535, got "${text}"`);
  }
  return port;
});

/** Parses a Go-style duration into ms. */
export const durationArg: (text: string) => number = wrap(parseDuration);

/** Parses a byte size. */
export const sizeArg: (text: string) => number = wrap((text) => {
  const size = parseSize(text);
  if (size <= 0) throw new RangeError(`Expected a size above 0, got "${text}"`);
  return size;
});

/** Parses a positive integer. */
export const positiveIntArg: (text: string) => number = wrap((text) => {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value <= 0) {
    throw new RangeError(`Expected a whole number above 0, got "${text}"`);
  }
  return value;
});

/** Parses a whole number ≥ 0. */
export const countArg: (text: string) => number = wrap((text) => {
  if (!/^\d+$/.test(text.trim())) {
    throw new RangeError(`Expected a whole number of 0 or more, got "${text}"`);
  }
  return Number(text);
});

/** Parses a gossip key: base64 of 16, 24 or 32 bytes (AES-128/192/256, as memberlist). */
export const gossipKeyArg: (text: string) => Uint8Array = wrap((text) => {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
  } catch {
    throw new TypeError("Expected base64, e.g. the output of `openssl rand -base64 32`");
  }
  if (![16, 24, 32].includes(bytes.length)) {
    throw new RangeError(
      `Expected base64 of 16, 24 or 32 bytes, got ${bytes.length} bytes; make one with \`openssl rand -base64 32\``,
    );
  }
  return bytes;
});

/** Parses an absolute http(s) URL. */
export const httpUrlArg: (text: string) => string = wrap((text) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`Expected an absolute URL like "https://hooks.example.com", got "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Expected an http:// or https:// URL, got "${text}"`);
  }
  return text;
});

/** Parses an IP address (v4 or v6) or host name. */
export const addressArg: (text: string) => string = wrap((text) => {
  if (!/^[0-9A-Za-z.:\-[\]]+$/.test(text)) {
    throw new TypeError(`Expected an IP address or host name, got "${text}"`);
  }
  return text;
});

/**
 * Parses a listen address: `host:port`, `[v6]:port`, `:port`, or `off` (the inspector's
 * `--inspect-addr`, the server's `--metrics-addr`).
 */
export const inspectAddrArg: (text: string) => string = wrap((text) => {
  if (text.trim().toLowerCase() === "off") return "off";
  try {
    parseInspectAddr(text);
  } catch {
    throw new TypeError(
      `Expected a listen address host:port, [v6]:port, :port or off, got "${text}"`,
    );
  }
  return text;
});

/** Collects a repeatable flag, also splitting comma-separated values. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  const items = value.split(",").map((item) => item.trim()).filter(Boolean);
  return [...(previous ?? []), ...items];
}

/** Checks that every comma-separated item is an IP address or CIDR range. */
const checkCidrs = wrap((text: string) => collectList(text, undefined).forEach(parseCidr));

/**
 * Collects repeated or comma-separated IP addresses and CIDR ranges, each checked.
 * @param value The flag's text.
 * @param previous The values of earlier occurrences.
 * @returns All values so far.
 */
export function cidrListArg(value: string, previous: string[] | undefined): string[] {
  checkCidrs(value);
  return collectList(value, previous);
}

/**
 * A parser accepting one of `choices` after `normalize`, with commander's wording on failure.
 * @param choices Allowed values.
 * @param normalize Applied first (e.g. upper-casing).
 * @returns The parser.
 */
export function choiceArg<T extends string>(
  choices: readonly T[],
  normalize: (text: string) => string = (text) => text,
): (text: string) => T {
  return wrap((text) => {
    const value = normalize(text);
    if (!choices.includes(value as T)) {
      throw new RangeError(`Allowed choices are ${choices.join(", ")}`);
    }
    return value as T;
  });
}

/**
 * Parses a comma-separated set of allowed values (`auto,queue`), each one of `choices`, at least
 * one, without repeats.
 * @param choices The allowed values.
 * @returns The parser.
 */
export function choiceListArg<T extends string>(choices: readonly T[]): (text: string) => T[] {
  return wrap((text) => {
    const values = text.split(",").map((part) => part.trim()).filter(Boolean);
    if (values.length === 0) throw new RangeError(`Expected one or more of ${choices.join(", ")}`);
    for (const value of values) {
      if (!choices.includes(value as T)) {
        throw new RangeError(`Unknown value "${value}": allowed are ${choices.join(", ")}`);
      }
    }
    return [...new Set(values)] as T[];
  });
}

/** Parses a `--queue` store URL: `off`, `memory:`, `sqlite:<path>`, `redis://…`, `rediss://…`. */
export const queueUrlArg: (text: string) => string = wrap((text) => {
  const url = text.trim();
  if (url === "off" || url === "memory:" || /^sqlite:.+/.test(url) || /^rediss?:\/\/./.test(url)) {
    return url;
  }
  throw new RangeError(
    `Expected off, memory:, sqlite:<path> or redis://[user:pass@]host:port[/db], got "${
      url.replace(/\/\/[^@/]*@/, "//***@")
    }"`,
  );
});
