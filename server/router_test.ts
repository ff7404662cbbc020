import assert from "node:assert/strict";
import { guard, type Handler, route, Router } from "./router.ts";
import { HttpError } from "./http_error.ts";
import { ServerRequest } from "../http1/mod.ts";
import { toResponse } from "./_test_app.ts";

const echo: Handler<unknown> = (_request, _ctx, info) =>
  Response.json({ id: info.id, rest: info.rest });

function router(): Router<unknown> {
  return new Router({}, [
    route("*", "/webhook/:id/*", echo),
    route("GET", "/ws/:id", echo),
    route<unknown>("GET", "/internal", () => new Response("bare")),
    route("GET", "/internal/*", echo),
    route<unknown>("GET", "/refuse", () => {
      throw new HttpError(409, "No", { headers: { "retry-after": "3" } });
    }),
    route<unknown>(
      "GET",
      "/guarded",
      () => new Response("through"),
      guard((request) => {
        if (!request.has("x-ok")) throw new HttpError(401, "Say ok");
      }),
    ),
  ], { fallback: () => new Response("fallback", { status: 404 }) });
}

async function call(path: string, init?: RequestInit): Promise<[number, unknown]> {
  const response = toResponse(
    await router().handle(
      ServerRequest.fromRequest(new Request(`http://x${path}`, init), "127.0.0.1"),
    ),
  );
  const text = await response.text();
  try {
    return [response.status, JSON.parse(text)];
  } catch {
    return [response.status, text];
  }
}

Deno.test("Router matches :id as one segment and a final * as the rest of the path", async () => {
  assert.deepEqual(await call("/webhook/abc"), [200, { id: "abc", rest: "" }]);
  assert.deepEqual(await call("/webhook/abc/gh/x"), [200, { id: "abc", rest: "/gh/x" }]);
  assert.deepEqual(await call("/webhook/"), [200, { id: "", rest: "" }]);
  assert.deepEqual(await call("/webhook//x", { method: "POST" }), [200, { id: "", rest: "/x" }]);
  assert.deepEqual(await call("/webhook"), [404, "fallback"]);
  assert.deepEqual(await call("/webhookx/abc"), [404, "fallback"]);
  assert.deepEqual(await call("/ws/abc"), [200, { id: "abc", rest: "" }]);
  assert.deepEqual(await call("/ws/abc/def"), [404, "fallback"]);
  assert.deepEqual(await call("/ws/abc", { method: "POST" }), [404, "fallback"]);
});

Deno.test("Router tries the routes of one first segment in table order", async () => {
  assert.deepEqual(await call("/internal"), [200, "bare"]);
  assert.deepEqual(await call("/internal/a/b"), [200, { id: "", rest: "/a/b" }]);
});

Deno.test("Router renders a thrown HttpError as JSON, from handlers and guards", async () => {
  const response = toResponse(
    await router().handle(ServerRequest.fromRequest(new Request("http://x/refuse"), "127.0.0.1")),
  );
  assert.equal(response.status, 409);
  assert.equal(response.headers.get("retry-after"), "3");
  assert.deepEqual(await response.json(), { error: "No" });
  assert.deepEqual(await call("/guarded"), [401, { error: "Say ok" }]);
  assert.deepEqual(await call("/guarded", { headers: { "x-ok": "1" } }), [200, "through"]);
});

Deno.test("Router rethrows errors that are not HttpError (the server answers 500)", () => {
  const broken = new Router({}, [
    route<unknown>("GET", "/boom", () => {
      throw new TypeError("bug");
    }),
  ], { fallback: () => new Response(null, { status: 404 }) });
  assert.throws(
    () => broken.handle(ServerRequest.fromRequest(new Request("http://x/boom"), "127.0.0.1")),
    TypeError,
  );
});

Deno.test("Router refuses patterns it cannot match", () => {
  const fallback = () => new Response();
  assert.throws(() => new Router({}, [route("GET", "/a/*/b", echo)], { fallback }), TypeError);
  assert.throws(() => new Router({}, [route("GET", "/a/:name", echo)], { fallback }), TypeError);
});
