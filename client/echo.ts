/**
 * `echo`: a stand-in local app that answers every request with what it received, whole (the Go
 * original's echo cut bodies over 512 bytes).
 *
 * The answer is JSON: `{"method","path","headers":[[name,value],…],"body","body_encoding",
 * "body_sha256","body_bytes"}`; `body` is the text when it is valid UTF-8, else base64.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ECHO_DEFAULTS } from "./options.ts";

const log = getLogger(["wow", "echo"]);

/** Options for {@linkcode startEcho}. */
export interface EchoOptions {
  /** Port; 0 picks a free one. @default 3000 */
  port?: number;
  /** Address to bind. @default "127.0.0.1" */
  hostname?: string;
  /** Aborting stops it. */
  signal?: AbortSignal;
}

/** Handle of a running echo server. */
export interface EchoHandle {
  /** The bound address. */
  addr: Deno.NetAddr;
  /** Resolves when stopped. */
  finished: Promise<void>;
  /** Stops it. */
  shutdown(): Promise<void>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Starts the echo server.
 * @param options Port and address.
 * @returns Its handle.
 */
export function startEcho(options: EchoOptions = {}): EchoHandle {
  const server = Deno.serve({
    port: options.port ?? ECHO_DEFAULTS.port,
    hostname: options.hostname ?? "127.0.0.1",
    signal: options.signal,
    onListen: () => {},
  }, async (request) => {
    const bytes = new Uint8Array(await request.arrayBuffer());
    const url = new URL(request.url);
    let body: string;
    let encoding = "utf8";
    try {
      body = utf8.decode(bytes);
    } catch {
      body = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
      encoding = "base64";
    }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    log.info("{method} {path} {bytes}B", {
      method: request.method,
      path: url.pathname + url.search,
      bytes: bytes.length,
    });
    return Response.json({
      method: request.method,
      path: url.pathname + url.search,
      headers: [...request.headers],
      body,
      body_encoding: encoding,
      body_bytes: bytes.length,
      body_sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
    });
  });
  return {
    addr: server.addr as Deno.NetAddr,
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
}
