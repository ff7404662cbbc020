/**
 * `POST /internal/channels/{id}/takeover`: a peer announces that a client attached to a channel
 * there (see `takeover.ts`).
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { getLogger } from "@logtape/logtape";
import { jsonResponse } from "../_http.ts";
import type { ServerContext } from "../context.ts";
import { HttpError, noRoute } from "../http_error.ts";
import type { RequestInfo } from "../router.ts";
import {
  type AttachClaim,
  isAttachTime,
  localClaim,
  MAX_CLAIM_SKEW,
  outranks,
  takenOverReason,
} from "../takeover.ts";
import type { ChannelOwnership } from "../owners.ts";
import { isChannelId } from "../../protocol/wire.ts";

const log = getLogger(["wow", "server"]);

/**
 * `POST /internal/channels/{id}/takeover` with an {@linkcode AttachClaim}: a peer's client
 * attached to `id`. A client attached here before it is closed (`200 {"taken_over": true}`); one
 * that outranks the claim stays and the answer is `409` with this replica's claim. Without a
 * gossip key or admin token, a claim from an address that is no member's gossip address is
 * confirmed with the claiming member itself, at its gossip-derived URL (replicas often call
 * from another source address than the one they gossip on), and refused with `403` unless it
 * says the same.
 * @param request The request.
 * @param ctx The server's context.
 * @param info The request's info.
 * @returns The answer.
 */
export async function internalTakeover(
  request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
): Promise<Response> {
  if (!isChannelId(info.id)) throw noRoute(request.method, info.path);
  let claim: AttachClaim;
  try {
    claim = await request.json() as AttachClaim;
  } catch {
    throw new HttpError(400, 'Expected a JSON claim {"attached_at": <ms>, "node": "<name>"}');
  }
  if (!isAttachTime(claim?.attached_at) || typeof claim.node !== "string") {
    throw new HttpError(
      400,
      `Expected a claim {"attached_at": <ms, at most ${MAX_CLAIM_SKEW} ms ahead>, "node": "<name>"}`,
      { log: true },
    );
  }
  // The route's middleware checked the credential or admin token when either is configured.
  const open = !ctx.replicas.authenticated && !ctx.adminTokens.required;
  if (open && !ctx.replicas.isMemberAddress(info.peer) && !(await confirmed(ctx, info.id, claim))) {
    throw new HttpError(
      403,
      "Only a cluster member may announce a takeover, and the member named did not confirm this claim",
      { log: true },
    );
  }
  ctx.owners.forget(info.id);
  const mine = localClaim(ctx, info.id);
  if (!mine) return jsonResponse(200, { taken_over: false });
  if (!outranks(claim, mine)) return jsonResponse(409, mine);
  const where = ctx.replicas.urlOfNode(claim.node) ?? "another replica";
  log.info("Channel {channelId}: a newer client attached on {where}; closing the one here", {
    channelId: info.id,
    where,
  });
  ctx.channels.takeOver(info.id, takenOverReason(where));
  return jsonResponse(200, { taken_over: true });
}

/** Whether the alive member named in `claim` says the same at its gossip-derived URL. */
async function confirmed(ctx: ServerContext, id: string, claim: AttachClaim): Promise<boolean> {
  const url = ctx.replicas.urlOfNode(claim.node);
  if (!url || claim.node === ctx.replicas.localName) return false;
  try {
    const answer = await ctx.replicas.getJson<ChannelOwnership>(`${url}/internal/channels/${id}`);
    return answer.attached === true && answer.attached_at === claim.attached_at;
  } catch {
    return false;
  }
}
