/**
 * One client per channel, cluster-wide: the newest attach wins.
 *
 * A client that attaches to a channel takes it over from any client attached before it, on this
 * replica (at once) or on another one: the attaching replica announces its claim to every alive
 * peer (`POST /internal/channels/{id}/takeover`, `handlers/internal_takeover.ts`), and a peer whose own client attached earlier
 * closes that client's tunnel with close code 4409 (`CLOSE_TAKEN_OVER`) and a reason naming the
 * new replica. Claims are ordered by attach time (ms since the epoch) and then by node name, so
 * every replica picks the same winner. A peer whose client outranks the claim (clocks apart by
 * more than the gap between the two attaches) answers `409` with its claim; the announcer then
 * re-stamps its own claim just above it and announces once more (its attach is the later event:
 * the peer's claim existed when it arrived), and gives up its own client only if that is still
 * refused. Peers that missed the announcement are caught up by the ordering in
 * `/traefik-config` and the owner lookup, which route to the newest claim.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ServerContext } from "./context.ts";
import type { ReplicaChannels } from "./traefik.ts";

const log = getLogger(["wow", "server"]);

/**
 * Claims further in the future than this (ms) are refused: a peer cannot pin a channel forever
 * by claiming an attach in the year 3000. Replicas' clocks are assumed to agree (NTP) to well
 * within this.
 */
export const MAX_CLAIM_SKEW = 60_000;

/** One replica's claim to a channel: when its client attached, and the replica's node name. */
export interface AttachClaim {
  /** Attach time, ms since the epoch. */
  attached_at: number;
  /** Node name of the claiming replica (the tie-break). */
  node: string;
}

/**
 * Whether claim `a` is newer than claim `b` (later attach; on a tie, the greater node name).
 * @param a A claim.
 * @param b Another claim.
 * @returns Whether `a` wins.
 */
export function outranks(a: AttachClaim, b: AttachClaim): boolean {
  return a.attached_at !== b.attached_at ? a.attached_at > b.attached_at : a.node > b.node;
}

/**
 * Whether `value` is a plausible attach time: a finite number ≥ 0 and not more than
 * {@linkcode MAX_CLAIM_SKEW} in the future.
 * @param value A peer-supplied value.
 * @param now The clock. @default Date.now()
 * @returns Whether to believe it.
 */
export function isAttachTime(value: unknown, now = Date.now()): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 &&
    value <= now + MAX_CLAIM_SKEW;
}

/**
 * The reason an evicted client is told (fits a WebSocket close reason).
 * @param where The new client's replica.
 * @returns The text.
 */
export function takenOverReason(where: string): string {
  return `Taken over by a newer client on replica ${where}`.slice(0, 120);
}

/**
 * This replica's claim to `id`, if a client is attached here.
 * @param ctx The server's context.
 * @param id Channel id.
 * @returns The claim or `undefined`.
 */
export function localClaim(ctx: ServerContext, id: string): AttachClaim | undefined {
  const channel = ctx.channels.get(id);
  if (!channel?.session || channel.attachedAt === undefined) return undefined;
  return { attached_at: channel.attachedAt, node: ctx.replicas.localName };
}

/**
 * Tells every alive peer that a client attached to `id` here; see the module doc. Never throws:
 * an unreachable peer is caught up later by the claim ordering.
 * @param ctx The server's context.
 * @param id Channel id.
 */
export async function announceAttach(ctx: ServerContext, id: string): Promise<void> {
  const session = ctx.channels.get(id)?.session;
  for (let round = 0; round < 2; round++) {
    const claim = localClaim(ctx, id);
    if (!claim || ctx.channels.get(id)?.session !== session) return;
    const answers = await Promise.all(
      ctx.replicas.peers().map(async (peer) => {
        try {
          const answer = await ctx.replicas.postJson(
            `${peer.url}/internal/channels/${id}/takeover`,
            claim,
          );
          return { peer, ...answer };
        } catch {
          return undefined;
        }
      }),
    );
    const stronger = answers.flatMap((answer) => {
      const body = answer?.body as AttachClaim | undefined;
      return answer?.status === 409 && isAttachTime(body?.attached_at) &&
          typeof body?.node === "string" && outranks(body, claim)
        ? [{ ...body, url: answer.peer.url }]
        : [];
    });
    if (stronger.length === 0) return;
    const channel = ctx.channels.get(id);
    if (channel?.session !== session) return;
    const top = stronger.reduce((a, b) => outranks(b, a) ? b : a);
    if (round === 0) {
      log.info(
        "Channel {channelId}: replica {url} has a claim stamped later than this attach (clocks apart?); re-stamping",
        { channelId: id, url: top.url },
      );
      channel!.attachedAt = top.attached_at + 1;
    } else {
      ctx.channels.takeOver(id, takenOverReason(top.url));
    }
  }
}

/**
 * Closes clients attached here whose channel a peer lists as attached there with a later attach
 * time: the takeover announcement did not reach this replica (a partition, a restart).
 * @param ctx The server's context.
 * @param peers What the peers listed, `server_url` being each peer's gossip-derived URL.
 */
export function catchUpTakeovers(ctx: ServerContext, peers: readonly ReplicaChannels[]): void {
  for (const peer of peers) {
    for (const id of peer.webhook_channels) {
      const mine = localClaim(ctx, id);
      const theirs = peer.attached_at?.[id];
      if (!mine || !isAttachTime(theirs) || theirs <= mine.attached_at) continue;
      log.info("Channel {channelId}: replica {url} holds a newer client; closing the one here", {
        channelId: id,
        url: peer.server_url,
      });
      ctx.channels.takeOver(id, takenOverReason(peer.server_url));
    }
  }
}
