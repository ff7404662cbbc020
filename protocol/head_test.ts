import assert from "node:assert/strict";
import {
  decodeRequestHead,
  decodeReset,
  decodeResponseHead,
  encodeRequestHead,
  encodeReset,
  encodeResponseHead,
  type RequestHead,
  type ResponseHead,
  responseHeadBound,
  writeResponseHead,
} from "./head.ts";
import { endToEndHeaders, HOP_BY_HOP_HEADERS } from "./headers.ts";
import { ProtocolError, RESET_CODES } from "./errors.ts";
import { decodeFrames, encodeFrames, FrameType } from "./frame.ts";

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function assertProtocolError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("encodeRequestHead and decodeRequestHead round-trip repeated and latin-1 headers", () => {
  const head: RequestHead = {
    method: "PATCH",
    target: "/gh/events?x=1&y=%20",
    headers: [
      ["set-cookie", "a=1"],
      ["x-sig", "sha256=abc"],
      ["set-cookie", "b=2"],
      ["x-latin", "caf\xe9 \xff\x80\ttab"],
      ["x-empty", ""],
    ],
  };
  assert.deepEqual(decodeRequestHead(encodeRequestHead(head)), head);
});

Deno.test("decodeRequestHead accepts an empty target and a query-only target", () => {
  for (const target of ["", "?a=b", "/"]) {
    const head: RequestHead = { method: "GET", target, headers: [] };
    assert.deepEqual(decodeRequestHead(encodeRequestHead(head)), head);
  }
});

Deno.test("encodeResponseHead and decodeResponseHead round-trip status and repeated headers", () => {
  for (const status of [200, 204, 301, 404, 599]) {
    const head: ResponseHead = {
      status,
      headers: [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-v", "\xe4\xf6\xfc"]],
    };
    assert.deepEqual(decodeResponseHead(encodeResponseHead(head)), head);
  }
});

Deno.test("decodeRequestHead rejects a bad method", () => {
  for (const method of ["", "GE T", "GET\r\n", "G(ET)", 42, null]) {
    assertProtocolError(() => decodeRequestHead(json([method, "/", []])), /invalid method/);
  }
});

Deno.test("decodeRequestHead rejects a bad target", () => {
  for (const target of ["x", "http://evil/", "/a b", "/a\r\nx: y", "/\x00", "?\t", 5, null]) {
    assertProtocolError(
      () => decodeRequestHead(json(["GET", target, []])),
      /target must be empty or start with/,
    );
  }
});

Deno.test("decodeRequestHead rejects a bad header name", () => {
  for (const name of ["", "x y", "x:y", "x\r\ny", "\xe9", "a\x00"]) {
    assertProtocolError(
      () => decodeRequestHead(json(["GET", "/", [[name, "v"]]])),
      /each header must be a valid \[name, value\]/,
    );
  }
});

Deno.test("decodeRequestHead rejects CR, LF, NUL and non-latin-1 in a header value", () => {
  for (
    const value of ["a\r\nx-injected: 1", "a\nb", "a\rb", "a\x00b", "a\x7fb", "\u20ac", "\u{1f600}"]
  ) {
    assertProtocolError(
      () => decodeRequestHead(json(["GET", "/", [["x", value]]])),
      /each header must be a valid/,
    );
  }
});

Deno.test("decodeRequestHead rejects headers of the wrong shape", () => {
  for (
    const headers of [{}, "x", [["a"]], [["a", "b", "c"]], [["a", 1]], [[1, "a"]], ["ab"], [null]]
  ) {
    assertProtocolError(
      () => decodeRequestHead(json(["GET", "/", headers])),
      /headers must be a list|each header must be a valid/,
    );
  }
});

Deno.test("decodeRequestHead rejects non-JSON and non-UTF-8 payloads", () => {
  const enc = new TextEncoder();
  for (
    const bytes of [
      enc.encode(""),
      enc.encode("[1,"),
      enc.encode("nope"),
      Uint8Array.of(0xff, 0xfe),
    ]
  ) {
    assertProtocolError(() => decodeRequestHead(bytes), /request head: not UTF-8 JSON/);
  }
});

Deno.test("decodeRequestHead rejects JSON of the wrong shape", () => {
  for (const value of [null, 1, "GET", {}, [], ["GET", "/"], ["GET", "/", [], 1], { 0: "GET" }]) {
    assertProtocolError(
      () => decodeRequestHead(json(value)),
      /expected \[method, target, headers\]/,
    );
  }
});

Deno.test("decodeResponseHead rejects a status out of range or not an integer", () => {
  for (const status of [0, 100, 101, 199, 600, 999, 200.5, "200", null, -1]) {
    assertProtocolError(
      () => decodeResponseHead(json([status, []])),
      /status must be an integer 200-599/,
    );
  }
});

Deno.test("decodeResponseHead rejects wrong shapes and bad headers", () => {
  for (const value of [null, {}, [], [200], [200, [], 1]]) {
    assertProtocolError(() => decodeResponseHead(json(value)), /expected \[status, headers\]/);
  }
  assertProtocolError(() => decodeResponseHead(json([200, [["a b", "c"]]])), /response head/);
  assertProtocolError(
    () => decodeResponseHead(new TextEncoder().encode("{")),
    /response head: not UTF-8 JSON/,
  );
});

Deno.test("encodeReset and decodeReset round-trip every reset code", () => {
  for (const code of RESET_CODES) {
    assert.deepEqual(decodeReset(encodeReset({ code, message: `why ${code}` })), {
      code,
      message: `why ${code}`,
    });
  }
});

Deno.test("encodeReset truncates a long message to 512 characters", () => {
  const info = decodeReset(encodeReset({ code: "target_error", message: "x".repeat(5000) }));
  assert.equal(info.message.length, 512);
});

// Regression: the message used to be cut at 1024 UTF-16 units, which JSON escaping (`\u0001` is 6
// bytes) could push past the 4096-byte RESET limit, so the peer dropped the whole tunnel.
Deno.test("encodeReset output always fits in a RESET frame the peer accepts", () => {
  for (const message of ["\x01".repeat(5000), "\u20ac".repeat(5000), "\u{1f600}".repeat(5000)]) {
    const payload = encodeReset({ code: "target_error", message });
    const frames = decodeFrames(encodeFrames([{ type: FrameType.Reset, streamId: 1, payload }]));
    assert.equal(decodeReset(frames[0].payload).code, "target_error");
  }
});

Deno.test("decodeReset rejects unknown codes and malformed payloads", () => {
  for (
    const value of [["nope", "x"], ["cancelled"], ["cancelled", 1], { code: "cancelled" }, null]
  ) {
    assertProtocolError(() => decodeReset(json(value)), /expected \[known code, message\]/);
  }
  assertProtocolError(() => decodeReset(new TextEncoder().encode("")), /reset: not UTF-8 JSON/);
});

Deno.test("endToEndHeaders drops hop-by-hop headers", () => {
  const hop = [...HOP_BY_HOP_HEADERS].map((name): [string, string] => [name, "x"]);
  assert.deepEqual(endToEndHeaders([...hop, ["x-keep", "1"]]), [["x-keep", "1"]]);
});

Deno.test("endToEndHeaders drops headers named by Connection, case-insensitively", () => {
  const result = endToEndHeaders([
    ["Connection", "keep-alive, X-Secret ,x-other"],
    ["x-secret", "s"],
    ["X-Other", "o"],
    ["x-public", "p"],
  ]);
  assert.deepEqual(result, [["x-public", "p"]]);
});

Deno.test("endToEndHeaders keeps order and repeats and lower-cases names", () => {
  const result = endToEndHeaders([
    ["Set-Cookie", "a=1"],
    ["Host", "example.com"],
    ["Transfer-Encoding", "chunked"],
    ["set-cookie", "b=2"],
    ["X-A", "3"],
  ]);
  assert.deepEqual(result, [
    ["set-cookie", "a=1"],
    ["host", "example.com"],
    ["set-cookie", "b=2"],
    ["x-a", "3"],
  ]);
});

Deno.test("endToEndHeaders accepts any iterable such as Headers", () => {
  const headers = new Headers([["x-a", "1"], ["connection", "x-a"], ["x-b", "2"]]);
  assert.deepEqual(endToEndHeaders(headers), [["x-b", "2"]]);
});

/** A pseudo-random generator (xorshift), so failures reproduce. */
function generator(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** Strings from characters that matter to JSON and to the plain paths. */
function randomString(next: (n: number) => number): string {
  const chars = [
    "a",
    "Z",
    "-",
    "/",
    "?",
    " ",
    '"',
    "\\",
    "[",
    "]",
    ",",
    ":",
    "\t",
    "\u0001",
    "é",
    "\u00ff",
    "\u2028",
    "\ud800",
  ];
  let s = "";
  for (let i = next(6); i > 0; i--) s += next(3) === 0 ? chars[next(chars.length)] : "x";
  return s;
}

Deno.test("writeResponseHead writes exactly encodeResponseHead's bytes, or -1 for the general encoder", () => {
  const next = generator(42);
  const out = new Uint8Array(64 * 1024);
  let written = 0;
  for (let i = 0; i < 5000; i++) {
    const headers: [string, string][] = [];
    for (let j = next(4); j > 0; j--) headers.push([randomString(next), randomString(next)]);
    const head: ResponseHead = { status: [200, 204, 404, 599][next(4)], headers };
    const end = writeResponseHead(head, out, 3);
    if (end < 0) continue;
    written++;
    assert.ok(end - 3 <= responseHeadBound(head));
    assert.deepEqual(out.subarray(3, end), encodeResponseHead(head));
  }
  assert.ok(written > 1000, `only ${written} heads took the direct path`);
});

Deno.test("decodeRequestHead decodes the plain form as JSON.parse would, and rejects the same", () => {
  const next = generator(7);
  const enc = new TextEncoder();
  let decoded = 0;
  for (let i = 0; i < 5000; i++) {
    const headers: [string, string][] = [];
    for (let j = next(4); j > 0; j--) {
      headers.push([next(2) ? "x-a" : randomString(next), next(2) ? "v" : randomString(next)]);
    }
    const head: RequestHead = {
      method: next(4) ? "POST" : randomString(next),
      target: next(2) ? "/p?q=1" : randomString(next),
      headers,
    };
    let text = JSON.stringify([head.method, head.target, head.headers]);
    if (next(4) === 0) text = text.replace(",", ", "); // not the plain form: JSON.parse's path
    let expected: RequestHead | string;
    try {
      const [method, target, list] = JSON.parse(text);
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method)) throw new Error("invalid method");
      // deno-lint-ignore no-control-regex -- as decodeRequestHead checks targets
      if (!/^([/?].*)?$/.test(target) || /[\s\x00-\x1f]/.test(target)) throw new Error("target");
      for (const [name, value] of list) {
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new Error("header");
        if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(value)) throw new Error("header");
      }
      expected = { method, target, headers: list };
    } catch {
      expected = "rejected";
    }
    let actual: RequestHead | string;
    try {
      actual = decodeRequestHead(enc.encode(text));
      decoded++;
    } catch (error) {
      assert.ok(error instanceof ProtocolError, String(error));
      actual = "rejected";
    }
    assert.deepEqual(actual, expected, text);
  }
  assert.ok(decoded > 1000, `only ${decoded} heads decoded`);
});
