import assert from "node:assert/strict";
import { detectAdvertiseAddress, isIPv4 } from "./address.ts";

function iface(name: string, address: string, family: "IPv4" | "IPv6" = "IPv4") {
  return {
    name,
    address,
    family,
    netmask: family === "IPv4" ? "255.255.255.0" : "ffff:ffff:ffff:ffff::",
    scopeid: family === "IPv4" ? null : 0,
    cidr: `${address}/24`,
    mac: "00:00:00:00:00:00",
  } satisfies Deno.NetworkInterfaceInfo;
}

const noEnv = () => undefined;
const env = (values: Record<string, string>) => (name: string) => values[name];
const INTERFACES = [
  iface("lo", "127.0.0.1"),
  iface("docker0", "172.17.0.1"),
  iface("eth0", "fe80::1", "IPv6"),
  iface("eth0", "10.0.0.5"),
];

Deno.test("detectAdvertiseAddress prefers --advertise-addr over everything", () => {
  assert.equal(
    detectAdvertiseAddress({
      advertiseAddr: "203.0.113.7",
      bindAddr: "10.0.0.9",
      env: env({ POD_IP: "10.1.1.1" }),
      interfaces: () => INTERFACES,
    }),
    "203.0.113.7",
  );
});

Deno.test("detectAdvertiseAddress uses a specific --bind-addr", () => {
  assert.equal(
    detectAdvertiseAddress({
      bindAddr: "127.0.0.11",
      env: env({ POD_IP: "10.1.1.1" }),
      interfaces: () => INTERFACES,
    }),
    "127.0.0.11",
  );
});

Deno.test("detectAdvertiseAddress ignores wildcard bind addresses", () => {
  for (const bindAddr of ["0.0.0.0", "::", "[::]", ""]) {
    assert.equal(
      detectAdvertiseAddress({ bindAddr, env: noEnv, interfaces: () => INTERFACES }),
      "10.0.0.5",
      bindAddr,
    );
  }
});

Deno.test("detectAdvertiseAddress uses a valid POD_IP", () => {
  assert.equal(
    detectAdvertiseAddress({ env: env({ POD_IP: "10.244.1.17" }), interfaces: () => INTERFACES }),
    "10.244.1.17",
  );
});

Deno.test("detectAdvertiseAddress skips an invalid POD_IP", () => {
  for (const podIp of ["", "not-an-ip", "10.0.0", "256.1.1.1", "fd00::1", " 10.0.0.1"]) {
    assert.equal(
      detectAdvertiseAddress({ env: env({ POD_IP: podIp }), interfaces: () => INTERFACES }),
      "10.0.0.5",
      podIp,
    );
  }
});

Deno.test("detectAdvertiseAddress prefers eth*, ens* and enp* interfaces", () => {
  for (const name of ["eth1", "ens5", "enp0s3"]) {
    const interfaces = [
      iface("lo", "127.0.0.1"),
      iface("docker0", "172.17.0.1"),
      iface("wlan0", "192.168.1.20"),
      iface(name, "10.0.0.42"),
    ];
    assert.equal(detectAdvertiseAddress({ env: noEnv, interfaces: () => interfaces }), "10.0.0.42");
  }
});

Deno.test("detectAdvertiseAddress falls back to the first non-loopback IPv4", () => {
  const interfaces = [
    iface("lo", "127.0.0.1"),
    iface("wlan0", "fe80::2", "IPv6"),
    iface("wlan0", "192.168.1.20"),
    iface("docker0", "172.17.0.1"),
  ];
  assert.equal(
    detectAdvertiseAddress({ env: noEnv, interfaces: () => interfaces }),
    "192.168.1.20",
  );
});

Deno.test("detectAdvertiseAddress falls back to loopback", () => {
  const loopbackOnly = [iface("lo", "127.0.0.1"), iface("lo", "::1", "IPv6")];
  assert.equal(detectAdvertiseAddress({ env: noEnv, interfaces: () => loopbackOnly }), "127.0.0.1");
  assert.equal(detectAdvertiseAddress({ env: noEnv, interfaces: () => [] }), "127.0.0.1");
  const denied = () => {
    throw new Deno.errors.NotCapable("Requires sys access");
  };
  assert.equal(detectAdvertiseAddress({ env: noEnv, interfaces: denied }), "127.0.0.1");
});

Deno.test("isIPv4 accepts dotted quads only", () => {
  for (const text of ["0.0.0.0", "10.0.0.5", "255.255.255.255", "192.168.1.1"]) {
    assert.equal(isIPv4(text), true, text);
  }
  for (const text of ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "a.b.c.d", "::1"]) {
    assert.equal(isIPv4(text), false, text);
  }
});
