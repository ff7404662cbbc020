/**
 * The benchmark's local app: a separate process that reads each request body fully and answers
 * 200 with a small body. Usage: `deno run -A bench/app.ts [port]`; prints `listening <port>`.
 *
 * @module
 */
const port = Number(Deno.args[0] ?? 0);
const body = new TextEncoder().encode("ok\n");
const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ port }) => console.log(`listening ${port}`),
}, async (request) => {
  if (request.body) {
    // Drain without concatenating: the app's own memory should not dominate.
    for await (const _ of request.body);
  }
  return new Response(body, { headers: { "content-type": "text/plain" } });
});
Deno.addSignalListener("SIGTERM", () => server.shutdown().then(() => Deno.exit(0)));
