import assert from "node:assert/strict";
import { hex, prng, toHex } from "./_golden_test_util.ts";
import {
  type AliveMessage,
  bytesToIp,
  crc32,
  decodeCompound,
  decodeCrc,
  decodeMessage,
  decodeUdpPacket,
  DEFAULT_VSN,
  encodeCompound,
  encodeCrc,
  encodeLabelHeader,
  encodeMessage,
  encodeStreamMessage,
  encodeUdpPacket,
  ipToBytes,
  lzwCompress,
  lzwDecompress,
  type Message,
  type PingMessage,
  readStreamMessage,
  splitIntoPackets,
  stripLabelHeader,
  UDP_BUFFER_SIZE,
  udpOverhead,
  WireDecodeError,
} from "./mod.ts";

const enc = new TextEncoder();
const vsn = Uint8Array.from(DEFAULT_VSN);

function code(c: string) {
  return (e: unknown) => e instanceof WireDecodeError && e.code === c;
}

const ping: PingMessage = {
  type: "ping",
  seqNo: 7,
  node: "node-a",
  sourceAddr: ipToBytes("10.0.0.2"),
  sourcePort: 7946,
  sourceNode: "node-b",
};

const alive: AliveMessage = {
  type: "alive",
  incarnation: 3,
  node: "node-b",
  addr: ipToBytes("10.0.0.2"),
  port: 7946,
  meta: enc.encode("http://10.0.0.2:8080"),
  vsn,
};

Deno.test("ipToBytes and bytesToIp convert IPv4, IPv6 and IPv4-mapped addresses", () => {
  assert.deepEqual([...ipToBytes("127.0.0.21")], [127, 0, 0, 21]);
  assert.deepEqual([...ipToBytes("::ffff:10.1.2.3")], [10, 1, 2, 3]);
  assert.equal(bytesToIp(ipToBytes("2001:db8::1")), "2001:db8::1");
  assert.equal(bytesToIp(ipToBytes("[fe80::1%eth0]")), "fe80::1");
  assert.equal(bytesToIp(ipToBytes("::")), "::");
  assert.equal(bytesToIp(ipToBytes("1:0:0:2:0:0:0:3")), "1:0:0:2::3");
  const mapped = new Uint8Array(16);
  mapped.set([0xff, 0xff, 192, 168, 1, 9], 10);
  assert.equal(bytesToIp(mapped), "192.168.1.9");
  for (const bad of ["", "1.2.3", "256.1.1.1", "1::2::3", "host", "1.2.3.4.5", "::g"]) {
    assert.throws(() => ipToBytes(bad), TypeError, bad);
  }
  assert.throws(() => bytesToIp(new Uint8Array(5)), RangeError);
});

Deno.test("encodeMessage and decodeMessage round-trip every message type", () => {
  const messages: Message[] = [
    ping,
    { ...ping, sourceAddr: new Uint8Array(0), sourcePort: 0, sourceNode: "" },
    {
      type: "indirectPing",
      seqNo: 2 ** 32 - 1,
      target: ipToBytes("2001:db8::5"),
      port: 65535,
      node: "n",
      nack: true,
      sourceAddr: ipToBytes("10.0.0.1"),
      sourcePort: 1,
      sourceNode: "s",
    },
    { type: "ack", seqNo: 0, payload: new Uint8Array([1, 2, 3]) },
    { type: "ack", seqNo: 1, payload: new Uint8Array(0) },
    { type: "nack", seqNo: 300 },
    { type: "suspect", incarnation: 70000, node: "x".repeat(40), from: "ü" },
    alive,
    { type: "dead", incarnation: 1, node: "a", from: "a" },
    { type: "user", payload: enc.encode("hello") },
    { type: "err", error: "boom" },
    {
      type: "pushPull",
      join: false,
      nodes: [{
        name: "n1",
        addr: ipToBytes("10.0.0.1"),
        port: 1,
        meta: new Uint8Array(0),
        incarnation: 9,
        state: "left",
        vsn,
      }],
      userState: new Uint8Array(300).fill(7),
    },
    {
      type: "compound",
      parts: [ping, alive, { type: "compound", parts: [{ type: "nack", seqNo: 1 }] }],
    },
  ];
  for (const m of messages) assert.deepEqual(decodeMessage(encodeMessage(m)), m, m.type);
});

Deno.test("encodeMessage writes Go's layout: sorted keys, str for bytes, nil for empty, omitempty", () => {
  assert.equal(toHex(encodeMessage({ type: "nack", seqNo: 10 })), "0b81a55365714e6f0a");
  const bare = encodeMessage({
    ...ping,
    sourceAddr: new Uint8Array(0),
    sourcePort: 0,
    sourceNode: "",
  });
  assert.equal(toHex(bare), "0082a44e6f6465a66e6f64652d61a55365714e6f07");
  const ack = encodeMessage({ type: "ack", seqNo: 1, payload: new Uint8Array(0) });
  assert.equal(toHex(ack), "0282a75061796c6f6164c0a55365714e6f01");
  const long = encodeMessage({ type: "err", error: "x".repeat(40) });
  assert.equal(toHex(long.subarray(0, 11)), "0d81a54572726f72da0028"); // str16, never str8
});

Deno.test("encodeMessage intFormat writes Go ints as 0.2.2 (unsigned) or 0.5.x (signed)", () => {
  const pp: Message = { type: "pushPull", join: true, nodes: [], userState: new Uint8Array(200) };
  const unsigned = toHex(encodeMessage(pp));
  const signed = toHex(encodeMessage(pp, { intFormat: "signed" }));
  assert.ok(unsigned.includes("ac5573657253746174654c656eccc8"));
  assert.ok(signed.includes("ac5573657253746174654c656ed100c8"));
  assert.deepEqual(decodeMessage(hex(signed)), decodeMessage(hex(unsigned)));
});

Deno.test("encodeMessage rejects out-of-range and ill-typed fields", () => {
  assert.throws(() => encodeMessage({ ...ping, seqNo: 2 ** 32 }), RangeError);
  assert.throws(() => encodeMessage({ ...ping, seqNo: -1 }), RangeError);
  assert.throws(() => encodeMessage({ ...ping, sourcePort: 70000 }), RangeError);
  assert.throws(() => encodeMessage({ ...alive, vsn: new Uint8Array(5) }), RangeError);
  assert.throws(() => encodeMessage({ ...alive, addr: new Uint8Array(5) }), RangeError);
  assert.throws(() => encodeMessage({ ...alive, meta: new Uint8Array(513) }), RangeError);
  assert.throws(() => encodeMessage({ ...alive, node: 5 as unknown as string }), TypeError);
  assert.throws(() => encodeMessage({ type: "bogus" } as unknown as Message), TypeError);
  assert.throws(() => encodeCompound([]), RangeError);
  assert.throws(() => encodeCompound([new Uint8Array(0)]), RangeError);
});

Deno.test("decodeMessage accepts what Go accepts: bin, str8, any int family, unknown keys, arrays", () => {
  // alive with bin8 Addr/Meta, str8 Node, uint32 Incarnation, Port as int16, Vsn as an array,
  // an unknown key and keys in a different order.
  const body = "87" + "a44e6f6465" + "d903616263" + "a441646472" + "c4047f000001" +
    "a4506f7274" + "d11f4a" + "ab496e6361726e6174696f6e" + "ce00000005" + "a44d657461" +
    "c403010203" + "a356736e" + "96010502000000" + "a358797a" + "c0";
  const m = decodeMessage(hex("04" + body)) as AliveMessage;
  assert.equal(m.node, "abc");
  assert.equal(bytesToIp(m.addr), "127.0.0.1");
  assert.equal(m.port, 8010);
  assert.equal(m.incarnation, 5);
  assert.deepEqual([...m.meta], [1, 2, 3]);
  assert.deepEqual([...m.vsn], DEFAULT_VSN);
  // missing keys become zero values; nil strings become ""; bool from fixint 1.
  const ind = decodeMessage(hex("0183a44e61636b01a6546172676574a40a000001a44e6f6465c0"));
  assert.deepEqual(ind, {
    type: "indirectPing",
    seqNo: 0,
    target: new Uint8Array([10, 0, 0, 1]),
    port: 0,
    node: "",
    nack: true,
    sourceAddr: new Uint8Array(0),
    sourcePort: 0,
    sourceNode: "",
  });
});

Deno.test("decodeMessage rejects bad values with typed errors", () => {
  const nack = (v: string) => hex("0b81a55365714e6f" + v);
  assert.throws(() => decodeMessage(nack("cf0000000100000000")), code("malformed")); // 2^32
  assert.throws(() => decodeMessage(nack("ff")), code("malformed")); // -1
  assert.throws(() => decodeMessage(nack("cb3ff8000000000000")), code("malformed")); // 1.5
  assert.throws(() => decodeMessage(nack("a1")), code("truncated"));
  assert.throws(() => decodeMessage(hex("0b93010203")), code("malformed")); // not a map
  assert.throws(() => decodeMessage(hex("0b8101c0")), code("malformed")); // int key
  assert.throws(() => decodeMessage(hex("0bc1")), code("malformed"));
  assert.throws(() => decodeMessage(hex("0b" + "91".repeat(40) + "c0")), code("malformed")); // depth
  assert.throws(() => decodeMessage(new Uint8Array(0)), code("truncated"));
  assert.throws(() => decodeMessage(hex("2a80")), code("unknownType"));
  assert.throws(() => decodeMessage(hex("0c00000000")), code("unknownType"));
  const badVsn = encodeMessage(alive);
  badVsn[badVsn.length - 7] = 0xa5; // Vsn length 5 (what panics Go)
  assert.throws(() => decodeMessage(badVsn.subarray(0, -1)), code("malformed"));
  const badState = hex(
    "0683a44a6f696ec2a54e6f64657301ac5573657253746174654c656e0081a5537461746504",
  );
  assert.throws(() => decodeMessage(badState), code("malformed"));
  const tooMany = hex("0683a44a6f696ec2a54e6f646573ce7fffffffac5573657253746174654c656e00");
  assert.throws(() => decodeMessage(tooMany), code("limit"));
});

Deno.test("decodeCompound splits parts and counts truncated ones like Go", () => {
  const a = encodeMessage({ type: "nack", seqNo: 1 });
  const b = encodeMessage({ type: "nack", seqNo: 2 });
  const c = encodeCompound([a, b]);
  assert.deepEqual(decodeCompound(c).parts.map(toHex), [toHex(a), toHex(b)]);
  assert.deepEqual(decodeCompound(c.subarray(0, c.length - 1)), { parts: [a], truncated: 1 });
  assert.throws(() => decodeCompound(c.subarray(0, 4)), code("truncated"));
  assert.deepEqual(decodeCompound(hex("0700")), { parts: [], truncated: 0 });
});

Deno.test("decodeUdpPacket drops only the bad parts of a compound and reports them", async () => {
  const good = encodeMessage({ type: "nack", seqNo: 1 });
  const packet = encodeCompound([good, hex("0d80"), hex("2a"), good, hex("0b81")]);
  const warnings: string[] = [];
  const msgs = await decodeUdpPacket(packet.subarray(0, packet.length), {
    onWarning: (e) => warnings.push(e.code),
  });
  assert.deepEqual(msgs, [{ type: "nack", seqNo: 1 }, { type: "nack", seqNo: 1 }]);
  assert.deepEqual(warnings, ["unknownType", "unknownType", "truncated"]);
  const cut = encodeCompound([good, good]);
  const w2: WireDecodeError[] = [];
  assert.equal(
    (await decodeUdpPacket(cut.subarray(0, -2), { onWarning: (e) => w2.push(e) })).length,
    1,
  );
  assert.equal(w2[0].code, "truncated");
  await assert.rejects(decodeUdpPacket(hex("0d80")), code("unknownType"));
});

Deno.test("decodeUdpPacket checks the CRC only on the outermost layer", async () => {
  const wrapped = encodeCrc(encodeMessage(alive));
  assert.deepEqual(await decodeUdpPacket(wrapped), [alive]);
  wrapped[wrapped.length - 1] ^= 1;
  await assert.rejects(decodeUdpPacket(wrapped), code("crc"));
  assert.throws(() => decodeCrc(hex("0c0000")), code("truncated"));
  assert.equal(crc32(enc.encode("123456789")), 0xcbf43926);
  const nested = encodeCompound([encodeCrc(encodeMessage(alive))]);
  const warnings: string[] = [];
  assert.deepEqual(await decodeUdpPacket(nested, { onWarning: (e) => warnings.push(e.code) }), []);
  assert.deepEqual(warnings, ["unknownType"]);
});

Deno.test("decodeUdpPacket enforces labels, keys and verifyIncoming", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const other = crypto.getRandomValues(new Uint8Array(24));
  const labelled = await encodeUdpPacket([ping], { label: "lab1", keys: [key], crc: true });
  assert.deepEqual(await decodeUdpPacket(labelled, { label: "lab1", keys: [other, key] }), [ping]);
  await assert.rejects(decodeUdpPacket(labelled, { label: "lab2", keys: [key] }), code("label"));
  await assert.rejects(decodeUdpPacket(labelled, { keys: [key] }), code("label"));
  // The label is GCM additional data: moving the blob under another label fails.
  const relabelled = new Uint8Array([...encodeLabelHeader("lab2"), ...labelled.subarray(6)]);
  await assert.rejects(
    decodeUdpPacket(relabelled, { label: "lab2", keys: [key] }),
    code("decrypt"),
  );
  const plain = await encodeUdpPacket([ping]);
  await assert.rejects(decodeUdpPacket(plain, { keys: [key] }), code("decrypt"));
  assert.deepEqual(await decodeUdpPacket(plain, { keys: [key], verifyIncoming: false }), [ping]);
  await assert.rejects(decodeUdpPacket(hex("f400")), code("label"));
  await assert.rejects(decodeUdpPacket(hex("f40561")), code("label"));
  assert.deepEqual(stripLabelHeader(hex("0001")).label, "");
  assert.throws(() => encodeLabelHeader(""), RangeError);
  assert.throws(() => encodeLabelHeader("x".repeat(256)), RangeError);
  await assert.rejects(decodeUdpPacket(new Uint8Array(65537)), code("limit"));
});

Deno.test("encodeUdpPacket compresses only when smaller and encrypts v0 with padding", async () => {
  const small = await encodeUdpPacket([{ type: "nack", seqNo: 1 }], { compress: true });
  assert.equal(small[0], 0x0b);
  const big = await encodeUdpPacket([alive, alive, alive, alive], { compress: true });
  assert.equal(big[0], 0x09);
  assert.deepEqual(await decodeUdpPacket(big), [alive, alive, alive, alive]);
  const key = new Uint8Array(16).fill(1);
  const body = encodeMessage(ping);
  const v0 = await encodeUdpPacket([ping], { keys: [key], encryptionVersion: 0 });
  assert.equal(v0.length, 1 + 12 + 16 + body.length + (16 - (body.length % 16)));
  assert.equal(v0[0], 0);
  assert.deepEqual(await decodeUdpPacket(v0, { keys: [key] }), [ping]);
});

Deno.test("splitIntoPackets and udpOverhead keep packets within the budget", () => {
  assert.equal(udpOverhead({}), 0);
  assert.equal(udpOverhead({ crc: true, keys: [new Uint8Array(16)], label: "lab1" }), 5 + 29 + 6);
  assert.equal(udpOverhead({ keys: [new Uint8Array(16)], encryptionVersion: 0 }), 45);
  const rand = prng(1);
  const msgs = Array.from({ length: 300 }, () => new Uint8Array(1 + Math.floor(rand() * 200)));
  const budget = UDP_BUFFER_SIZE - udpOverhead({ crc: true });
  const groups = splitIntoPackets(msgs, budget);
  assert.deepEqual(groups.flat(), msgs);
  for (const g of groups) {
    const size = g.length === 1 ? g[0].length : 2 + g.reduce((n, m) => n + m.length + 2, 0);
    assert.ok(size <= budget, `group of ${g.length} is ${size} bytes`);
  }
  const tiny = Array.from({ length: 600 }, () => new Uint8Array(1));
  assert.ok(splitIntoPackets(tiny, 65535).every((g) => g.length <= 255));
  assert.deepEqual(splitIntoPackets([new Uint8Array(2000)], 1400).length, 1);
});

Deno.test("lzwCompress and lzwDecompress round-trip random data, runs and table resets", () => {
  const rand = prng(42);
  const sizes = [0, 1, 2, 3, 255, 256, 4096, 5000, 20000, 120000];
  for (const n of sizes) {
    for (const alphabet of [2, 16, 256]) {
      const data = Uint8Array.from({ length: n }, () => Math.floor(rand() * alphabet));
      assert.deepEqual(lzwDecompress(lzwCompress(data)), data, `n=${n} alphabet=${alphabet}`);
    }
  }
  const runs = new Uint8Array(100000).fill(0x61);
  assert.deepEqual(lzwDecompress(lzwCompress(runs)), runs);
  assert.equal(toHex(lzwCompress(new Uint8Array(0))), "000302");
  assert.deepEqual(lzwDecompress(hex("000302")), new Uint8Array(0));
});

Deno.test("lzwDecompress requires EOF, rejects invalid codes and caps its output", () => {
  const data = lzwCompress(enc.encode("hello hello hello"));
  assert.throws(() => lzwDecompress(data.subarray(0, data.length - 2)), code("compress"));
  assert.throws(() => lzwDecompress(hex("ff03")), code("compress")); // code 511 > hi
  assert.throws(
    () => lzwDecompress(lzwCompress(new Uint8Array(5000)), { maxBytes: 4999 }),
    code("limit"),
  );
});

Deno.test("readStreamMessage enforces labels, encryption policy and limits", async () => {
  const key = crypto.getRandomValues(new Uint8Array(16));
  const pp: Message = { type: "pushPull", join: true, nodes: [], userState: enc.encode("s") };
  const request = await encodeStreamMessage(pp, { keys: [key], label: "lab1" });
  assert.equal(toHex(request.subarray(0, 6)), "f4046c616231");
  const read = await readStreamMessage(request, { keys: [key], label: "lab1" });
  assert.deepEqual(read, { message: pp, label: "lab1", encrypted: true, compressed: true });
  await assert.rejects(readStreamMessage(request, { keys: [key] }), code("label"));
  await assert.rejects(
    readStreamMessage(request, { keys: [key], label: "lab1", reply: true }),
    code("notEncrypted"),
  );
  await assert.rejects(
    readStreamMessage(await encodeStreamMessage(pp, { label: "lab1" }), { reply: true }),
    code("unknownType"),
  );
  const reply = await encodeStreamMessage(pp, { keys: [key], label: "lab1", reply: true });
  assert.equal(reply[0], 0x0a);
  assert.deepEqual(
    (await readStreamMessage(reply, { keys: [key], label: "lab1", reply: true })).message,
    pp,
  );
  // Label is part of the additional data even though the reply carries no header.
  await assert.rejects(readStreamMessage(reply, { keys: [key], reply: true }), code("decrypt"));
  const plain = await encodeStreamMessage(pp, { compress: false });
  await assert.rejects(readStreamMessage(plain, { keys: [key] }), code("notEncrypted"));
  assert.equal(
    (await readStreamMessage(plain, { keys: [key], verifyIncoming: false })).compressed,
    false,
  );
  await assert.rejects(readStreamMessage(new Uint8Array(0)), code("eof"));
  await assert.rejects(readStreamMessage(hex("0a7fffffff"), { keys: [key] }), code("limit"));
  await assert.rejects(readStreamMessage(plain, { maxBytes: 10 }), code("limit"));
  await assert.rejects(readStreamMessage(hex("04")), code("unknownType"));
  const user = await encodeStreamMessage({ type: "user", payload: enc.encode("hi") }, {
    compress: false,
  });
  assert.equal(toHex(user), "0881aa557365724d73674c656e02" + "6869");
  await assert.rejects(readStreamMessage(user.subarray(0, -1)), code("truncated"));
  await assert.rejects(
    encodeStreamMessage({ type: "alive" } as unknown as Parameters<typeof encodeStreamMessage>[0]),
    TypeError,
  );
});

Deno.test("readStreamMessage reads from a Deno-style reader and a stream reader", async () => {
  const bytes = await encodeStreamMessage({ type: "err", error: "x" }, { reply: true });
  let done = false;
  const reader = {
    read(p: Uint8Array): Promise<number | null> {
      if (done) return Promise.resolve(null);
      done = true;
      p.set(bytes);
      return Promise.resolve(bytes.length);
    },
  };
  assert.equal((await readStreamMessage(reader, { reply: true })).message.type, "err");
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes.slice(0, 3));
      c.enqueue(bytes.slice(3));
      c.close();
    },
  });
  const r = stream.getReader();
  assert.equal((await readStreamMessage(r, { reply: true })).message.type, "err");
  r.releaseLock();
  const failing = new ReadableStream<Uint8Array>({
    pull(c) {
      c.error(new Error("reset"));
    },
  });
  await assert.rejects(readStreamMessage(failing), code("truncated"));
});
