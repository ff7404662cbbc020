/**
 * A subcommand: its name, its flag table, the defaults the table shows, and what it runs with the
 * options built from the flags. Each lives in `cli/commands/<name>.ts`.
 *
 * @module
 */
import type { AnyFlag, Defaults, FlagSpec } from "./flags.ts";

/**
 * A subcommand, typed by its options `O`.
 * @typeParam O What its flags fill and `run` receives.
 */
export interface SubcommandSpec<O> {
  /** The word after the program name. */
  name: string;
  /** One line for `--help`. */
  description: string;
  /** Its flags, in `--help` order. */
  flags: readonly FlagSpec<O>[];
  /** The options' defaults (shown by `--help` and passed on when a flag is not given). */
  defaults?: Defaults<O>;
  /**
   * One optional positional argument (commander's `[name]`), put into the options field `key`;
   * `run` reports it missing (a usage error, exit 2).
   */
  argument?: { name: string; description: string; key: keyof O & string };
  /**
   * Checks between flags, before any file a flag names is read; throw to report a usage error.
   * @param options The options so far (files not read yet).
   * @param given Whether a flag (long name) was given.
   */
  check?(options: Partial<O>, given: (long: string) => boolean): void;
  /**
   * Runs the subcommand.
   * @param options Built from the flags.
   * @returns The exit status (`undefined`: 0).
   */
  run(options: O): Promise<number | void>;
}

/** A subcommand seen without its options type, as the program and the docs use it. */
export interface Subcommand {
  readonly name: string;
  readonly description: string;
  readonly flags: readonly AnyFlag[];
  readonly defaults?: Readonly<Record<string, unknown>>;
  readonly argument?: { name: string; description: string; key: string };
  check?(options: object, given: (long: string) => boolean): void;
  run(options: object): Promise<number | void>;
}

/**
 * Declares a subcommand; the type parameter ties its flag table to its options type.
 * @param spec The subcommand.
 * @returns It, for the program's list.
 */
export function defineSubcommand<O extends object>(spec: SubcommandSpec<O>): Subcommand {
  return spec;
}

/** Something a subcommand runs: the handle of a started server, client or echo. */
export interface Running {
  /** Settles when it has stopped. */
  finished: Promise<void>;
  /** Stops it gracefully. */
  shutdown(): Promise<void>;
}

/**
 * Runs a started component until SIGINT/SIGTERM, then shuts it down gracefully.
 * @param running The handle.
 */
export async function runUntilSignal(running: Running): Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= running.shutdown();
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    await running.finished;
    await stopping;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
}
