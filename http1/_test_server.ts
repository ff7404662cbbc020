/**
 * Test helper for the HTTP/1.1 server's tests: a server on a loopback port with no timeouts, an
 * 8 KiB head limit, a JSON 500 for handler errors, and the refusals it logged.
 *
 * @module
 */
import { type Http1Server, Reply, serveHttp1, type ServeHttp1Options } from "./mod.ts";

/** A test server: disposable, and the refusals it reported as `"<status> <message>"`. */
export type TestServer = Http1Server & AsyncDisposable & { refused: string[] };

/**
 * Starts a server on a loopback port; requests go to `handler`.
 * @param handler The request handler.
 * @param options Options over the defaults above.
 * @returns The server, shut down when disposed.
 */
export function startTestServer(
  handler: ServeHttp1Options["handler"],
  options: Partial<ServeHttp1Options> = {},
): TestServer {
  const refused: string[] = [];
  const server = serveHttp1({
    hostname: "127.0.0.1",
    port: 0,
    headerTimeout: 0,
    idleTimeout: 0,
    maxHeadSize: 8 * 1024,
    handler,
    onError: (error) => Reply.json(500, { error: String(error) }),
    onRefused: (r) => refused.push(`${r.status} ${r.message}`),
    ...options,
  });
  return Object.assign(server, { refused, [Symbol.asyncDispose]: () => server.shutdown() });
}
