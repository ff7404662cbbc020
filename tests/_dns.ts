/**
 * Test helper: a DNS responder on loopback, for `--peer-domain` via `--dns-server`.
 *
 * @module
 */

/**
 * A tiny DNS responder for tests: A records for one name, nothing for anything else.
 * @param name The name to answer.
 * @param records Returns the current A records.
 * @returns Its `ip:port` and a closer.
 */
export function dnsServer(
  name: string,
  records: () => string[],
): { address: string; close(): Promise<void> } {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const buf = new Uint8Array(512);
    for (;;) {
      let data: Uint8Array, addr: Deno.Addr;
      try {
        [data, addr] = await conn.receive(buf);
      } catch {
        return;
      }
      if (data.length < 12) continue;
      let off = 12;
      const labels: string[] = [];
      while (off < data.length && data[off] !== 0) {
        labels.push(new TextDecoder().decode(data.subarray(off + 1, off + 1 + data[off])));
        off += 1 + data[off];
      }
      const qEnd = off + 5;
      const qtype = (data[off + 1] << 8) | data[off + 2];
      const ips = labels.join(".") === name && qtype === 1 ? records() : [];
      const out = new Uint8Array(qEnd + ips.length * 16);
      out.set(data.subarray(0, qEnd));
      out.set([0x81, 0x80, 0, 1, 0, ips.length, 0, 0, 0, 0], 2);
      ips.forEach((ip, i) => {
        const o = qEnd + i * 16;
        out.set([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, ...ip.split(".").map(Number)], o);
      });
      try {
        await conn.send(out, addr);
      } catch {
        return;
      }
    }
  })();
  const port = (conn.addr as Deno.NetAddr).port;
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      conn.close();
      await done;
    },
  };
}
