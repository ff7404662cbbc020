import assert from "node:assert/strict";
import { CidrSet, parseCidr, parseIp } from "./cidr.ts";

Deno.test("parseIp reads IPv4, IPv6 and IPv4-mapped IPv6, and refuses anything else", () => {
  assert.deepEqual(parseIp("10.1.2.3"), new Uint8Array([10, 1, 2, 3]));
  assert.deepEqual(parseIp("::ffff:10.1.2.3"), new Uint8Array([10, 1, 2, 3]));
  assert.deepEqual(parseIp("::1"), new Uint8Array([...Array(15).fill(0), 1]));
  assert.equal(parseIp("2001:db8::1")?.length, 16);
  assert.equal(parseIp("1:2:3:4:5:6:7:8")?.[15], 8);
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.256",
      "01.2.3.4",
      "::1::",
      "1:2:3:4:5:6:7:8:9",
      "x",
      "1.2.3.4:80",
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("CidrSet matches addresses in its ranges, IPv4 and IPv6", () => {
  const set = new CidrSet([
    "10.0.0.0/8",
    "172.16.0.0/12",
    "fd00::/8",
    "192.0.2.7",
    "::ffff:198.51.100.0/120",
  ]);
  for (
    const ip of [
      "10.255.0.1",
      "172.31.9.9",
      "fd12::5",
      "192.0.2.7",
      "::ffff:10.0.0.1",
      "198.51.100.77",
    ]
  ) {
    assert.ok(set.has(ip), ip);
  }
  for (
    const ip of [
      "11.0.0.1",
      "172.32.0.1",
      "fe80::1",
      "192.0.2.8",
      "127.0.0.1",
      "garbage",
      "198.51.101.1",
    ]
  ) {
    assert.ok(!set.has(ip), ip);
  }
  assert.ok(new CidrSet(["0.0.0.0/0"]).has("8.8.8.8"));
  assert.ok(!new CidrSet(["0.0.0.0/0"]).has("::2"), "an IPv4 range never matches IPv6");
  assert.ok(new CidrSet().empty);
});

Deno.test("parseCidr refuses malformed ranges with a message naming the value", () => {
  for (
    const bad of ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8/8", "fd00::/129", "nope", "10.0.0.0/-1"]
  ) {
    assert.throws(() => parseCidr(bad), /Expected an IP address or CIDR range .*got "/, bad);
  }
});
