import assert from "node:assert/strict";
import { InvalidArgumentError } from "commander";
import { formatDuration, formatSize, parseDuration, parseSize } from "./parse.ts";
import {
  addressArg,
  choiceListArg,
  collectList,
  durationArg,
  envName,
  httpUrlArg,
  portArg,
  positiveIntArg,
  queueUrlArg,
  sizeArg,
} from "./options.ts";

function assertSyntaxError(fn: () => unknown, value: string, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SyntaxError, `expected SyntaxError, got ${error}`);
    // The message names the offending value, quoted.
    assert.ok(error.message.includes(`"${value}"`), error.message);
    assert.match(error.message, /^[A-Z]/);
    assert.doesNotMatch(error.message, /\.$/);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

function assertInvalidArgument(fn: () => unknown, value: string, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${error}`);
    assert.equal(error.code, "commander.invalidArgument");
    assert.ok(error.message.includes(`"${value}"`), error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("parseDuration parses Go-style durations into milliseconds", () => {
  const cases: [string, number][] = [
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["2h45m30s500ms", 9_930_500],
    [".5s", 500],
    ["1.s", 1000],
    ["0", 0],
    ["0s", 0],
    [" 30s ", 30_000],
    ["1500us", 2],
    ["1500µs", 2],
    ["2000000ns", 2],
    ["90m", 5_400_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

Deno.test("parseDuration rejects text that is not a duration, naming it", () => {
  for (const text of ["5x", "m", "-1s", "5", "1h 30m", "1hh", "s5", "1d", "1.5.5h", "+1s", "NaN"]) {
    assertSyntaxError(() => parseDuration(text), text, /Cannot parse duration/);
  }
  assertSyntaxError(() => parseDuration(""), "", /empty|expected/);
  assertSyntaxError(() => parseDuration("   "), "   ");
});

Deno.test("parseSize parses byte sizes with binary and decimal units", () => {
  const cases: [string, number][] = [
    ["1024", 1024],
    ["0", 0],
    ["1B", 1],
    ["512KiB", 512 * 1024],
    ["512kib", 512 * 1024],
    ["32MiB", 32 * 1024 ** 2],
    ["1GiB", 1024 ** 3],
    ["10MB", 10_000_000],
    ["10mb", 10_000_000],
    ["2KB", 2000],
    ["3GB", 3_000_000_000],
    ["4K", 4096],
    ["4M", 4 * 1024 ** 2],
    ["1G", 1024 ** 3],
    ["1.5KiB", 1536],
    [" 8 MiB ", 8 * 1024 ** 2],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
});

Deno.test("parseSize rejects text that is not a size, naming it", () => {
  for (const text of ["", "KiB", "-1", "10XB", "1.5.5", "0x10", "1e3", "1TiB", "12 34", ".5KiB"]) {
    assertSyntaxError(() => parseSize(text), text, /Cannot parse size/);
  }
});

Deno.test("formatDuration renders short Go-style durations", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [500, "500ms"],
    [1500, "1500ms"],
    [1000, "1s"],
    [30_000, "30s"],
    [300_000, "5m"],
    [3_600_000, "1h"],
    [5_400_000, "1h30m"],
    [3_661_000, "1h1m1s"],
    [90_000_000, "25h"],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});

Deno.test("formatDuration output parses back to the same milliseconds", () => {
  for (const ms of [0, 1, 999, 1000, 61_000, 3_599_000, 3_600_000, 5_400_000, 86_400_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
});

Deno.test("formatSize renders the largest exact binary unit, and parseSize reads it back", () => {
  const cases: [number, string][] = [
    [32 * 1024 * 1024, "32MiB"],
    [64 * 1024, "64KiB"],
    [1024 ** 3, "1GiB"],
    [1536, "1536"],
    [1000, "1000"],
  ];
  for (const [bytes, text] of cases) {
    assert.equal(formatSize(bytes), text, String(bytes));
    assert.equal(parseSize(text), bytes);
  }
});

Deno.test("portArg accepts 0-65535 and raises InvalidArgumentError otherwise", () => {
  assert.equal(portArg("0"), 0);
  assert.equal(portArg("8080"), 8080);
  assert.equal(portArg("65535"), 65535);
  for (const text of ["65536", "-1", "abc", "", "80.5", "1e3", "0x50"]) {
    assertInvalidArgument(() => portArg(text), text, /port number 0-65535/);
  }
});

Deno.test("httpUrlArg accepts absolute http(s) URLs and raises InvalidArgumentError otherwise", () => {
  assert.equal(httpUrlArg("http://localhost:3000"), "http://localhost:3000");
  assert.equal(httpUrlArg("https://hooks.example.com/base"), "https://hooks.example.com/base");
  assertInvalidArgument(() => httpUrlArg("ftp://example.com"), "ftp://example.com", /http:\/\//);
  assertInvalidArgument(() => httpUrlArg("localhost:3000"), "localhost:3000");
  assertInvalidArgument(() => httpUrlArg("/relative"), "/relative", /absolute URL/);
  assertInvalidArgument(() => httpUrlArg(""), "", /absolute URL/);
});

Deno.test("sizeArg parses sizes above 0 and raises InvalidArgumentError otherwise", () => {
  assert.equal(sizeArg("32MiB"), 32 * 1024 ** 2);
  assertInvalidArgument(() => sizeArg("0"), "0", /above 0/);
  assertInvalidArgument(() => sizeArg("0.1"), "0.1", /above 0/);
  assertInvalidArgument(() => sizeArg("lots"), "lots", /Cannot parse size/);
});

Deno.test("durationArg wraps parseDuration errors in InvalidArgumentError", () => {
  assert.equal(durationArg("1h30m"), 5_400_000);
  assertInvalidArgument(() => durationArg("5x"), "5x", /Cannot parse duration/);
});

Deno.test("positiveIntArg accepts whole numbers above 0 only", () => {
  assert.equal(positiveIntArg("3"), 3);
  for (const text of ["0", "-3", "1.5", "x"]) {
    assertInvalidArgument(() => positiveIntArg(text), text, /whole number above 0/);
  }
});

Deno.test("addressArg accepts IPs and host names and rejects anything else", () => {
  for (const text of ["10.0.0.5", "::1", "[::1]", "node-1.example.com"]) {
    assert.equal(addressArg(text), text);
  }
  for (const text of ["", "a b", "http://x", "x/y"]) {
    assertInvalidArgument(() => addressArg(text), text, /IP address or host name/);
  }
});

Deno.test("collectList splits commas, trims and appends to earlier values", () => {
  assert.deepEqual(collectList("a, b,,c ", undefined), ["a", "b", "c"]);
  assert.deepEqual(collectList("d", ["a"]), ["a", "d"]);
});

Deno.test("envName maps a flag to its WOW_ variable", () => {
  assert.equal(envName("server-url"), "WOW_SERVER_URL");
  assert.equal(envName("port"), "WOW_PORT");
});

Deno.test("choiceListArg takes a comma-separated subset and names an unknown value", () => {
  const parse = choiceListArg(["auto", "queue", "reject"] as const);
  assert.deepEqual(parse("auto, queue"), ["auto", "queue"]);
  assert.deepEqual(parse("reject,reject"), ["reject"]);
  assertInvalidArgument(() => parse("auto,later"), "later", /allowed are auto, queue, reject/);
  assert.throws(() => parse(" , "), InvalidArgumentError);
});

Deno.test("queueUrlArg takes off, memory:, sqlite:<path>, redis:// and rediss://; hides a password", () => {
  for (
    const url of ["off", "memory:", "sqlite:/tmp/q.db", "redis://h:6379/1", "rediss://u:p@h:1"]
  ) {
    assert.equal(queueUrlArg(url), url);
  }
  assertInvalidArgument(() => queueUrlArg("sqlite:"), "sqlite:", /sqlite:<path>/);
  assert.throws(() => queueUrlArg("mysql://user:secret@h/db"), (error: Error) => {
    assert.ok(!error.message.includes("secret"), error.message);
    return error instanceof InvalidArgumentError;
  });
});
