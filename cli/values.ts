/**
 * The kinds of flag value a spec's `arg` names: how the text is parsed, how a default is shown in
 * `--help`, and sample texts the flag-wiring test sets each flag to. A new flag reuses one of these;
 * a new kind is one entry here (its parser lives in `options.ts`).
 *
 * @module
 */
import type { Arg } from "./flags.ts";
import {
  addressArg,
  choiceArg,
  choiceListArg,
  cidrListArg,
  collectList,
  countArg,
  durationArg,
  gossipKeyArg,
  httpUrlArg,
  inspectAddrArg,
  portArg,
  positiveIntArg,
  queueUrlArg,
  sizeArg,
} from "./options.ts";
import { formatDuration, formatSize } from "./parse.ts";

/** Free text, taken as given. */
export const text: Arg<string> = { samples: ["sample-a", "sample-b"] };

/** A TCP/UDP port, 0–65535. */
export const port: Arg<number> = { parse: portArg, samples: ["4321", "4322"] };

/** An IP address or host name. */
export const address: Arg<string> = { parse: addressArg, samples: ["10.9.8.7", "10.9.8.6"] };

/** An absolute http(s) URL. */
export const httpUrl: Arg<string> = {
  parse: httpUrlArg,
  samples: ["http://sample.test:4321", "https://sample.test/b"],
};

/** A listen address `host:port` (`[v6]:port`, `:port`), or `off`. */
export const inspectAddr: Arg<string> = {
  parse: inspectAddrArg,
  samples: ["off", "127.0.0.1:4141"],
};

/** A Go-style duration, in ms; a zero default is shown as `0` (off). */
export const duration: Arg<number> = {
  parse: durationArg,
  show: (ms) => ms === 0 ? "0" : formatDuration(ms),
  samples: ["7m13s", "1h1s"],
};

/** A byte size above 0 (`32MiB`), in bytes. */
export const size: Arg<number> = { parse: sizeArg, show: formatSize, samples: ["3KiB", "5MiB"] };

/** A whole number ≥ 0. */
export const count: Arg<number> = { parse: countArg, samples: ["7", "11"] };

/** A whole number above 0. */
export const positiveInt: Arg<number> = { parse: positiveIntArg, samples: ["7", "11"] };

/** A repeatable flag whose values (each also comma-separated) are collected into a list. */
export const list: Arg<string[]> = {
  parse: collectList,
  samples: ["sample-a,sample-b", "sample-c"],
};

/** A repeatable list of IP addresses or CIDR ranges. */
export const cidrList: Arg<string[]> = {
  parse: cidrListArg,
  samples: ["10.0.0.0/8,fd00::/8", "172.16.0.0/12"],
};

/** A gossip key: base64 of 16, 24 or 32 bytes. */
export const gossipKey: Arg<Uint8Array> = {
  parse: gossipKeyArg,
  samples: [btoa("0123456789abcdef"), btoa("0123456789abcdef0123456789abcdef")],
};

/**
 * One of `values`. Without `normalize` commander checks the value itself (its message ends
 * "Allowed choices are a, b."); with it, the text is normalized first (e.g. upper-cased).
 * @param values Allowed values, listed by `--help`.
 * @param normalize Applied to the text before the check.
 * @returns The kind.
 */
export function choice<T extends string>(
  values: readonly T[],
  normalize?: (text: string) => string,
): Arg<T> {
  return {
    choices: values,
    parse: normalize ? choiceArg(values, normalize) : undefined,
    samples: values,
  };
}

/**
 * A comma-separated subset of `values` (at least one).
 * @param values Allowed values.
 * @returns The kind.
 */
export function choiceList<T extends string>(values: readonly T[]): Arg<T[]> {
  return {
    parse: choiceListArg(values),
    show: (list) => list.join(","),
    samples: [values.slice(0, 2).join(","), values[values.length - 1]],
  };
}

/** A `--queue` store URL (`off`, `memory:`, `sqlite:<path>`, `redis://…`). */
export const queueUrl: Arg<string> = {
  parse: queueUrlArg,
  samples: ["memory:", "sqlite:/tmp/wow-sample.db"],
};

/**
 * One of the numbers `values` (e.g. HTTP statuses), given as text.
 * @param values Allowed numbers.
 * @returns The kind.
 */
export function numberChoice<T extends number>(values: readonly T[]): Arg<T> {
  const texts = values.map(String);
  const parse = choiceArg(texts);
  return {
    parse: (text) => Number(parse(text.trim())) as T,
    show: String,
    samples: texts.reverse(),
  };
}
