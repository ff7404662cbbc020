/**
 * A cheap full-duplex splice between two connections: one read loop per direction on
 * `Deno.Conn.read` with a small buffer that grows only while reads fill it, and no
 * `ReadableStream`/`WritableStream` pair (each `pipeTo()` holds its own 64 KiB chunks and stream
 * machinery, ~90 KiB per idle direction as measured in issue #13).
 *
 * @module
 */

/** Read size of an idle or lightly used direction: a typical webhook head fits. */
export const PUMP_SMALL_BUFFER = 2 * 1024;
/** Read size once a read filled the small buffer (a body streaming through). */
export const PUMP_LARGE_BUFFER = 64 * 1024;

/** What a splice reports as bytes pass. */
export interface SpliceHooks {
  /**
   * Called with each chunk read from the upstream (the server's answer direction), before it is
   * written to the downstream.
   */
  onUpstreamChunk?(chunk: Uint8Array): void;
  /** Called whenever bytes move in either direction. */
  onActivity?(): void;
}

/**
 * Copies bytes both ways between `downstream` and `upstream` until both directions ended: an
 * end of input in one direction half-closes the other side's write side, so a peer's half-close
 * is passed on; an error in either direction closes both connections (the caller closes them in
 * any case afterwards).
 *
 * @param downstream The public connection.
 * @param upstream The connection to the real server.
 * @param hooks Activity callbacks.
 * @returns Settles when both directions have stopped; never rejects.
 */
export async function splice(
  downstream: Deno.Conn,
  upstream: Deno.Conn,
  hooks: SpliceHooks = {},
): Promise<void> {
  const fail = () => {
    closeQuietly(downstream);
    closeQuietly(upstream);
  };
  await Promise.all([
    pump(downstream, upstream, hooks.onActivity).catch(fail),
    pump(upstream, downstream, hooks.onActivity, hooks.onUpstreamChunk).catch(fail),
  ]);
}

async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  onActivity?: () => void,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<void> {
  let buffer = new Uint8Array(PUMP_SMALL_BUFFER);
  for (;;) {
    const n = await from.read(buffer);
    if (n === null) break;
    onActivity?.();
    const chunk = buffer.subarray(0, n);
    onChunk?.(chunk);
    for (let offset = 0; offset < n;) offset += await to.write(chunk.subarray(offset));
    onActivity?.();
    // Grow while reads fill the buffer, shrink back once the burst is over: idle connections
    // hold only the small buffer in their pending read.
    if (n === buffer.length) {
      if (buffer.length < PUMP_LARGE_BUFFER) buffer = new Uint8Array(PUMP_LARGE_BUFFER);
    } else if (buffer.length > PUMP_SMALL_BUFFER && n <= PUMP_SMALL_BUFFER) {
      buffer = new Uint8Array(PUMP_SMALL_BUFFER);
    }
  }
  await to.closeWrite();
}

/**
 * Closes `closer`, ignoring "already closed".
 * @param closer A connection or listener.
 */
export function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}
