/**
 * The queued-delivery ids this client acked recently, kept beside its state file, so a delivery
 * the server hands out again (the client crashed between the app's answer and the ACK) is
 * recognised and skipped instead of reaching the app twice.
 *
 * One file per channel, `<state file>.<channel id>.acked`, one id per line, appended before each
 * ACK goes out (an append costs ~20 µs where rewriting the state file costs ~2 ms, which would cap
 * a drain at a few hundred webhooks a second), and rewritten with the newest ids once it holds
 * twice as many as are kept. Only one client holds a channel at a time (the server answers 409 to
 * a second), so nothing else writes the file meanwhile.
 *
 * @module
 */

/** Recently acked delivery ids of one channel; see the module doc. */
export class AckedIds {
  readonly #channelId: string;
  readonly #path: string | undefined;
  readonly #keep: number;
  #ids: string[];
  #set: Set<string>;
  #lines: number;
  #writing: Promise<void> = Promise.resolve();
  /** Ids waiting for the next write, and that write (not started yet: one runs at a time). */
  #queued: string[] = [];
  #next: Promise<void> | undefined;

  private constructor(channelId: string, path: string | undefined, ids: string[], keep: number) {
    this.#channelId = channelId;
    this.#path = path;
    this.#keep = keep;
    this.#lines = ids.length;
    this.#ids = ids.slice(-keep);
    this.#set = new Set(this.#ids);
  }

  /**
   * The file a channel's acked ids live in.
   * @param stateFile The client's state file.
   * @param channelId The channel.
   * @returns `<stateFile>.<channelId>.acked`.
   */
  static pathOf(stateFile: string, channelId: string): string {
    return `${stateFile}.${channelId}.acked`;
  }

  /**
   * Loads the ids saved for a channel.
   * @param stateFile The client's state file; none keeps the ids in memory only.
   * @param channelId The channel.
   * @param keep How many to remember (the oldest are forgotten).
   * @returns The ids.
   */
  static async open(
    stateFile: string | undefined,
    channelId: string,
    keep: number,
  ): Promise<AckedIds> {
    const path = stateFile && AckedIds.pathOf(stateFile, channelId);
    let ids: string[] = [];
    if (path) {
      try {
        ids = (await Deno.readTextFile(path)).split("\n").filter((line) => line.length > 0);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return new AckedIds(channelId, path, ids, keep);
  }

  /** The channel these ids belong to. */
  get channelId(): string {
    return this.#channelId;
  }

  /**
   * Whether `id` was acked already.
   * @param id A delivery id.
   * @returns Whether it is remembered.
   */
  has(id: string): boolean {
    return this.#set.has(id);
  }

  /**
   * Remembers `id`; resolves once it is written (then the ACK may go out). Ids added while a
   * write is under way are appended together by the next one (a pipelined drain acks quickly).
   * @param id A delivery id the app answered.
   */
  add(id: string): Promise<void> {
    if (this.#set.has(id)) return this.#next ?? this.#writing;
    this.#ids.push(id);
    this.#set.add(id);
    while (this.#ids.length > this.#keep) this.#set.delete(this.#ids.shift()!);
    const path = this.#path;
    if (!path) return Promise.resolve();
    this.#queued.push(id);
    if (!this.#next) {
      const write = this.#writing.then(async () => {
        const ids = this.#queued;
        this.#queued = [];
        this.#next = undefined;
        if (this.#lines + ids.length > 2 * this.#keep) {
          const temp = `${path}.${crypto.randomUUID()}.tmp`;
          await Deno.writeTextFile(temp, this.#ids.join("\n") + "\n", { mode: 0o600 });
          await Deno.rename(temp, path);
          this.#lines = this.#ids.length;
        } else {
          await Deno.writeTextFile(path, ids.join("\n") + "\n", { append: true, mode: 0o600 });
          this.#lines += ids.length;
        }
      });
      this.#next = write;
      this.#writing = write.catch(() => {});
    }
    return this.#next;
  }
}
