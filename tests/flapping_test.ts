/**
 * End to end: 30 seconds of a server killed and restarted every few seconds. Every request gets
 * its real answer, a clean 5xx, or (while no server listens) a refused connection; none is
 * delivered twice; the client keeps coming back by itself.
 */
import assert from "node:assert/strict";
import {
  freePort,
  type ServerProc,
  startApp,
  startClientProc,
  startServerProc,
} from "./_harness.ts";

const FLAP_DURATION = 30_000;

Deno.test("deliveries stay exact while the server flaps for 30 seconds", async () => {
  const deliveries = new Map<string, number>();
  await using app = startApp(async (request) => {
    const id = await request.text();
    deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
    return new Response(`answer:${id}`);
  });
  const port = freePort();
  const args = ["--channel-key", "flap-key", "--log-level", "WARN"];
  let server: ServerProc = await startServerProc(args, { port });
  await using client = await startClientProc(server.url, app.url, ["--log-level", "ERROR"]);

  const outcomes = { answered: 0, clean5xx: 0, refused: 0 };
  const bad: string[] = [];
  const deadline = Date.now() + FLAP_DURATION;
  let stopSending = false;
  // A sender that never reuses connections: Deno's fetch (like many HTTP clients) silently
  // re-sends a POST when a reused keep-alive connection dies after the request was written,
  // which would count as a duplicate that the tunnel did not make.
  const httpClient = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const sender = (async () => {
    for (let n = 0; !stopSending; n++) {
      const id = `req-${n}`;
      try {
        const response = await fetch(client.webhookUrl, {
          method: "POST",
          body: id,
          signal: AbortSignal.timeout(15_000),
          client: httpClient,
        });
        const text = await response.text();
        if (response.status === 200 && text === `answer:${id}`) outcomes.answered++;
        else if ([502, 503, 504].includes(response.status) && JSON.parse(text).error) {
          outcomes.clean5xx++;
        } else bad.push(`${id}: ${response.status} ${text.slice(0, 100)}`);
      } catch (error) {
        // A hung delivery (our 15 s timeout) is a failure, not a refused connection.
        if ((error as Error).name === "TimeoutError") bad.push(`${id}: no answer within 15 s`);
        else outcomes.refused++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  })();

  let restarts = 0;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000 + Math.random() * 2000));
    await server.stop("SIGKILL");
    server = await startServerProc(args, { port });
    restarts++;
  }
  // After the last restart the client must come back and deliver again.
  const answeredBefore = outcomes.answered;
  const settle = Date.now() + 15_000;
  while (outcomes.answered < answeredBefore + 5 && Date.now() < settle) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  stopSending = true;
  await sender;
  httpClient.close();
  await server.stop("SIGTERM");

  assert.deepEqual(bad, []);
  const duplicates = [...deliveries].filter(([, count]) => count > 1);
  assert.deepEqual(duplicates, [], "no request delivered twice");
  assert.ok(restarts >= 5, `restarts: ${restarts}`);
  assert.ok(outcomes.answered >= answeredBefore + 5, "deliveries resumed after the last restart");
  assert.ok(outcomes.answered > 50, JSON.stringify(outcomes));
  console.log(`flapping: ${restarts} restarts, ${JSON.stringify(outcomes)}`);
});
