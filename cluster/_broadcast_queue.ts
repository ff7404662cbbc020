/**
 * memberlist's transmit-limited broadcast queue: each membership message is piggybacked on at
 * most `retransmitMult · ceil(log10(n + 1))` packets; fewer transmits go first, then larger
 * messages; a new message about a node replaces the queued one.
 *
 * @module
 */

import type { Message } from "./wire/mod.ts";

/** memberlist's retransmit limit for `n` known nodes. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

interface Item {
  key: string | undefined;
  message: Message;
  size: number;
  transmits: number;
  id: number;
  onDone: (() => void) | undefined;
}

/** Queue of membership broadcasts waiting to be piggybacked. */
export class BroadcastQueue {
  readonly #limit: () => number;
  #items: Item[] = [];
  #nextId = 0;

  /** @param limit Current retransmit limit (changes with the cluster size). */
  constructor(limit: () => number) {
    this.#limit = limit;
  }

  /** Number of queued broadcasts. */
  get length(): number {
    return this.#items.length;
  }

  /**
   * Queues `message` (encoded size `size`), replacing a queued message with the same `key`.
   *
   * @param onDone Called once when the message was sent `limit` times or replaced.
   */
  push(key: string | undefined, message: Message, size: number, onDone?: () => void): void {
    if (key !== undefined) {
      const i = this.#items.findIndex((it) => it.key === key);
      if (i >= 0) {
        this.#items[i].onDone?.();
        this.#items.splice(i, 1);
      }
    }
    this.#items.push({ key, message, size, transmits: 0, id: this.#nextId++, onDone });
  }

  /**
   * Takes broadcasts that fit in `limit` bytes, counting `overhead` extra bytes per message,
   * and counts a transmit for each.
   */
  take(overhead: number, limit: number): Message[] {
    if (this.#items.length === 0 || limit <= overhead) return [];
    this.#items.sort((a, b) => a.transmits - b.transmits || b.size - a.size || b.id - a.id);
    const out: Message[] = [];
    const max = this.#limit();
    let used = 0;
    let removed = false;
    for (const it of this.#items) {
      if (used + overhead + it.size > limit) continue;
      used += overhead + it.size;
      out.push(it.message);
      it.transmits++;
      if (it.transmits >= max) {
        removed = true;
        it.onDone?.();
      }
      if (limit - used <= overhead) break;
    }
    if (removed) this.#items = this.#items.filter((it) => it.transmits < max);
    return out;
  }

  /** Drops everything (calling `onDone` of each). */
  clear(): void {
    for (const it of this.#items) it.onDone?.();
    this.#items = [];
  }
}
