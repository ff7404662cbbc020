import assert from "node:assert/strict";
import { Http1Client, ServerRequest } from "../http1/mod.ts";
import { toResponse } from "./_test_app.ts";
import { relayWebhook } from "./relay.ts";

Deno.test("relayWebhook calls onFailure when the owner is unreachable, not when it answers", async () => {
  const http = new Http1Client();
  const owner = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("owner"),
  );
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  try {
    let failures = 0;
    const options = { headers: [], http, timeout: 2_000, onFailure: () => failures++ };
    const request = () =>
      ServerRequest.fromRequest(
        new Request("http://sender.example/webhook/x", { method: "POST" }),
        "127.0.0.1",
      );
    const relay = async (url: string) => toResponse(await relayWebhook(request(), url, options));
    const ok = await relay(`http://127.0.0.1:${owner.addr.port}`);
    assert.equal(await ok.text(), "owner");
    assert.equal(failures, 0);
    const down = await relay(`http://127.0.0.1:${deadPort}`);
    await down.body?.cancel();
    assert.equal(down.status, 502);
    assert.equal(failures, 1);
  } finally {
    await http.close();
    await owner.shutdown();
  }
});
