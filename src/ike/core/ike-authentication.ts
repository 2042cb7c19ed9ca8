import { AuthMethod, type AuthPayload } from "../codec/auth.js";
import type { CertPayload } from "../codec/cert.js";
import type { CertReqPayload } from "../codec/certreq.js";
import { restOfIdPayload, type IdPayload } from "../codec/id.js";
import { PayloadType } from "../codec/payload-type.js";
import { authIdentityMatches, encodeAuthIdentity, localAuthIdentity } from "../auth/auth-identity.js";
import {
  buildAuthPayload,
  certPayloads,
  certReqPayload,
  verifyPeerAuth,
} from "../auth/pubkey-authenticator.js";
import { pskAuth, signedOctets, verifyPskAuth } from "../crypto/auth.js";
import type { Identity } from "../config/identity.js";
import type { ResolvedConnection } from "./connection.js";
import type { WireIdentity } from "./identity-payload.js";

/**
 * IKE_AUTH authentication (RFC 7296 §2.15) for both methods a connection may use: a
 * pre-shared key (AUTH method 2) or a certificate and private key (RFC 7427 signatures),
 * checked against the connection's trust anchors.
 */
export interface AuthSecrets {
  sharedKey(local: Identity, remote: WireIdentity): Uint8Array | undefined;
  /** Wall-clock time for certificate validity (the core's `now` may be a virtual clock). */
  wallClock(): Date;
}

/** The identity we send: from the certificate when we have one, else the configured one (or our address). */
export function ownIdentity(
  connection: ResolvedConnection,
  localAddress: string,
): WireIdentity | { error: string } {
  const configured = connection.config.local.id;
  const credentials = connection.localCredentials;
  if (credentials) {
    const id = localAuthIdentity(configured, credentials.certificate);
    return id.ok ? id.value : { error: id.error.message };
  }
  const id = encodeAuthIdentity(
    configured.kind === "any"
      ? { kind: localAddress.includes(":") ? "ipv6" : "ipv4", value: localAddress }
      : configured,
  );
  return id.ok ? id.value : { error: id.error.message };
}

/** The peer identity we name in IDr, if the connection names one. */
export function expectedPeerIdentity(connection: ResolvedConnection): WireIdentity | undefined {
  const id = connection.config.remote.id;
  if (id.kind === "any") return undefined;
  const wire = encodeAuthIdentity(id);
  return wire.ok ? wire.value : undefined;
}

export function peerIdentityAccepted(connection: ResolvedConnection, received: WireIdentity): boolean {
  return authIdentityMatches(connection.config.remote.id, received);
}

export function localIdentityAccepted(connection: ResolvedConnection, received: WireIdentity): boolean {
  return (
    connection.config.local.id.kind === "any" || authIdentityMatches(connection.config.local.id, received)
  );
}

/** CERT payloads (our chain) and a CERTREQ naming the CAs we trust, for certificate connections. */
export function certificatePayloads(connection: ResolvedConnection): {
  certs: CertPayload[];
  certReq: CertReqPayload | undefined;
} {
  return {
    certs: connection.localCredentials ? certPayloads(connection.localCredentials) : [],
    certReq: connection.peerTrust ? certReqPayload(connection.peerTrust) : undefined,
  };
}

export interface SignedOctetsInput {
  prf: number;
  /** Our first IKE_SA_INIT message as sent (the peer's, when verifying). */
  realMessage: Uint8Array;
  /** The other side's nonce. */
  peerNonce: Uint8Array;
  /** SK_pi for the initiator's octets, SK_pr for the responder's. */
  skP: Uint8Array;
}

/** Our AUTH payload over our signed octets. */
export function ownAuth(
  connection: ResolvedConnection,
  secrets: AuthSecrets,
  id: IdPayload,
  peer: WireIdentity | undefined,
  input: SignedOctetsInput,
  peerHashes: readonly number[] | undefined,
): AuthPayload | { error: string } {
  const octets = signedOctets({ ...input, idPayloadBody: restOfIdPayload(id) });
  if (connection.localCredentials) {
    const built = buildAuthPayload({
      credentials: connection.localCredentials,
      octets,
      peerHashes,
      rsaPss: connection.config.local.rsaPss,
    });
    return built.ok ? built.value.payload : { error: built.error.message };
  }
  const psk = secrets.sharedKey(connection.config.local.id, peer ?? { idType: 1, data: new Uint8Array(0) });
  if (!psk) return { error: "no pre-shared key configured for this connection" };
  return { type: PayloadType.AUTH, method: AuthMethod.SHARED_KEY_MIC, data: pskAuth(input.prf, psk, octets) };
}

/**
 * Checks the peer's AUTH with the method the connection requires: a PSK connection accepts
 * only a shared-key MIC, a certificate connection only a signature by a certificate that
 * chains to a configured CA and names the peer's identity.
 */
export function verifyPeer(
  connection: ResolvedConnection,
  secrets: AuthSecrets,
  id: IdPayload,
  certs: readonly CertPayload[],
  auth: AuthPayload,
  input: SignedOctetsInput,
): { ok: true; scheme: string } | { ok: false; reason: string } {
  const peer: WireIdentity = { idType: id.idType, data: id.data };
  const octets = signedOctets({ ...input, idPayloadBody: restOfIdPayload(id) });
  if (connection.config.remote.auth === "pubkey") {
    if (!connection.peerTrust) return { ok: false, reason: "no trust anchors configured" };
    const verified = verifyPeerAuth({
      trust: connection.peerTrust,
      peerId: peer,
      certs,
      auth,
      octets,
      now: secrets.wallClock(),
    });
    return verified.ok
      ? { ok: true, scheme: verified.value.scheme }
      : { ok: false, reason: verified.error.message };
  }
  if (auth.method !== AuthMethod.SHARED_KEY_MIC)
    return { ok: false, reason: `AUTH method ${auth.method} where a pre-shared key is configured` };
  const secret = secrets.sharedKey(connection.config.local.id, peer);
  if (!secret) return { ok: false, reason: "no pre-shared key for this peer" };
  return verifyPskAuth(input.prf, secret, octets, auth.data)
    ? { ok: true, scheme: "pre-shared key" }
    : { ok: false, reason: "the pre-shared key does not match" };
}
