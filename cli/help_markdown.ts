/**
 * Turns a subcommand's `--help` output into a Markdown flags table, so the README's tables are
 * generated from (and tested against) what the program really prints. `deno task docs` rewrites
 * the tables in README.md between `<!-- flags:NAME -->` and `<!-- /flags:NAME -->`.
 *
 * @module
 */

/** One flag as `--help` describes it. */
export interface HelpFlag {
  /** `-p, --port <port>`. */
  flags: string;
  /** Description without the parenthesised default/env/choices. */
  description: string;
  /** Default as printed, if any. */
  default?: string;
  /** Backing environment variable, if any. */
  env?: string;
  /** Allowed values, if restricted. */
  choices?: string;
}

const OPTION_LINE = /^\s{2}(-\S.*?)\s{2,}(.*)$/;
const TRAILER = /\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)\s*$/;

/**
 * Parses the options section of commander's help text.
 * @param help The `--help` output.
 * @returns The flags, `--help` excluded.
 */
export function parseHelpFlags(help: string): HelpFlag[] {
  const flags: HelpFlag[] = [];
  const section = help.split(/^Options:\s*$/m)[1] ?? "";
  // Commander wraps long descriptions onto indented continuation lines: join them first.
  const entries: string[] = [];
  for (const line of section.split("\n")) {
    if (/^\s{2}-/.test(line)) entries.push(line);
    else if (line.trim() && entries.length > 0) entries[entries.length - 1] += " " + line.trim();
  }
  for (const line of entries) {
    const match = OPTION_LINE.exec(line);
    if (!match || match[1].includes("--help")) continue;
    let description = match[2].trim();
    const flag: HelpFlag = { flags: match[1].trim(), description };
    // Commander appends "(choices: …, default: …, env: …)"; descriptions may end in "(…)" too.
    for (let trailer = TRAILER.exec(description); trailer; trailer = TRAILER.exec(description)) {
      const parts = trailer[1].split(/,\s*(?=(?:choices|default|env): )/);
      if (!parts.every((part) => /^(choices|default|env): /.test(part))) break;
      for (const part of parts) {
        const [key, ...rest] = part.split(": ");
        const value = rest.join(": ").replace(/^"(.*)"$/, "$1");
        if (key === "env") flag.env = value;
        else if (key === "default") flag.default = value;
        else flag.choices = value.replaceAll('"', "");
      }
      description = description.slice(0, trailer.index).trim();
    }
    flag.description = description;
    flags.push(flag);
  }
  return flags;
}

/**
 * Renders flags as a Markdown table: flag, environment variable, default, description.
 * @param flags Parsed flags.
 * @returns The table (no trailing newline).
 */
export function flagsTable(flags: readonly HelpFlag[]): string {
  const rows = flags.map((flag) => {
    const description = flag.choices
      ? `${flag.description} (${flag.choices.split(/,\s*/).join(", ")})`
      : flag.description;
    return `| \`${flag.flags.replaceAll("|", "\\|")}\` | ${flag.env ? `\`${flag.env}\`` : ""} | ${
      flag.default !== undefined ? `\`${flag.default}\`` : ""
    } | ${description.replaceAll("|", "\\|")} |`;
  });
  return ["| flag | environment | default | what it does |", "| --- | --- | --- | --- |", ...rows]
    .join("\n");
}

/**
 * Replaces the text between `<!-- flags:NAME -->` and `<!-- /flags:NAME -->`.
 * @param readme The README text.
 * @param name The subcommand.
 * @param table The new table.
 * @returns The new README text.
 * @throws {SyntaxError} When the markers are missing.
 */
export function replaceFlagsTable(readme: string, name: string, table: string): string {
  return replaceMarked(readme, `flags:${name}`, table);
}

/**
 * Replaces the text between `<!-- MARK -->` and `<!-- /MARK -->` (generated README parts).
 * @param readme The README text.
 * @param mark The marker, e.g. `metrics:server`.
 * @param table The new text.
 * @returns The new README text.
 * @throws {SyntaxError} When the markers are missing.
 */
export function replaceMarked(readme: string, mark: string, table: string): string {
  const start = `<!-- ${mark} -->`;
  const end = `<!-- /${mark} -->`;
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from === -1 || to < from) {
    throw new SyntaxError(`Cannot find the ${start} … ${end} markers in README.md`);
  }
  return readme.slice(0, from + start.length) + "\n\n" + table + "\n\n" + readme.slice(to);
}
