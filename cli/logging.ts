/**
 * Configures LogTape for the CLI: level filter and text or JSON lines on stderr.
 *
 * @module
 */
import {
  configure,
  getTextFormatter,
  jsonLinesFormatter,
  type LogLevel,
  type LogRecord,
} from "@logtape/logtape";

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

/**
 * Sets up logging once per process. Log lines go to stderr, so stdout carries only what scripts
 * parse (the client's start-up lines).
 *
 * @param level One of {@linkcode LOG_LEVELS}.
 * @param format One of {@linkcode LOG_FORMATS}.
 */
export async function setupLogging(
  level: typeof LOG_LEVELS[number],
  format: typeof LOG_FORMATS[number],
): Promise<void> {
  const formatter = format === "json" ? jsonLinesFormatter : getTextFormatter({
    timestamp: "date-time-tz",
    value: (v) => typeof v === "string" ? v : Deno.inspect(v),
  });
  const encoder = new TextEncoder();
  const stderr = (record: LogRecord) => {
    try {
      Deno.stderr.writeSync(encoder.encode(formatter(record)));
    } catch {
      // stderr closed: nothing sensible left to do with a log line.
    }
  };
  await configure({
    reset: true,
    sinks: { stderr },
    loggers: [
      { category: ["wow"], lowestLevel: TO_LOGTAPE[level], sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}
