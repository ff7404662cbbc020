/**
 * End to end: 30 seconds of a server killed and restarted every few seconds. Every request gets
 * its real answer, a clean 5xx (JSON with an `error`), a refused connection (while no server
 * listens), or a connection cut by a kill that happened while it was in flight; anything else
 * (a 5xx that is not JSON, a hang, a reset with no kill) fails the test. None is delivered twice;
 * the client keeps coming back by itself.
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

/** What one webhook sent while the server flaps ended with. */
type Outcome = "answered" | "clean5xx" | "refused" | "cutByKill" | "bad";

/** A request's answer, or the error `fetch` threw, and whether a kill overlapped it. */
type Attempt =
  | { id: string; status: number; text: string }
  | { id: string; error: unknown; killedDuring: boolean };

/** The message of `error` and of its causes (Deno's fetch puts the OS error in `cause`). */
function messages(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(" <- ");
}

/**
 * Classifies one attempt. Only a network refusal counts as refused, and a connection cut short
 * (reset, closed mid-exchange) only when a kill overlapped the request; a 5xx only with the
 * server's JSON error body.
 */
function classify(attempt: Attempt): Outcome {
  if ("status" in attempt) {
    if (attempt.status === 200 && attempt.text === `answer:${attempt.id}`) return "answered";
    if ([502, 503, 504].includes(attempt.status)) {
      try {
        const body = JSON.parse(attempt.text);
        if (typeof body?.error === "string" && body.error !== "") return "clean5xx";
      } catch { /* not JSON: bad */ }
    }
    return "bad";
  }
  const { error, killedDuring } = attempt;
  if (!(error instanceof TypeError)) return "bad"; // e.g. our TimeoutError: a hung delivery
  const text = messages(error);
  if (/Connection refused \(os error 111\)/.test(text)) return "refused";
  const cut =
    /connection closed before message completed|Connection reset|error reading a body from connection|broken pipe/i;
  if (killedDuring && cut.test(text)) return "cutByKill";
  return "bad";
}

Deno.test("flapping: classify counts only refusals as refused and only clean JSON 5xx as clean", () => {
  const refused = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (http://127.0.0.1:1/): client error (Connect): tcp connect error: Connection refused (os error 111)",
    ),
  });
  const cut = new TypeError("fetch failed", {
    cause: new Error("client error (SendRequest): connection closed before message completed"),
  });
  const cases: [Attempt, Outcome][] = [
    [{ id: "a", status: 200, text: "answer:a" }, "answered"],
    [{ id: "a", status: 200, text: "answer:b" }, "bad"],
    [{ id: "a", status: 502, text: '{"error":"Bad gateway"}' }, "clean5xx"],
    [{ id: "a", status: 503, text: "<html>Service Unavailable</html>" }, "bad"],
    [{ id: "a", status: 504, text: "{}" }, "bad"],
    [{ id: "a", status: 500, text: '{"error":"boom"}' }, "bad"],
    [{ id: "a", error: refused, killedDuring: false }, "refused"],
    [{ id: "a", error: cut, killedDuring: true }, "cutByKill"],
    [{ id: "a", error: cut, killedDuring: false }, "bad"],
    [{ id: "a", error: new SyntaxError("Unexpected token"), killedDuring: true }, "bad"],
    [{ id: "a", error: new DOMException("timed out", "TimeoutError"), killedDuring: true }, "bad"],
    [{ id: "a", error: new TypeError("fetch failed"), killedDuring: true }, "bad"],
  ];
  for (const [attempt, expected] of cases) {
    assert.equal(
      classify(attempt),
      expected,
      JSON.stringify({ ...attempt, error: messages((attempt as { error?: unknown }).error) }),
    );
  }
});

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

  const outcomes: Record<Outcome, number> = {
    answered: 0,
    clean5xx: 0,
    refused: 0,
    cutByKill: 0,
    bad: 0,
  };
  const bad: string[] = [];
  /** [sent, exited] of every SIGKILL, performance.now() ms. */
  const kills: [number, number][] = [];
  const deadline = Date.now() + FLAP_DURATION;
  let stopSending = false;
  // A sender that never reuses connections: Deno's fetch (like many HTTP clients) silently
  // re-sends a POST when a reused keep-alive connection dies after the request was written,
  // which would count as a duplicate that the tunnel did not make.
  const httpClient = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const sender = (async () => {
    for (let n = 0; !stopSending; n++) {
      const id = `req-${n}`;
      const started = performance.now();
      let attempt: Attempt;
      try {
        const response = await fetch(client.webhookUrl, {
          method: "POST",
          body: id,
          signal: AbortSignal.timeout(15_000),
          client: httpClient,
        });
        attempt = { id, status: response.status, text: await response.text() };
      } catch (error) {
        const ended = performance.now();
        // A kill still under way (exit not yet seen) overlaps too.
        const killedDuring = kills.some(([sent, exited]) => sent <= ended && exited >= started);
        attempt = { id, error, killedDuring };
      }
      const outcome = classify(attempt);
      outcomes[outcome]++;
      if (outcome === "bad") {
        bad.push(
          "status" in attempt
            ? `${id}: ${attempt.status} ${attempt.text.slice(0, 100)}`
            : `${id}: ${messages(attempt.error)}${attempt.killedDuring ? " (during a kill)" : ""}`,
        );
      }
      if (outcome === "refused" || outcome === "cutByKill") {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  })();

  let restarts = 0;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000 + Math.random() * 2000));
    const kill: [number, number] = [performance.now(), Infinity];
    kills.push(kill);
    await server.stop("SIGKILL");
    kill[1] = performance.now();
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
