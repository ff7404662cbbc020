/**
 * The open streams of a session by id: an open-addressing hash table (linear probing, deletion
 * by backward shift) over two arrays that only grow, and are dropped only once the table is
 * empty.
 *
 * Why not a `Map`: V8 rehashes a `Map` into a new table each time its size crosses a boundary
 * in either direction, and a session's open streams cross one many times a second under load
 * (a burst opens 32, they finish, the next burst opens 32…). The discarded tables keep young
 * objects alive through scavenges: measured on the client's request path, ~1 MB promoted per
 * scavenge with a `Map`, none with this table, and ~3 µs less CPU per request.
 *
 * @module
 */

/** Slots of a new table (a power of two): room for a burst of streams without growing. */
const MIN_CAPACITY = 64;
/** A table this large is replaced by a small one once it is empty (no stream open). */
const KEEP_CAPACITY = 1024;
/** Fibonacci hashing: the golden ratio as a 32-bit multiplier spreads sequential ids. */
const HASH_MULTIPLIER = 0x9e3779b1;
/** Bits of a 32-bit hash. */
const HASH_BITS = 32;

/** Entries by u32 key; see the module doc. */
export class StreamTable<T> {
  // No slots until the first entry: a server holds thousands of idle sessions. An empty table's
  // lookups read past its (empty) arrays and find nothing.
  #keys: Uint32Array = new Uint32Array(0);
  #values: (T | undefined)[] = [];
  #shift = HASH_BITS - Math.log2(MIN_CAPACITY);
  #mask = 0;
  #size = 0;

  /** Entries in the table. */
  get size(): number {
    return this.#size;
  }

  /**
   * The entry for `key`.
   * @param key A u32.
   * @returns Its value, or undefined when absent.
   */
  get(key: number): T | undefined {
    const keys = this.#keys;
    const values = this.#values;
    for (let i = this.#home(key);; i = (i + 1) & this.#mask) {
      const value = values[i];
      if (value === undefined || keys[i] === key) return value;
    }
  }

  /**
   * Adds or replaces the entry for `key`.
   * @param key A u32.
   * @param value Its value (not undefined).
   */
  set(key: number, value: T): void {
    if (2 * (this.#size + 1) > this.#values.length) {
      this.#resize(Math.max(MIN_CAPACITY, 2 * this.#values.length));
    }
    const keys = this.#keys;
    const values = this.#values;
    let i = this.#home(key);
    while (values[i] !== undefined && keys[i] !== key) i = (i + 1) & this.#mask;
    if (values[i] === undefined) this.#size++;
    keys[i] = key;
    values[i] = value;
  }

  /**
   * Removes the entry for `key`.
   * @param key A u32.
   * @returns Whether it was there.
   */
  delete(key: number): boolean {
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    let i = this.#home(key);
    while (values[i] !== undefined && keys[i] !== key) i = (i + 1) & mask;
    if (values[i] === undefined) return false;
    // Backward shift: move later entries of the probe run into the gap when their home slot is
    // not between the gap and them, so every entry stays reachable from its home slot.
    for (let j = (i + 1) & mask; values[j] !== undefined; j = (j + 1) & mask) {
      const home = this.#home(keys[j]);
      if (((j - home) & mask) >= ((j - i) & mask)) {
        keys[i] = keys[j];
        values[i] = values[j];
        i = j;
      }
    }
    values[i] = undefined;
    this.#size--;
    if (this.#size === 0 && values.length >= KEEP_CAPACITY) this.clear();
    return true;
  }

  /**
   * Every value, ordered by key (the order streams were opened in).
   * @returns A new array.
   */
  values(): T[] {
    const entries: [number, T][] = [];
    const values = this.#values;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value !== undefined) entries.push([this.#keys[i], value]);
    }
    return entries.sort((a, b) => a[0] - b[0]).map(([, value]) => value);
  }

  /** Removes every entry (and drops a large table). */
  clear(): void {
    if (this.#values.length > MIN_CAPACITY) {
      this.#keys = new Uint32Array(MIN_CAPACITY);
      this.#values = new Array(MIN_CAPACITY).fill(undefined);
      this.#shift = HASH_BITS - Math.log2(MIN_CAPACITY);
      this.#mask = MIN_CAPACITY - 1;
    } else {
      this.#values.fill(undefined);
    }
    this.#size = 0;
  }

  #home(key: number): number {
    return Math.imul(key, HASH_MULTIPLIER) >>> this.#shift;
  }

  #resize(capacity: number): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#keys = new Uint32Array(capacity);
    this.#values = new Array(capacity).fill(undefined);
    this.#shift = HASH_BITS - Math.log2(capacity);
    this.#mask = capacity - 1;
    this.#size = 0;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value !== undefined) this.set(keys[i], value);
    }
  }
}
