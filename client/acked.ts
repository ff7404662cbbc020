/**
 * The queued-delivery ids this client acked recently, kept in its state file beside the channel,
 * so a delivery the server hands out again (the client crashed between the app's answer and the
 * ACK) is recognised and skipped instead of reaching the app twice.
 *
 * @module
 */
import { saveAckedIds } from "./state.ts";

/** Where the ids are saved: the state file entry of this server and target. */
export interface AckedIdsFile {
  /** State file path; none keeps the ids in memory only. */
  path?: string;
  /** The `--server-url` (part of the entry's key). */
  serverUrl: string;
  /** The `--target-url` (part of the entry's key). */
  targetUrl: string;
}

/** Recently acked delivery ids of one channel; see the module doc. */
export class AckedIds {
  #ids: string[];
  #set: Set<string>;
  #channelId: string;
  #file: AckedIdsFile;
  #keep: number;
  #writing: Promise<void> = Promise.resolve();

  /**
   * @param channelId The channel.
   * @param initial Ids loaded from the state file, oldest first.
   * @param file Where to save them.
   * @param keep How many to remember (the oldest are forgotten).
   */
  constructor(channelId: string, initial: string[] | undefined, file: AckedIdsFile, keep: number) {
    this.#channelId = channelId;
    this.#ids = (initial ?? []).filter((id) => typeof id === "string").slice(-keep);
    this.#set = new Set(this.#ids);
    this.#file = file;
    this.#keep = keep;
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
   * Remembers `id` and saves the list; resolves once it is on disk (then the ACK may go out).
   * @param id A delivery id the app answered.
   */
  async add(id: string): Promise<void> {
    if (!this.#set.has(id)) {
      this.#ids.push(id);
      this.#set.add(id);
      while (this.#ids.length > this.#keep) this.#set.delete(this.#ids.shift()!);
    }
    const { path, serverUrl, targetUrl } = this.#file;
    if (!path) return;
    // Writes one after another: each saves the whole current list.
    const write = this.#writing.then(() =>
      saveAckedIds(path, serverUrl, targetUrl, this.#channelId, [...this.#ids])
    );
    this.#writing = write.catch(() => {});
    await write;
  }
}
