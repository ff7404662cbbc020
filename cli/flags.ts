/**
 * Flag specs: one entry per flag says everything about it, and the options object is built from
 * the entries generically, so a declared flag cannot silently do nothing.
 *
 * A spec names the options field it sets (`key`, checked against the options type by
 * `deno check`), how its text is parsed (`arg`, one of the kinds in `values.ts`, whose result
 * must have the field's type), or that it names a file to read (`read`), or that it is a switch
 * (`set`, or `true` for a boolean field). Its environment variable is `WOW_` + the long name, and
 * its `--help` default is the options' default (`SERVER_DEFAULTS`, `CLIENT_DEFAULTS`, …) rendered
 * by the kind's `show`, so each default is written once, beside its field.
 *
 * ## Adding a flag
 * One line in the spec table of its subcommand (`cli/commands/<name>.ts`), plus the options
 * field with its `@default` (e.g. `server/options.ts`: the field in `ServerOptions`, the value in
 * `SERVER_DEFAULTS`):
 *
 * ```ts ignore
 * { key: "queueMaxCount", flags: "--queue-max-count <count>", description: "…", arg: value.count },
 * ```
 *
 * Then `deno task docs` regenerates README's flag tables. `cli/program_test.ts` sets every flag
 * of every subcommand (argument and environment variable) to one of its kind's samples and fails
 * if the options field does not change.
 *
 * @module
 */
import { Option } from "commander";
import { envName } from "./options.ts";

/**
 * A kind of flag value: parser, `--help` rendering, samples.
 * @typeParam T The parsed value's type (the options field's type).
 */
export interface Arg<T> {
  /**
   * Turns the flag's text into the value, throwing commander's `InvalidArgumentError` with a
   * one-line reason. Absent: the text itself (commander checks `choices`, if any).
   */
  parse?(text: string, previous: T | undefined): T;
  /** Renders a default for `--help`; absent: commander's rendering (numbers bare, text quoted). */
  show?(value: T): string;
  /** The allowed values, listed by `--help`. */
  choices?: readonly string[];
  /** Valid texts with different values: the flag-wiring test sets each flag to one of them. */
  samples: readonly string[];
}

/** What every flag spec has. */
interface FlagBase<K extends string> {
  /** The options field this flag sets. */
  key: K;
  /** Commander flags, e.g. `-p, --port <port>`; the long name gives the `WOW_*` variable. */
  flags: string;
  /** Help text. */
  description: string;
  /** The flag must be given (commander reports `required option '…' not specified`). */
  required?: boolean;
  /** The value is a secret: never echoed in error messages. */
  secret?: boolean;
  /** Another flag (long name) that must be given together with this one. */
  together?: string;
  /**
   * How `--help` describes a default known only at run time (a per-user path); every constant
   * default is rendered from its value.
   */
  shownDefault?: string;
}

type Field<O, K extends keyof O> = Exclude<O[K], undefined>;

/** A flag with a value: `arg` parses it into the field. */
interface ValueFlag<O, K extends keyof O & string> extends FlagBase<K> {
  arg: Arg<Field<O, K>>;
  read?: never;
  set?: never;
}

/** A flag naming a file: `read` turns the path into the field (after every other flag is set). */
interface FileFlag<O, K extends keyof O & string> extends FlagBase<K> {
  /**
   * @param path The flag's value.
   * @param current The field's value so far (another flag may have set it).
   * @returns The field's new value.
   */
  read(path: string, current: O[K] | undefined): Promise<Field<O, K>>;
  arg?: never;
  set?: never;
}

/** A switch that sets the field to `set` (it wins over flags earlier in the table). */
interface SetFlag<O, K extends keyof O & string> extends FlagBase<K> {
  set: Field<O, K>;
  arg?: never;
  read?: never;
}

/** A switch of a boolean field: sets it to `true`. */
interface SwitchFlag<K extends string> extends FlagBase<K> {
  arg?: never;
  read?: never;
  set?: never;
}

/**
 * One flag of a subcommand whose options are `O`. `key` must be a field of `O`, and what the flag
 * produces (`arg`'s value, `read`'s result, `set`) must have that field's type; a switch without
 * `set` needs a boolean field.
 * @typeParam O The options the subcommand's flags fill.
 */
export type FlagSpec<O> = {
  [K in keyof O & string]:
    | ValueFlag<O, K>
    | FileFlag<O, K>
    | SetFlag<O, K>
    | (true extends O[K] ? SwitchFlag<K> : never);
}[keyof O & string];

/** A flag spec seen without its options type (what the generic code works on). */
export interface AnyFlag extends FlagBase<string> {
  arg?: Arg<unknown>;
  read?(path: string, current: unknown): Promise<unknown>;
  set?: unknown;
}

/** Defaults of the options `O` (extra entries, such as internal tunables, are ignored). */
export type Defaults<O> = { readonly [K in keyof O]?: O[K] };

/** A usage problem found after parsing: printed as `error: <message>`, exit status 2. */
export class UsageError extends Error {
  /** @param message What is wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The long name of a flag.
 * @param flag The spec.
 * @returns e.g. `--port` for `-p, --port <port>`.
 */
export function longName(flag: Pick<AnyFlag, "flags">): string {
  const match = /--[a-z0-9-]+/.exec(flag.flags);
  if (!match) throw new TypeError(`Flag "${flag.flags}" has no long name`);
  return match[0];
}

/** True when the spec's flags take a value (`<value>` or `[value]`). */
function takesValue(flag: AnyFlag): boolean {
  return /[<[]/.test(flag.flags);
}

/**
 * Builds commander's option for a spec: environment variable, default (from `defaults[key]`,
 * value flags only) and its text, choices, parser, mandatory.
 * @param flag The spec.
 * @param defaults The options' defaults.
 * @returns The option.
 * @throws {TypeError} When the flags' text and the spec disagree about taking a value.
 */
export function toOption(flag: AnyFlag, defaults: Readonly<Record<string, unknown>>): Option {
  const long = longName(flag);
  if (takesValue(flag) !== Boolean(flag.arg || flag.read)) {
    throw new TypeError(
      `Flag "${flag.flags}": a flag with a <value> needs "arg" or "read", a switch neither`,
    );
  }
  const option = new Option(flag.flags, flag.description).env(envName(long.slice(2)));
  const value = flag.arg ? defaults[flag.key] : undefined;
  if (value !== undefined) option.default(value, flag.shownDefault ?? flag.arg?.show?.(value));
  if (flag.arg?.choices) option.choices(flag.arg.choices);
  const parse = flag.arg?.parse;
  if (parse) option.argParser((text: string, previous: unknown) => parse(text, previous));
  if (flag.required) option.makeOptionMandatory();
  return option;
}

/**
 * Builds the options from parsed flag values, in table order: value flags and switches first
 * (a later one wins), then the `together` pairs and `check` are verified, then files are read.
 * @param flags The subcommand's specs.
 * @param valueOf The value commander parsed for a flag (`undefined`: not given, no default).
 * @param check Checks between flags before any file is read; what it throws becomes a
 *   {@linkcode UsageError}. `given` takes a long flag name.
 * @returns The options.
 * @throws {UsageError} When a pair is incomplete, `check` fails or a file cannot be read.
 */
export async function optionsFromFlags(
  flags: readonly AnyFlag[],
  valueOf: (flag: AnyFlag) => unknown,
  check?: (options: Record<string, unknown>, given: (long: string) => boolean) => void,
): Promise<Record<string, unknown>> {
  const byName = new Map(flags.map((flag) => [longName(flag), flag]));
  const given = (long: string) => {
    const flag = byName.get(long);
    if (!flag) throw new TypeError(`No flag "${long}"`);
    return valueOf(flag) !== undefined;
  };
  const options: Record<string, unknown> = {};
  for (const flag of flags) {
    const value = valueOf(flag);
    if (value === undefined || flag.read) continue;
    options[flag.key] = flag.set !== undefined ? flag.set : value;
  }
  for (const flag of flags) {
    if (flag.together && given(longName(flag)) !== given(flag.together)) {
      throw new UsageError(`${longName(flag)} and ${flag.together} must be given together`);
    }
  }
  try {
    check?.(options, given);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  for (const flag of flags) {
    const path = valueOf(flag);
    if (path === undefined || !flag.read) continue;
    try {
      options[flag.key] = await flag.read(String(path), options[flag.key]);
    } catch (error) {
      throw new UsageError(
        `${longName(flag)}: cannot read "${path}": ${(error as Error).message}`,
      );
    }
  }
  return options;
}
