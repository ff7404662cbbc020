/**
 * Adversarial suite, gossip (issue 13, finding 11): without a gossip key anyone who can reach the
 * gossip port can send memberlist messages; one spoofed `dead` with incarnation 2³²−1 must not
 * remove a replica (memberlist's refutation would wrap to 0 and lose forever).
 */
import assert from "node:assert/strict";
import { freePorts, type ServerProc, startServerProc, waitUntil } from "../_harness.ts";
import { encodeUdpPacket } from "../../cluster/wire/mod.ts";

interface MembersAnswer {
  members: { name: string; state: string; incarnation: number }[];
  stats: Record<string, number>;
}

async function membersOf(server: ServerProc): Promise<MembersAnswer> {
  const response = await fetch(`${server.url}/internal/members`);
  return await response.json();
}

Deno.test("a spoofed UDP dead with incarnation 2^32-1 removes no replica: peers drop it, the victim refutes under a fresh incarnation", async () => {
  const hosts = ["127.0.0.190", "127.0.0.191"];
  const [httpPort, gossipPort] = freePorts(2, hosts[0]);
  const start = (i: number) =>
    startServerProc([
      "--memberlist-port",
      String(gossipPort),
      "--node-name",
      `replica-${i}`,
      ...(i > 0 ? ["--join", `${hosts[0]}:${gossipPort}`] : []),
    ], { host: hosts[i], port: httpPort });
  await using a = await start(0);
  await using b = await start(1);
  await waitUntil(async () => {
    const views = await Promise.all([a, b].map(membersOf));
    return views.every((v) => v.members.filter((m) => m.state === "alive").length === 2);
  }, "both replicas see each other");
  const before = (await membersOf(b)).members.find((m) => m.name === "replica-0")!.incarnation;

  const spoof = await encodeUdpPacket([{
    type: "dead",
    incarnation: 0xffff_ffff,
    node: "replica-0",
    from: "spoofer",
  }]);
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.192", port: 0 });
  try {
    for (const host of hosts) {
      await socket.send(spoof, { transport: "udp", hostname: host, port: gossipPort });
    }
  } finally {
    socket.close();
  }
  await waitUntil(
    async () => (await membersOf(b)).stats.implausibleIncarnations >= 1,
    "replica-1 drops the spoofed dead",
  );
  await waitUntil(
    async () => (await membersOf(a)).stats.implausibleIncarnations >= 1,
    "replica-0 refutes under a fresh incarnation",
  );
  // Replica-0 stays alive on both, with an incarnation that did not wrap: in a few gossip rounds
  // replica-1 learns the refutation.
  await waitUntil(async () => {
    const member = (await membersOf(b)).members.find((m) => m.name === "replica-0");
    return member?.state === "alive" && member.incarnation > before &&
      member.incarnation < 0xffff_ffff;
  }, "replica-1 sees replica-0 alive under its fresh incarnation");
  const self = (await membersOf(a)).members.find((m) => m.name === "replica-0")!;
  assert.equal(self.state, "alive");
  assert.ok(self.incarnation > before && self.incarnation < 0xffff_ffff, String(self.incarnation));
  await a.waitFor(/Refuting an accusation of ourselves with implausible incarnation 4294967295/);
});
