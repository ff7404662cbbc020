/**
 * Starts the inspector's HTTP server (`Deno.serve`) on the inspect address, trying the next ports
 * when asked to, and parses `--inspect-addr` values.
 *
 * @module
 */
import { CLIENT_DEFAULTS } from "../options.ts";
import { createInspectorHandler, type InspectorHandlerOptions } from "./api.ts";

/** Defaults of the inspector's address, one place. */
export const INSPECTOR_DEFAULTS = {
  /** Loopback only: the history holds signatures, tokens and payloads. */
  addr: CLIENT_DEFAULTS.inspectAddr,
  /** ngrok's port, which developers already know; when busy, the next ones up to 4050. */
  portTries: 11,
} as const;

/** A parsed `--inspect-addr`. */
export interface InspectAddr {
  /** Host name or IP address (IPv6 without brackets). */
  hostname: string;
  /** Port (0: any free one). */
  port: number;
}

/**
 * Parses `host:port`, `[v6]:port`, `:port` (loopback) or a bare port.
 * @param text The flag's value (not `off`).
 * @returns The address.
 * @throws {TypeError} When it is not an address with a port.
 */
export function parseInspectAddr(text: string): InspectAddr {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(text) ??
    /^()()(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new TypeError(`Cannot use inspect address "${text}": expected host:port or off`);
  }
  return { hostname: match[1] || match[2] || "127.0.0.1", port };
}

/**
 * Whether an address is loopback (`127.0.0.0/8`, `::1`, `localhost`).
 * @param hostname A host name or IP.
 * @returns True for loopback.
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Options for {@linkcode startInspector}. */
export interface InspectorOptions extends Omit<InspectorHandlerOptions, "allowedHosts"> {
  /** Where to listen. */
  addr: InspectAddr;
  /** Ports tried from `addr.port` up, when busy. @default 1 */
  portTries?: number;
}

/** A running inspector. */
export interface InspectorHandle {
  /** The page's URL, e.g. `http://127.0.0.1:4040`. */
  readonly url: string;
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Stops it (event streams are ended first). */
  shutdown(): Promise<void>;
}

/** The inspector cannot listen: every port tried was busy, or the address is not ours. */
export class InspectorListenError extends Error {
  /**
   * @param message What failed.
   * @param options The last listen error as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InspectorListenError";
  }
}

/**
 * Starts the inspector. A non-loopback address needs `token`.
 * @param options Address, history, replay, access rules.
 * @returns The running inspector.
 * @throws {TypeError} When a non-loopback address has no token.
 * @throws {InspectorListenError} When no port could be bound.
 */
export function startInspector(options: InspectorOptions): InspectorHandle {
  const { hostname } = options.addr;
  if (!isLoopback(hostname) && !options.token) {
    throw new TypeError(
      `Cannot serve the inspector on "${hostname}" without --inspect-token: it holds secrets`,
    );
  }
  const tries = options.addr.port === 0 ? 1 : options.portTries ?? 1;
  let lastError: unknown;
  for (let i = 0; i < tries && options.addr.port + i <= 65535; i++) {
    const port = options.addr.port + i;
    const wildcard = hostname === "0.0.0.0" || hostname === "::";
    let server: Deno.HttpServer<Deno.NetAddr>;
    const hosts = new Set<string>();
    const handler = createInspectorHandler({
      ...options,
      allowedHosts: wildcard ? undefined : hosts,
    });
    try {
      server = Deno.serve({ hostname, port, onListen: () => {} }, handler);
    } catch (error) {
      lastError = error;
      if (error instanceof Deno.errors.AddrInUse) continue;
      throw new InspectorListenError(
        `Cannot serve the inspector on ${hostname}:${port}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const bound = server.addr.port;
    const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
    for (const name of [shown, "localhost", "127.0.0.1", "[::1]"]) {
      hosts.add(`${name.toLowerCase()}:${bound}`);
    }
    return {
      url: `http://${shown}:${bound}`,
      addr: server.addr,
      shutdown: async () => {
        handler.closeStreams();
        await server.shutdown();
      },
    };
  }
  throw new InspectorListenError(
    `Cannot serve the inspector: ports ${options.addr.port}–${
      options.addr.port + tries - 1
    } on ${hostname} are busy`,
    { cause: lastError },
  );
}
