/**
 * Builds the release binaries with `deno compile` and writes `dist/SHA256SUMS`.
 *
 * Run it through the task (`deno task compile [options]`) from anywhere in the repository:
 *
 * | option | meaning |
 * | --- | --- |
 * | `--target <triple>` | build only this target; repeatable; `host` = the machine's own triple, `all` = every release target (the default) |
 * | `--out-dir <dir>` | where binaries and `SHA256SUMS` go (default `dist`, relative to the repository root) |
 * | `--dry-run` | print the `deno compile` commands instead of running them |
 * | `--checksums-only` | compile nothing; (re)write `SHA256SUMS` for every release binary already in the output directory |
 *
 * Binaries are named `webhook-over-websocket-<os>-<arch>[.exe]` with `<os>` one of
 * `linux`/`darwin`/`windows` and `<arch>` one of `amd64`/`arm64`, the names Go and Docker use
 * (`GOOS`/`GOARCH`, `TARGETARCH`), so the Dockerfile picks its binary straight from `TARGETARCH`.
 *
 * The permissions the program needs are baked in, so the binaries run with no Deno flags:
 * `--allow-net` (HTTP, WebSocket, gossip UDP/TCP, DNS), `--allow-read` (TLS certificate and key,
 * CA file, token files, the client's state file), `--allow-write` (the client's state file),
 * `--allow-env` (`WOW_*`, `POD_IP`, `HOSTNAME`, the config directory), `--allow-sys` (network
 * interfaces for the advertise address, the host name), plus `--unstable-<feature>` for every
 * feature in deno.json's `"unstable"` list (`net` for `Deno.listenDatagram`), so `deno run` and
 * the binaries never differ. Not granted: `--allow-run` and `--allow-ffi`, which the program never
 * uses, so a compromised dependency cannot start processes or load native code.
 *
 * The version that `version`/`--version` print is deno.json's `"version"`: `cli/program.ts`
 * imports deno.json as a JSON module, so it is part of the module graph and embedded without
 * `--include`.
 *
 * `deno compile` downloads the runtime (`denort`) for each target from the internet. When the
 * `DENORT_BIN` environment variable names a local runtime, `deno compile` uses that file for
 * whatever target it is asked for, so this script passes `DENORT_BIN` on only for the host target
 * and removes it from the environment of every other target's build (where `deno compile` then
 * downloads the right runtime, or fails offline).
 *
 * @example Build everything, then only the host binary into another folder
 * ```sh
 * deno task compile
 * deno task compile --target host --out-dir /tmp/wow
 * DENORT_BIN=$HOME/denort deno task compile --target host
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, isAbsolute, join } from "node:path";

/** Base name of every release binary. */
export const BINARY_NAME = "webhook-over-websocket";

/** Name of the checksum file written beside the binaries (GNU `sha256sum` format). */
export const CHECKSUM_FILE = "SHA256SUMS";

/** Output directory, relative to the repository root, when `--out-dir` is not given. */
export const DEFAULT_OUT_DIR = "dist";

/** The program's entry module, relative to the repository root. */
export const ENTRY_MODULE = "main.ts";

/**
 * Permissions baked into every binary (see the module doc for why each is needed and why `-A`
 * is not used).
 */
export const PERMISSION_FLAGS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
];

/**
 * Reads the unstable features the program is run with from deno.json (`"unstable"`).
 *
 * @param configPath Path of deno.json.
 * @returns Feature names, e.g. `["net"]`.
 */
export function readUnstableFeatures(configPath: string = join(REPO_ROOT, "deno.json")): string[] {
  const config = JSON.parse(Deno.readTextFileSync(configPath));
  const unstable: unknown = config.unstable ?? [];
  if (!Array.isArray(unstable) || !unstable.every((f) => typeof f === "string")) {
    throw new TypeError(`Cannot read "unstable" from "${configPath}": expected a list of names`);
  }
  return unstable;
}

/** One platform a release binary is built for. */
export interface CompileTarget {
  /** Rust target triple as `deno compile --target` takes it. */
  triple: string;
  /** Operating system part of the file name. */
  os: "linux" | "darwin" | "windows";
  /** CPU architecture part of the file name (Go/Docker naming). */
  arch: "amd64" | "arm64";
}

/** Every platform a release ships a binary for. */
export const TARGETS: readonly CompileTarget[] = [
  { triple: "x86_64-unknown-linux-gnu", os: "linux", arch: "amd64" },
  { triple: "aarch64-unknown-linux-gnu", os: "linux", arch: "arm64" },
  { triple: "x86_64-apple-darwin", os: "darwin", arch: "amd64" },
  { triple: "aarch64-apple-darwin", os: "darwin", arch: "arm64" },
  { triple: "x86_64-pc-windows-msvc", os: "windows", arch: "amd64" },
];

/**
 * Returns the release file name for a target.
 *
 * @param target The target.
 * @returns `webhook-over-websocket-<os>-<arch>`, with `.exe` on Windows.
 * @example
 * ```ts
 * binaryFileName(TARGETS[4]); // "webhook-over-websocket-windows-amd64.exe"
 * ```
 */
export function binaryFileName(target: CompileTarget): string {
  return `${BINARY_NAME}-${target.os}-${target.arch}${target.os === "windows" ? ".exe" : ""}`;
}

/**
 * Finds a release target by triple, accepting `host` for the given host triple.
 *
 * @param name A target triple or `host`.
 * @param hostTriple The triple `host` stands for.
 * @returns The target.
 * @throws {RangeError} When the name is not a release target.
 */
export function resolveTarget(name: string, hostTriple: string): CompileTarget {
  const triple = name === "host" ? hostTriple : name;
  const target = TARGETS.find((t) => t.triple === triple);
  if (target === undefined) {
    const known = TARGETS.map((t) => t.triple).join(", ");
    const what = name === "host" ? `Host target "${hostTriple}"` : `Target "${name}"`;
    throw new RangeError(`${what} is not a release target: expected one of ${known}`);
  }
  return target;
}

/** Options of {@linkcode planCompile}. */
export interface PlanOptions {
  /**
   * Targets to build: triples, `host` or `all`. Duplicates are built once.
   * @default {["all"]}
   */
  targets?: readonly string[];
  /**
   * Output directory (relative paths are relative to the repository root).
   * @default {"dist"}
   */
  outDir?: string;
  /**
   * The triple `host` stands for, and the only target `DENORT_BIN` is passed to.
   * @default {Deno.build.target}
   */
  hostTriple?: string;
  /**
   * Value of `DENORT_BIN`, when set.
   * @default {undefined}
   */
  denortBin?: string;
  /**
   * Unstable features to enable (`--unstable-<name>` each).
   * @default {readUnstableFeatures()}
   */
  unstable?: readonly string[];
}

/** One `deno compile` invocation. */
export interface CompileStep {
  /** The target built. */
  target: CompileTarget;
  /** Output path of the binary (under the output directory). */
  output: string;
  /** Arguments for the `deno` executable, starting with `compile`. */
  args: string[];
  /**
   * What happens to `DENORT_BIN` in the build's environment: `"pass"` hands it to
   * `deno compile` (host target), `"remove"` strips it (other targets), `"unset"` it was not set.
   */
  denortBin: "pass" | "remove" | "unset";
  /** The `DENORT_BIN` value passed on, when `denortBin` is `"pass"`. */
  denortBinPath?: string;
}

/**
 * Plans the `deno compile` invocations for the requested targets, without touching the disk.
 *
 * @param options What to build and where.
 * @returns One step per distinct target, in release order.
 * @throws {RangeError} When a requested target is not a release target.
 * @example
 * ```ts
 * const [step] = planCompile({ targets: ["aarch64-apple-darwin"] });
 * step.output; // "dist/webhook-over-websocket-darwin-arm64"
 * ```
 */
export function planCompile(options: PlanOptions = {}): CompileStep[] {
  const hostTriple = options.hostTriple ?? Deno.build.target;
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  const unstable = options.unstable ?? readUnstableFeatures();
  const names = options.targets === undefined || options.targets.length === 0
    ? ["all"]
    : options.targets;
  const wanted = new Set<string>();
  for (const name of names) {
    if (name === "all") TARGETS.forEach((t) => wanted.add(t.triple));
    else wanted.add(resolveTarget(name, hostTriple).triple);
  }
  return TARGETS.filter((t) => wanted.has(t.triple)).map((target) => {
    const output = join(outDir, binaryFileName(target));
    const args = [
      "compile",
      "--target",
      target.triple,
      "--output",
      output,
      ...PERMISSION_FLAGS,
      ...unstable.map((feature) => `--unstable-${feature}`),
      ENTRY_MODULE,
    ];
    const denortBin = options.denortBin === undefined
      ? "unset"
      : target.triple === hostTriple
      ? "pass"
      : "remove";
    return denortBin === "pass"
      ? { target, output, args, denortBin, denortBinPath: options.denortBin }
      : { target, output, args, denortBin };
  });
}

/** One line of a checksum file. */
export interface ChecksumEntry {
  /** File name, relative to the checksum file's directory. */
  name: string;
  /** Lower-case hex SHA-256 of the file. */
  sha256: string;
}

/**
 * Formats checksum entries as GNU `sha256sum` output (`<hex>  <name>`, sorted by name), so
 * `sha256sum -c SHA256SUMS` (or `shasum -a 256 -c`) verifies downloads.
 *
 * @param entries The files and their digests.
 * @returns The file's text, one line per entry, each ending in `\n`.
 * @throws {TypeError} When a digest is not 64 lower-case hex digits or a name is not a plain file name.
 */
export function formatSha256Sums(entries: readonly ChecksumEntry[]): string {
  return [...entries]
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    .map(({ name, sha256 }) => {
      if (!/^[0-9a-f]{64}$/.test(sha256)) {
        throw new TypeError(`Cannot write checksum for "${name}": bad digest "${sha256}"`);
      }
      if (name === "" || name !== basename(name) || /[\n\\]/.test(name)) {
        throw new TypeError(`Cannot write checksum for "${name}": not a plain file name`);
      }
      return `${sha256}  ${name}\n`;
    })
    .join("");
}

/**
 * Computes a file's SHA-256 without holding the whole file in memory.
 *
 * @param path The file.
 * @returns Lower-case hex digest.
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  // The readable stream closes the file when it ends or is cancelled.
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Renders a step as a shell command line (what `--dry-run` prints).
 *
 * @param step The step.
 * @param deno The `deno` executable to show.
 * @returns One line, arguments quoted where the shell needs it.
 */
export function formatStep(step: CompileStep, deno = "deno"): string {
  const prefix = step.denortBin === "pass"
    ? `DENORT_BIN=${shellQuote(step.denortBinPath ?? "")} `
    : step.denortBin === "remove"
    ? "env -u DENORT_BIN "
    : "";
  return prefix + [deno, ...step.args].map(shellQuote).join(" ");
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Command-line options of the script. */
export interface CompileCliOptions {
  /** `--target` values in order (empty = all). */
  targets: string[];
  /** `--out-dir`, when given. */
  outDir?: string;
  /** `--dry-run`. */
  dryRun: boolean;
  /** `--checksums-only`. */
  checksumsOnly: boolean;
  /** `--help`. */
  help: boolean;
}

/**
 * Parses the script's arguments.
 *
 * @param args Arguments after the script name.
 * @returns The options.
 * @throws {TypeError} On an unknown option or a missing value.
 */
export function parseCompileArgs(args: readonly string[]): CompileCliOptions {
  const options: CompileCliOptions = {
    targets: [],
    dryRun: false,
    checksumsOnly: false,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (flag !== arg) return arg.slice(eq + 1);
      const next = args[++i];
      if (next === undefined || next.startsWith("--")) {
        throw new TypeError(`Option "${flag}" needs a value`);
      }
      return next;
    };
    switch (flag) {
      case "--target":
        options.targets.push(value());
        break;
      case "--out-dir":
        options.outDir = value();
        break;
      case "--dry-run":
        options.dryRun = true;
        break;
      case "--checksums-only":
        options.checksumsOnly = true;
        break;
      case "--help":
      case "-h":
        options.help = true;
        break;
      default:
        throw new TypeError(`Unknown option "${arg}": see --help`);
    }
  }
  return options;
}

const USAGE =
  `Usage: deno task compile [--target <triple>|host|all]... [--out-dir <dir>] [--dry-run]
       deno task compile --checksums-only [--out-dir <dir>]

Builds ${BINARY_NAME}-<os>-<arch>[.exe] with deno compile and writes ${CHECKSUM_FILE}.
Targets: ${TARGETS.map((t) => t.triple).join(", ")}.
DENORT_BIN (a local denort runtime) is used for the host target only.
`;

/** Absolute path of the repository root (the folder holding deno.json). */
export const REPO_ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/^\/([A-Za-z]:)/, "$1");

function absolute(dir: string): string {
  return isAbsolute(dir) ? dir : join(REPO_ROOT, dir);
}

/**
 * Writes `SHA256SUMS` in `outDir` for the given binaries (file names inside `outDir`), atomically.
 *
 * @param outDir Output directory (relative to the repository root unless absolute).
 * @param names Binary file names.
 * @returns The text written.
 */
export async function writeChecksums(outDir: string, names: readonly string[]): Promise<string> {
  const dir = absolute(outDir);
  const entries: ChecksumEntry[] = [];
  for (const name of names) entries.push({ name, sha256: await sha256File(join(dir, name)) });
  const text = formatSha256Sums(entries);
  const tmp = join(dir, `.${CHECKSUM_FILE}.tmp`);
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, join(dir, CHECKSUM_FILE));
  return text;
}

/**
 * Lists the release binaries present in a directory (names matching a release target).
 *
 * @param outDir Output directory (relative to the repository root unless absolute).
 * @returns File names, in release order.
 */
export async function listBinaries(outDir: string): Promise<string[]> {
  const present = new Set<string>();
  for await (const entry of Deno.readDir(absolute(outDir))) {
    if (entry.isFile) present.add(entry.name);
  }
  return TARGETS.map(binaryFileName).filter((name) => present.has(name));
}

/**
 * Runs the script: builds the planned targets one after the other (stopping at the first
 * failure), then writes the checksum file for the binaries built.
 *
 * @param args Command-line arguments.
 * @returns Exit status: 0 on success, 1 when a build failed, 2 on bad usage.
 */
export async function main(args: readonly string[]): Promise<number> {
  let options: CompileCliOptions;
  let steps: CompileStep[];
  const denortBin = Deno.env.get("DENORT_BIN") || undefined;
  try {
    options = parseCompileArgs(args);
    steps = planCompile({ targets: options.targets, outDir: options.outDir, denortBin });
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  if (options.checksumsOnly) {
    const names = await listBinaries(outDir);
    if (names.length === 0) {
      console.error(`No release binaries in "${absolute(outDir)}"`);
      return 1;
    }
    console.log((await writeChecksums(outDir, names)).trimEnd());
    return 0;
  }
  if (options.dryRun) {
    for (const step of steps) console.log(formatStep(step));
    const names = steps.map((s) => binaryFileName(s.target)).join(" ");
    console.log(`(cd ${shellQuote(outDir)} && sha256sum ${names} > ${CHECKSUM_FILE})`);
    return 0;
  }
  if (denortBin !== undefined) {
    try {
      await Deno.stat(denortBin);
    } catch {
      console.error(`Cannot use DENORT_BIN "${denortBin}": no such file`);
      return 2;
    }
  }
  await Deno.mkdir(absolute(outDir), { recursive: true });
  const env = Deno.env.toObject();
  delete env.DENORT_BIN;
  for (const step of steps) {
    if (step.denortBin === "remove") {
      console.error(
        `Note: DENORT_BIN is the host's runtime, not used for "${step.target.triple}"`,
      );
    }
    console.error(`$ ${formatStep(step)}`);
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: step.args,
      cwd: REPO_ROOT,
      clearEnv: true,
      env: step.denortBinPath === undefined ? env : { ...env, DENORT_BIN: step.denortBinPath },
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code !== 0) {
      console.error(
        `Cannot compile "${step.target.triple}": deno compile exited with ${code} ` +
          `(it downloads the runtime unless DENORT_BIN names one for the host target)`,
      );
      return 1;
    }
  }
  const text = await writeChecksums(outDir, steps.map((s) => binaryFileName(s.target)));
  console.log(text.trimEnd());
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
