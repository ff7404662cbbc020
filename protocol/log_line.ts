/**
 * A log line written once per request (the server's and the client's access lines), at the cost
 * of its text only. LogTape's `logger.info(template, properties)` parses the template, copies the
 * properties twice and copies the record's descriptors on every call, before it checks the level:
 * under load that was ~10% of the server's CPU, and as much in a client run at `--log-level ERROR`
 * that writes none of it. {@linkcode LogLine} splits the template once, skips everything when
 * no sink takes the level, and hands the sinks the record `logger.info` would have built, so they
 * write the same bytes. The sinks are looked up once per LogTape configuration (through LogTape
 * 1's logger internals, version pinned in deno.json); with filters, a category prefix or an
 * implicit context configured, or another LogTape, records go through `logger.emit` instead.
 *
 * @example
 * ```ts
 * import { getLogger } from "@logtape/logtape";
 * import { LogLine } from "./log_line.ts";
 * const line = new LogLine(getLogger(["wow", "server"]), "info", "{method} {path} {status}");
 * line.write({ method: "POST", path: "/webhook/x", status: 200 });
 * ```
 *
 * @module
 */
import { getConfig, getLogger, type Logger, type LogLevel, type Sink } from "@logtape/logtape";

/** What LogTape 1's logger has besides its public API: the sinks a level reaches, and filters. */
interface LoggerInternals {
  getSinks?(level: LogLevel): Iterable<Sink>;
  filters?: unknown[];
  parent?: LoggerInternals | null;
}

const metaLog = getLogger(["logtape", "meta"]);

/**
 * The sinks a record of `level` from `logger` reaches, when handing it to them is all
 * `logger.emit` would do (no filters, no category prefix or implicit context); else undefined.
 */
function directSinks(logger: Logger, level: LogLevel, config: unknown): Sink[] | undefined {
  const internals = logger as unknown as LoggerInternals;
  if (typeof internals.getSinks !== "function") return undefined;
  if ((config as { contextLocalStorage?: unknown } | null)?.contextLocalStorage) return undefined;
  for (let at: LoggerInternals | null | undefined = internals; at; at = at.parent) {
    if (!Array.isArray(at.filters) || at.filters.length > 0) return undefined;
  }
  return [...internals.getSinks(level)];
}

/** A log line with a fixed template; see the module doc. */
export class LogLine {
  #logger: Logger;
  #level: LogLevel;
  #template: string;
  /** The template's text between placeholders (one more than `#keys`). */
  #texts: string[] = [];
  /** The placeholders' property names. */
  #keys: string[] = [];
  /** The LogTape configuration `#enabled` was computed for. */
  #config: unknown = undefined;
  /** The sinks to hand records to, or undefined to go through `logger.emit`. */
  #sinks: Sink[] | undefined;

  /**
   * @param logger Where the line goes.
   * @param level Its level.
   * @param template A LogTape message template of plain `{name}` placeholders (no `{{`, `}}`,
   *   nested paths or `{*}`).
   */
  constructor(logger: Logger, level: LogLevel, template: string) {
    this.#logger = logger;
    this.#level = level;
    this.#template = template;
    const pattern = /\{([^{}]*)\}/g;
    let at = 0;
    for (const match of template.matchAll(pattern)) {
      const key = match[1];
      if (key.trim() !== key || key === "*" || /[.[?]/.test(key)) {
        throw new TypeError(`LogLine templates take plain {name} placeholders, not {${key}}`);
      }
      this.#texts.push(template.slice(at, match.index));
      this.#keys.push(key);
      at = match.index + match[0].length;
    }
    const rest = template.slice(at);
    if (/[{}]/.test(rest) || this.#texts.some((text) => /[{}]/.test(text))) {
      throw new TypeError(`LogLine templates cannot hold literal braces: ${template}`);
    }
    this.#texts.push(rest);
  }

  /** Whether any sink takes this line's level (LogTape's configuration is checked once). */
  get enabled(): boolean {
    const config = getConfig();
    if (config !== this.#config) {
      this.#config = config;
      this.#sinks = directSinks(this.#logger, this.#level, config);
    }
    return this.#sinks === undefined || this.#sinks.length > 0;
  }

  /**
   * Writes the line (nothing when its level is filtered out).
   * @param properties The placeholders' values, and any other structured properties.
   */
  write(properties: Record<string, unknown>): void {
    if (!this.enabled) return;
    const texts = this.#texts;
    const keys = this.#keys;
    const message: unknown[] = [texts[0]];
    for (let i = 0; i < keys.length; i++) message.push(properties[keys[i]], texts[i + 1]);
    const sinks = this.#sinks;
    if (sinks === undefined) {
      this.#logger.emit({
        level: this.#level,
        timestamp: Date.now(),
        message,
        rawMessage: this.#template,
        properties,
      });
      return;
    }
    const record = {
      category: this.#logger.category,
      level: this.#level,
      timestamp: Date.now(),
      message,
      rawMessage: this.#template,
      properties,
    };
    for (const sink of sinks) {
      try {
        sink(record);
      } catch (error) {
        metaLog.fatal("Failed to emit a log record to sink {sink}: {error}", {
          sink,
          error,
          record,
        });
      }
    }
  }
}

/**
 * A log line with optional parts (e.g. ` provider={provider}` only when the sender named one):
 * one {@linkcode LogLine} per combination, made when first written.
 *
 * @example
 * ```ts
 * import { getLogger } from "@logtape/logtape";
 * import { LogLines } from "./log_line.ts";
 * const lines = new LogLines(getLogger(["wow"]), "info", "{method} {path}", [" verify={verify}"]);
 * lines.write(1, { method: "POST", path: "/", verify: "ok" }); // with the first optional part
 * ```
 */
export class LogLines {
  #logger: Logger;
  #level: LogLevel;
  #base: string;
  #optional: readonly string[];
  #lines: (LogLine | undefined)[] = [];

  /**
   * @param logger Where the lines go.
   * @param level Their level.
   * @param base The template's fixed start.
   * @param optional The optional parts, in the order they are appended.
   */
  constructor(logger: Logger, level: LogLevel, base: string, optional: readonly string[]) {
    this.#logger = logger;
    this.#level = level;
    this.#base = base;
    this.#optional = optional;
  }

  /**
   * Whether any sink takes these lines' level: when not, {@linkcode LogLines.write} writes
   * nothing, so callers can skip computing its properties.
   */
  get enabled(): boolean {
    // All the lines share logger and level: the one without optional parts answers for all.
    return (this.#lines[0] ??= new LogLine(this.#logger, this.#level, this.#base)).enabled;
  }

  /**
   * Writes the line with the optional parts whose bits are set in `parts`.
   * @param parts Bit `i` set: include `optional[i]`.
   * @param properties The placeholders' values, and any other structured properties.
   */
  write(parts: number, properties: Record<string, unknown>): void {
    let line = this.#lines[parts];
    if (line === undefined) {
      const template = this.#base +
        this.#optional.filter((_, i) => (parts & (1 << i)) !== 0).join("");
      line = this.#lines[parts] = new LogLine(this.#logger, this.#level, template);
    }
    line.write(properties);
  }
}
