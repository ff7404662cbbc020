/**
 * Parsers for flag values: Go-style durations and byte sizes.
 *
 * @module
 */

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration (`500ms`, `30s`, `5m`, `1h30m`, `1.5h`) into milliseconds.
 *
 * @param text The duration.
 * @returns Milliseconds.
 * @throws {SyntaxError} When the text is not a duration.
 * @example
 * ```ts
 * parseDuration("1h30m"); // 5400000
 * ```
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (trimmed === "0") return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let offset = 0;
  while (offset < trimmed.length) {
    part.lastIndex = offset;
    const match = part.exec(trimmed);
    if (!match) {
      throw new SyntaxError(
        `Cannot parse duration "${text}": expected a number and a unit (ms, s, m, h), e.g. "30s" or "1h30m"`,
      );
    }
    total += Number(match[1]) * DURATION_UNITS[match[2]];
    offset = part.lastIndex;
  }
  if (offset === 0) throw new SyntaxError(`Cannot parse duration "${text}": empty`);
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a byte size (`1024`, `512KiB`, `32MiB`, `1GiB`, `10MB`) into bytes.
 *
 * @param text The size.
 * @returns Bytes.
 * @throws {SyntaxError} When the text is not a size.
 * @example
 * ```ts
 * parseSize("32MiB"); // 33554432
 * ```
 */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const factor = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new SyntaxError(
      `Cannot parse size "${text}": expected a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB), e.g. "32MiB"`,
    );
  }
  return Math.floor(Number(match[1]) * factor);
}

/**
 * Formats milliseconds as a short Go-style duration (`5m`, `1h30m`, `500ms`).
 *
 * @param ms Milliseconds.
 * @returns The duration text.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 1000 !== 0) return `${ms}ms`;
  let seconds = ms / 1000;
  let out = "";
  for (const [unit, size] of [["h", 3600], ["m", 60], ["s", 1]] as const) {
    const count = Math.floor(seconds / size);
    if (count > 0) out += `${count}${unit}`;
    seconds -= count * size;
  }
  return out;
}

const SIZE_NAMES: [string, number][] = [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]];

/**
 * Formats bytes as the largest binary unit that divides them exactly (`32MiB`, `64KiB`, `1000`).
 *
 * @param bytes Bytes.
 * @returns The size text; {@linkcode parseSize} reads it back.
 * @example
 * ```ts
 * formatSize(32 * 1024 * 1024); // "32MiB"
 * ```
 */
export function formatSize(bytes: number): string {
  for (const [name, size] of SIZE_NAMES) {
    if (bytes > 0 && bytes % size === 0) return `${bytes / size}${name}`;
  }
  return String(bytes);
}
