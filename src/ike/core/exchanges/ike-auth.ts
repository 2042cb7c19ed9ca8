// IKE_AUTH (RFC 7296 §1.2): identities, authentication and the first Child SA.
import { ExchangeType } from "../../codec/header.js";
import type { IdPayload } from "../../codec/id.js";
import { NotifyType, isErrorNotify, notify } from "../../codec/notify.js";
import type { InnerPayload } from "../../codec/payload.js";
import { PayloadType } from "../../codec/payload-type.js";
import { ProtocolId, type Proposal } from "../../codec/sa.js";
import { describeAuthIdentity } from "../../auth/auth-identity.js";
import { childAnswer, childOffer, decideChild, type ChildSa } from "../child-sa.js";
import type { ResolvedConnection } from "../connection.js";
import type { WireIdentity } from "../identity-payload.js";
import {
  certificatePayloads,
  expectedPeerIdentity,
  localIdentityAccepted,
  ownAuth,
  ownIdentity,
  peerIdentityAccepted,
  verifyPeer,
} from "../ike-authentication.js";
import { find, hasNotify, notifiesOf } from "../payload-helpers.js";
import { offerProposals, selectProposal } from "../proposals.js";
import type { TrafficSelector } from "../traffic-selector.js";
import { acceptChildAnswer, makeChild } from "./create-child-sa.js";
import type { ExchangeContext, Pending } from "./exchange-context.js";

export function sendAuthRequest(ike: ExchangeContext, now: number): void {
  if (!ike.state.keys || !ike.state.suite) return;
  const localId = ownIdentity(ike.state.connection, ike.state.path.localAddress);
  if ("error" in localId) return ike.close(now, localId.error);
  const remoteId = expectedPeerIdentity(ike.state.connection);
  const idi: IdPayload = { type: PayloadType.IDi, idType: localId.idType, data: localId.data };
  const auth = ownAuth(
    ike.state.connection,
    ike.secrets(),
    idi,
    remoteId,
    {
      prf: ike.state.suite.prf,
      realMessage: ike.state.initRequest,
      peerNonce: ike.state.nonceR,
      skP: ike.state.keys.skPi,
    },
    ike.state.peerHashes,
  );
  if ("error" in auth) return ike.close(now, auth.error);
  // §3.6-3.8 order as strongSwan sends it: IDi, CERT…, CERTREQ, N(INITIAL_CONTACT), IDr, AUTH.
  const { certs, certReq } = certificatePayloads(ike.state.connection);
  const inner: InnerPayload[] = [idi, ...certs, ...(certReq ? [certReq] : [])];
  if (initialContactAllowed(ike, localId, remoteId)) {
    inner.push(notify(NotifyType.INITIAL_CONTACT));
    ike.state.sentInitialContact = true;
  }
  if (remoteId) inner.push({ type: PayloadType.IDr, idType: remoteId.idType, data: remoteId.data });
  inner.push(auth);
  const child = ike.state.connection.children[0];
  const spiIn = ike.newChildSpi();
  let offer = {
    offered: [] as Proposal[],
    localTs: [] as TrafficSelector[],
    remoteTs: [] as TrafficSelector[],
  };
  if (child) {
    const offered = offerProposals(child.espProposals, ProtocolId.ESP, spiIn, { withDh: false });
    const built = childOffer(child, ike.state.path, offered);
    inner.push(...built.payloads);
    offer = { offered, localTs: built.localTs, remoteTs: built.remoteTs };
  }
  ike.state.phase = { name: "auth-sent" };
  ike.state.pending = { kind: "auth", child, spiIn, ...offer };
  ike.request(now, ExchangeType.IKE_AUTH, inner);
}

/**
 * RFC 7296 §2.4: INITIAL_CONTACT asserts that this IKE SA is the only one between the two
 * authenticated identities. As strongSwan's ike_auth `build_i`: only with a peer identity we name
 * exactly (not %any) and when no other established IKE SA joins the same two identities, unless
 * this is a contact SA: it ends all those others when it comes up, and it is sent by the node
 * that has just taken the package over and so has no other SA with anyone for it — even to a
 * peer whose identity it does not know yet (one that made itself known only by ESP for an
 * unknown SPI, design §8): the assertion is about the identities both ends authenticate.
 */
function initialContactAllowed(
  ike: ExchangeContext,
  localId: WireIdentity,
  remoteId: WireIdentity | undefined,
): boolean {
  if (!ike.state.initialContact) return false;
  if (!remoteId && !ike.state.contact) {
    ike.log("info", "no INITIAL_CONTACT: the peer's identity is not configured (%any)");
    return false;
  }
  if (
    !ike.state.contact &&
    remoteId &&
    ike.context.otherIkeSa?.(ike.state.spiI, localId, remoteId, ike.state.path.localAddress)
  ) {
    ike.log("info", "no INITIAL_CONTACT: another IKE SA joins the same identities");
    return false;
  }
  return true;
}

export function answerAuth(
  ike: ExchangeContext,
  now: number,
  messageId: number,
  inner: InnerPayload[],
): void {
  const idi = find(inner, PayloadType.IDi);
  const idr = find(inner, PayloadType.IDr);
  const auth = find(inner, PayloadType.AUTH);
  const fail = (reason: string): void => {
    ike.respond(ExchangeType.IKE_AUTH, messageId, [notify(NotifyType.AUTHENTICATION_FAILED)]);
    ike.close(now, reason);
  };
  if (!idi || !auth || !ike.state.keys || !ike.state.suite)
    return fail("IKE_AUTH request without IDi or AUTH");
  const peer: WireIdentity = { idType: idi.idType, data: idi.data };
  // Keep the connection IKE_SA_INIT chose when the identities fit it; otherwise switch to one
  // that fits them and could also have accepted the peer's IKE proposals.
  const fits = (c: ResolvedConnection): boolean =>
    peerIdentityAccepted(c, peer) &&
    (!idr || localIdentityAccepted(c, { idType: idr.idType, data: idr.data }));
  const connection = fits(ike.state.connection)
    ? ike.state.connection
    : ike.context.connections.find(
        (c) =>
          fits(c) && selectProposal(ike.state.offeredByPeer, c.ikeProposals, ProtocolId.IKE) !== undefined,
      );
  if (!connection) return fail(`no connection accepts identity ${describeAuthIdentity(peer)}`);
  ike.state.connection = connection;
  const certs = inner.filter((p) => p.type === PayloadType.CERT);
  const verdict = verifyPeer(connection, ike.secrets(), idi, certs, auth, {
    prf: ike.state.suite.prf,
    realMessage: ike.state.initRequest,
    peerNonce: ike.state.nonceR,
    skP: ike.state.keys.skPi,
  });
  if (!verdict.ok) return fail(`authentication of ${describeAuthIdentity(peer)} failed: ${verdict.reason}`);
  ike.log("info", `authentication of ${describeAuthIdentity(peer)} with ${verdict.scheme} successful`);
  ike.state.remoteId = peer;
  ike.state.lingerDeadline = undefined;

  const localId = ownIdentity(connection, ike.state.path.localAddress);
  if ("error" in localId) return fail(localId.error);
  const idPayload: IdPayload = { type: PayloadType.IDr, idType: localId.idType, data: localId.data };
  const ourAuth = ownAuth(
    connection,
    ike.secrets(),
    idPayload,
    peer,
    {
      prf: ike.state.suite.prf,
      realMessage: ike.state.initResponse,
      peerNonce: ike.state.nonceI,
      skP: ike.state.keys.skPr,
    },
    ike.state.peerHashes,
  );
  if ("error" in ourAuth) return fail(ourAuth.error);
  const response: InnerPayload[] = [idPayload, ...certificatePayloads(connection).certs, ourAuth];

  // The first Child SA (§1.2): DH is never part of it.
  let child: ChildSa | undefined;
  if (find(inner, PayloadType.SA)) {
    const decision = decideChild(inner, connection, ike.state.path, { keGroup: undefined });
    if (decision.ok) {
      const spiIn = ike.newChildSpi();
      response.push(...childAnswer(decision, spiIn));
      child = makeChild(
        ike,
        now,
        decision.chosen,
        spiIn,
        ike.state.nonceI,
        ike.state.nonceR,
        undefined,
        false,
        decision.child,
        decision.localTs,
        decision.remoteTs,
        decision.transport,
      );
    } else {
      response.push(notify(decision.notifyType, decision.data));
      ike.log("warn", `no Child SA: ${decision.reason}`);
    }
  }
  ike.respond(ExchangeType.IKE_AUTH, messageId, response);
  ike.state.phase = { name: "established" };
  ike.setIkeLifetime(now);
  ike.emit({ type: "ike-up", sa: ike.summary() });
  if (hasNotify(inner, NotifyType.INITIAL_CONTACT)) ike.emit({ type: "initial-contact", sa: ike.summary() });
  if (child) ike.installChild(child);
}

export function handleAuthResponse(
  ike: ExchangeContext,
  now: number,
  inner: InnerPayload[],
  pending: Extract<Pending, { kind: "auth" }>,
): void {
  const idr = find(inner, PayloadType.IDr);
  const auth = find(inner, PayloadType.AUTH);
  const error = notifiesOf(inner).find((n) => isErrorNotify(n.notifyType));
  if (!idr || !auth || !ike.state.keys || !ike.state.suite) {
    return ike.close(
      now,
      error ? `peer refused IKE_AUTH: notify ${error.notifyType}` : "IKE_AUTH response without IDr or AUTH",
    );
  }
  const peer: WireIdentity = { idType: idr.idType, data: idr.data };
  if (!peerIdentityAccepted(ike.state.connection, peer)) {
    return ike.close(now, `peer identity ${describeAuthIdentity(peer)} is not the configured one`);
  }
  const certs = inner.filter((p) => p.type === PayloadType.CERT);
  const verdict = verifyPeer(ike.state.connection, ike.secrets(), idr, certs, auth, {
    prf: ike.state.suite.prf,
    realMessage: ike.state.initResponse,
    peerNonce: ike.state.nonceI,
    skP: ike.state.keys.skPr,
  });
  if (!verdict.ok)
    return ike.close(now, `authentication of ${describeAuthIdentity(peer)} failed: ${verdict.reason}`);
  ike.log("info", `authentication of ${describeAuthIdentity(peer)} with ${verdict.scheme} successful`);
  ike.state.remoteId = peer;
  ike.state.phase = { name: "established" };
  ike.setIkeLifetime(now);
  ike.emit({ type: "ike-up", sa: ike.summary() });
  // §2.4 allows INITIAL_CONTACT in the first IKE_AUTH response too; the endpoint acts on it.
  if (hasNotify(inner, NotifyType.INITIAL_CONTACT)) ike.emit({ type: "initial-contact", sa: ike.summary() });
  // The connection's further children come up with CREATE_CHILD_SA (§1.3.1).
  for (const further of ike.state.connection.children.slice(1))
    ike.state.tasks.push({ kind: "create-child", child: further });
  if (!pending.child) return;
  const child = acceptChildAnswer(
    ike,
    now,
    inner,
    pending.child,
    pending.offered,
    pending.spiIn,
    pending.localTs,
    pending.remoteTs,
    ike.state.nonceI,
    ike.state.nonceR,
    undefined,
  );
  if (typeof child === "string")
    ike.log("warn", `no Child SA: ${error ? `notify ${error.notifyType}` : child}`);
  else ike.installChild(child);
}
