/**
 * Configures LogTape for the CLI: level filter and text or JSON lines on stderr.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { configure, type LogLevel, type LogRecord } from "@logtape/logtape";

/** Levels accepted by `--log-level`, as the Go original spells them. */
export const LOG_LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"] as const;
/** Formats accepted by `--log-format`. */
export const LOG_FORMATS = ["text", "json"] as const;

const TO_LOGTAPE: Record<typeof LOG_LEVELS[number], LogLevel> = {
  DEBUG: "debug",
  INFO: "info",
  WARN: "warning",
  ERROR: "error",
};

/** The logging flags every long-running subcommand has (`--log-level`, `--log-format`). */
export interface LogOptions {
  /** Lowest level written. @default "INFO" */
  logLevel?: typeof LOG_LEVELS[number];
  /** Text or JSON lines on stderr. @default "text" */
  logFormat?: typeof LOG_FORMATS[number];
}

/** Defaults of {@linkcode LogOptions}. */
export const LOG_DEFAULTS = { logLevel: "INFO", logFormat: "text" } as const;

/**
 * Sets up logging once per process. Log lines go to stderr, so stdout carries only what scripts
 * parse (the client's start-up lines).
 *
 * @param options Level and format; see {@linkcode LogOptions}.
 */
export async function setupLogging(options: LogOptions = {}): Promise<void> {
  const level = options.logLevel ?? LOG_DEFAULTS.logLevel;
  const format = options.logFormat ?? LOG_DEFAULTS.logFormat;
  const formatter = logFormatter(format);
  const stderr = (record: LogRecord) => stderrLines.write(formatter(record));
  await configure({
    reset: true,
    sinks: { stderr },
    loggers: [
      { category: ["wow"], lowestLevel: TO_LOGTAPE[level], sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/**
 * The formatter of a `--log-format`: one line per record.
 * @param format `text` or `json`.
 * @returns The formatter.
 */
export function logFormatter(
  format: typeof LOG_FORMATS[number],
): (record: LogRecord) => string {
  return format === "json" ? formatJsonLine : formatTextLine;
}

/** LogTape's abbreviated level names, as its text formatter writes them. */
const LEVEL_ABBREVIATIONS: Record<LogLevel, string> = {
  trace: "TRC",
  debug: "DBG",
  info: "INF",
  warning: "WRN",
  error: "ERR",
  fatal: "FTL",
};

/** Each logger's category, joined once (a logger hands the same array with every record). */
const categoryNames = new WeakMap<readonly string[], string>();

/**
 * One text line, the same as LogTape's text formatter with our timestamp and value rendering
 * writes (`2026-12-07 02:30:13.194 +00 [INF] wow·server: message`), made with less work per
 * record: the server writes one per webhook.
 */
function formatTextLine(record: LogRecord): string {
  const parts = record.message;
  let message = parts.length === 1 ? parts[0] as string : "";
  if (parts.length > 1) {
    for (let i = 0; i < parts.length; i++) {
      message += i % 2 === 0 ? parts[i] as string : plainValue(parts[i]);
    }
  }
  let category = categoryNames.get(record.category);
  if (category === undefined) {
    category = record.category.join("·");
    categoryNames.set(record.category, category);
  }
  return `${dateTimeTz(record.timestamp)} [${
    LEVEL_ABBREVIATIONS[record.level]
  }] ${category}: ${message}\n`;
}

let stampSecond = NaN;
let stampPrefix = "";

/**
 * LogTape's `date-time-tz` timestamp (`2026-12-07 02:30:13.194 +00`), with the part up to the
 * seconds made once a second: the server writes a line per webhook, and building a `Date` and
 * its padded fields for each was a measurable share of it.
 */
function dateTimeTz(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    stampPrefix = new Date(second * 1000).toISOString().slice(0, 19).replace("T", " ") + ".";
  }
  const fraction = ms - second * 1000;
  return `${stampPrefix}${fraction < 10 ? "00" : fraction < 100 ? "0" : ""}${fraction} +00`;
}

/**
 * Log lines for stderr, written together once per event-loop turn: the server logs a line per
 * webhook, and under load one write per turn instead of one per line saves a syscall per request.
 * A line is written before the next turn starts, and whatever is pending when the process exits
 * or meets an uncaught error is written first.
 */
class LineBatcher {
  #pending = "";
  #scheduled = false;
  #encoder = new TextEncoder();

  constructor() {
    for (const event of ["unload", "error", "unhandledrejection"]) {
      globalThis.addEventListener(event, this.flush);
    }
  }

  /** Queues text for the end of this turn. */
  write(text: string): void {
    this.#pending += text;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.flush);
  }

  /** Writes everything pending now. */
  flush = (): void => {
    this.#scheduled = false;
    if (this.#pending === "") return;
    const bytes = this.#encoder.encode(this.#pending);
    this.#pending = "";
    try {
      for (let written = 0; written < bytes.length;) {
        written += Deno.stderr.writeSync(bytes.subarray(written));
      }
    } catch {
      // stderr closed: nothing sensible left to do with a log line.
    }
  };
}

const stderrLines = new LineBatcher();

/** Writes every pending log line now (before printing a fatal error, or exiting). */
export function flushLogs(): void {
  stderrLines.flush();
}

/**
 * Renders a message value the way a person writes it: strings without quotes.
 * @internal Exported for the test that compares our lines with LogTape's.
 */
export function plainValue(value: unknown): string {
  if (typeof value === "string") return value;
  // Every request logs a few numbers: `String` gives Deno.inspect's text for them (all but -0)
  // at a fraction of its cost.
  if (typeof value === "number" && !Object.is(value, -0)) return String(value);
  return Deno.inspect(value);
}

const JSON_LEVEL: Record<LogLevel, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
  fatal: "FATAL",
};

/**
 * One JSON object per line: `@timestamp`, `level` (the `--log-level` spelling), `logger`,
 * `message` (rendered, strings unquoted) and the structured `properties`.
 */
function formatJsonLine(record: LogRecord): string {
  const message = record.message.map((part, i) => i % 2 ? plainValue(part) : part).join("");
  return JSON.stringify({
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: JSON_LEVEL[record.level],
    logger: record.category.join("."),
    message,
    properties: record.properties,
  }) + "\n";
}
