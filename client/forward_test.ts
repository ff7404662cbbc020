import assert from "node:assert/strict";
import { localPath } from "./forward.ts";

Deno.test("localPath maps an empty target to the root of a bare target URL", () => {
  assert.equal(localPath(new URL("http://localhost:3000"), ""), "/");
  assert.equal(localPath(new URL("http://localhost:3000/"), ""), "/");
});

Deno.test("localPath appends the suffix and query to the target URL's path", () => {
  const base = new URL("http://localhost:3000/base");
  assert.equal(localPath(base, "/gh/events?x=1"), "/base/gh/events?x=1");
  assert.equal(localPath(base, ""), "/base");
  assert.equal(localPath(base, "?x=1"), "/base?x=1");
  assert.equal(localPath(new URL("http://localhost:3000"), "/gh"), "/gh");
  assert.equal(localPath(new URL("http://localhost:3000"), "?x=1&y=2"), "/?x=1&y=2");
});

Deno.test("localPath does not double the slash after a base path ending in /", () => {
  assert.equal(localPath(new URL("http://localhost:3000/base/"), "/gh"), "/base/gh");
});

Deno.test("localPath keeps percent-encoding of the base path and the target", () => {
  assert.equal(
    localPath(new URL("http://localhost:3000/a b"), "/c%2Fd?e=%20"),
    "/a%20b/c%2Fd?e=%20",
  );
});

// BUG (forward.ts:57): the trailing slash of the target URL's path is dropped even when nothing
// follows it, so `--target-url http://localhost:3000/hooks/` turns a webhook to /webhook/<id> into
// a request for /hooks (which many frameworks answer with a redirect or 404).
Deno.test("localPath keeps the target URL's trailing slash when the suffix is empty", () => {
  const base = new URL("http://localhost:3000/hooks/");
  assert.equal(localPath(base, ""), "/hooks/");
  assert.equal(localPath(base, "?x=1"), "/hooks/?x=1");
});

Deno.test("localPath merges the target URL's query first, then the webhook's", () => {
  const base = new URL("http://localhost:3000/hook?token=abc");
  assert.equal(localPath(base, "/p?x=1"), "/hook/p?token=abc&x=1");
  assert.equal(localPath(base, "/p"), "/hook/p?token=abc");
  assert.equal(localPath(base, ""), "/hook?token=abc");
  assert.equal(localPath(new URL("http://localhost:3000/?a=1&a=2"), "?b=3"), "/?a=1&a=2&b=3");
});
