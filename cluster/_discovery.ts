/**
 * Peer discovery: static seeds (`host[:port]`, retried until one join succeeds) and a DNS name
 * resolved every sync interval (A and AAAA; new addresses other than our own are joined).
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { EngineLogger, HostPort } from "./_transport.ts";

/**
 * Splits `host[:port]` (`[v6]:port`, bare IPv6 and hostnames allowed).
 *
 * @throws {SyntaxError} When the port is not a number in 1–65535 or the host is empty.
 */
export function parseSeed(seed: string, defaultPort: number): { host: string; port: number } {
  const text = seed.trim();
  let host = text, port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1];
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (text.split(":").length === 2) {
    const i = text.lastIndexOf(":");
    host = text.slice(0, i);
    const p = text.slice(i + 1);
    if (!/^\d+$/.test(p)) throw new SyntaxError(`Cannot parse seed "${seed}": bad port "${p}"`);
    port = Number(p);
  }
  if (host === "") throw new SyntaxError(`Cannot parse seed "${seed}": empty host`);
  if (!(port >= 1 && port <= 65535)) {
    throw new SyntaxError(`Cannot parse seed "${seed}": port "${port}" out of range`);
  }
  return { host, port };
}

/**
 * Resolves a seed to addresses: IP literals as they are, names through the system resolver
 * (`/etc/hosts` included).
 */
export async function resolveSeed(seed: string, defaultPort: number): Promise<HostPort[]> {
  const { host, port } = parseSeed(seed, defaultPort);
  if (isIP(host)) return [{ ip: host, port }];
  const found = await lookup(host, { all: true });
  return found.map((a) => ({ ip: a.address, port }));
}

/** Options of a {@linkcode Discovery}. */
export interface DiscoveryOptions {
  /** Static seeds `host[:port]`. */
  seeds: readonly string[];
  /** DNS name resolved every `syncInterval`. */
  peerDomain?: string;
  /** `ip:port` of the DNS server to ask instead of the system resolver. */
  dnsServer?: string;
  /** Interval (ms) of DNS resolution and seed retries. */
  syncInterval: number;
  /** Gossip port assumed for seeds without one and for DNS results. */
  port: number;
  /** Our advertise address (never joined). */
  self: HostPort;
  /** Joins one address; resolves when the push/pull succeeded. */
  join(to: HostPort): Promise<void>;
  /** `ip:port` of members currently alive or suspect (not joined again). */
  known(): Set<string>;
  /** Logger. */
  logger: EngineLogger;
}

/** Runs seed retries and DNS polling until stopped. */
export class Discovery {
  readonly #o: DiscoveryOptions;
  readonly #nameServer: { ipAddr: string; port: number } | undefined;
  #seedsPending: boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #abort = new AbortController();
  #running: Promise<void> | undefined;
  #stopped = false;

  /**
   * @throws {SyntaxError} When `dnsServer` is not `ip:port`.
   */
  constructor(options: DiscoveryOptions) {
    this.#o = options;
    this.#seedsPending = options.seeds.length > 0;
    if (options.dnsServer !== undefined) {
      const { host, port } = parseSeed(options.dnsServer, 53);
      if (!isIP(host)) {
        throw new SyntaxError(`Cannot use DNS server "${options.dnsServer}": not an IP address`);
      }
      this.#nameServer = { ipAddr: host, port };
    }
  }

  /** True when there is anything to discover (seeds or a peer domain). */
  get active(): boolean {
    return this.#o.seeds.length > 0 || this.#o.peerDomain !== undefined;
  }

  /** Runs the first round now, then every `syncInterval`. */
  start(): void {
    if (!this.active) return;
    this.#tick();
  }

  /** Stops and waits for a round in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running;
  }

  /**
   * Joins every address of `seeds`.
   *
   * @returns How many addresses were joined.
   */
  async joinSeeds(seeds: readonly string[]): Promise<number> {
    let joined = 0;
    await Promise.all(seeds.map(async (seed) => {
      let addrs: HostPort[];
      try {
        addrs = await resolveSeed(seed, this.#o.port);
      } catch (error) {
        this.#o.logger.info("Cannot resolve seed {seed}: {error}", {
          seed,
          error: errorText(error),
        });
        return;
      }
      for (const a of addrs) {
        if (a.ip === this.#o.self.ip && a.port === this.#o.self.port) continue;
        try {
          await this.#o.join(a);
          joined++;
        } catch (error) {
          this.#o.logger.info("Cannot join {seed}: {error}", { seed, error: errorText(error) });
        }
      }
    }));
    return joined;
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#running = this.#round().finally(() => {
      this.#running = undefined;
      if (!this.#stopped) this.#timer = setTimeout(() => this.#tick(), this.#o.syncInterval);
    });
  }

  async #round(): Promise<void> {
    if (this.#seedsPending) {
      const joined = await this.joinSeeds(this.#o.seeds);
      if (joined > 0) this.#seedsPending = false;
    }
    if (this.#o.peerDomain !== undefined && !this.#stopped) await this.#resolveDomain();
  }

  async #resolveDomain(): Promise<void> {
    const name = this.#o.peerDomain!;
    const options: Deno.ResolveDnsOptions = { signal: this.#abort.signal };
    if (this.#nameServer) options.nameServer = this.#nameServer;
    const results = await Promise.allSettled([
      Deno.resolveDns(name, "A", options),
      Deno.resolveDns(name, "AAAA", options),
    ]);
    if (this.#stopped) return;
    const ips = results.flatMap((r) => r.status === "fulfilled" ? r.value : []);
    if (ips.length === 0) {
      const reason = results.map((r) => r.status === "rejected" ? errorText(r.reason) : "empty");
      this.#o.logger.info("Peer domain {name} has no addresses yet: {reason}", {
        name,
        reason: reason.join("; "),
      });
      return;
    }
    const known = this.#o.known();
    const fresh = ips.filter((ip) =>
      ip !== this.#o.self.ip && !known.has(hostPortKey(ip, this.#o.port))
    );
    await Promise.all(fresh.map(async (ip) => {
      try {
        await this.#o.join({ ip, port: this.#o.port });
        this.#o.logger.info("Joined peer {ip} from {name}", { ip, name });
      } catch (error) {
        this.#o.logger.info("Cannot join peer {ip} from {name}: {error}", {
          ip,
          name,
          error: errorText(error),
        });
      }
    }));
  }
}

/** Key of an address in {@linkcode DiscoveryOptions.known}. */
export function hostPortKey(ip: string, port: number): string {
  return `${ip}|${port}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
