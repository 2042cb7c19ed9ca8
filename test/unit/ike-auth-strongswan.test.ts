/**
 * Interoperability on real bytes: two strongSwan 5.9.8 charons authenticated each other with the
 * certificates of test/unit/fixtures/pki, captured on the wire by
 * test/unit/fixtures/ike-capture-strongswan-cert.sh (see the fixture's "note"). The IKE_AUTH
 * messages are opened with the keys charon logged, and then:
 *
 * - verifyPeerAuth accepts every AUTH payload strongSwan sent (methods 14 with
 *   ecdsa-with-SHA256, sha256WithRSAEncryption and RSASSA-PSS; 1; 9; 10; 11), with the chain
 *   from the CERT payloads to root.crt, at the time of the capture;
 * - signAuth, given the same key, octets and peer hashes, picks the same method and
 *   AlgorithmIdentifier, and for deterministic RSA PKCS#1 v1.5 produces the same octets;
 * - our ID (DN), CERT, CERTREQ and SIGNATURE_HASH_ALGORITHMS payloads equal strongSwan's;
 * - the other way round (pavise-* cases): the relay replaced each charon's AUTH payload with
 *   the one signAuth computed, and the other charon verified it and established the IKE SA.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  type AuthPayload,
  type CertPayload,
  type CertReqPayload,
  EncrId,
  ExchangeType,
  IdType,
  type IdPayload,
  type IkeMessage,
  NotifyType,
  type NotifyPayload,
  type Payload,
  PayloadType,
  PrfId,
  decodeMessage,
  decodePayloadChain,
  restOfIdPayload,
} from "../../src/ike/codec/index.js";
import { signedOctets } from "../../src/ike/crypto/auth.js";
import { decryptSk } from "../../src/ike/crypto/encryption.js";
import {
  SUPPORTED_SIGNATURE_HASHES,
  certPayloads,
  certReqPayload,
  decodeSignatureHashes,
  describeAuthIdentity,
  dnFromText,
  encodeAuthIdentity,
  formatDn,
  encodeSignatureHashes,
  loadLocalCredentials,
  loadPeerTrust,
  localAuthIdentity,
  parseDn,
  signAuth,
  verifyPeerAuth,
} from "../../src/ike/auth/index.js";
import type { Identity } from "../../src/ike/config/identity.js";

interface Capture {
  note: string;
  strongswan: string;
  cases: {
    name: string;
    charonSettings: string;
    initiator: { cert: string; id: string };
    responder: { cert: string; id: string };
    capturedAt: string;
    keys: Record<"Sk_ei" | "Sk_er" | "Sk_pi" | "Sk_pr", string>;
    initiatorLog: string[];
    responderLog: string[];
    messages: {
      from: "initiator" | "responder";
      port: number;
      hex: string;
      /** pavise-* cases: Pavise's AUTH replaced the charon's; what the charon had sent. */
      rewritten?: { scheme: string; originalMethod: number; originalAuth: string; originalHex: string };
    }[];
  }[];
}

const capture = JSON.parse(
  readFileSync(new URL("./fixtures/ike-strongswan-cert.json", import.meta.url), "utf8"),
) as Capture;
const PKI = fileURLToPath(new URL("./fixtures/pki/", import.meta.url));
const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

function decoded(bytes: Uint8Array): IkeMessage {
  const result = decodeMessage(bytes);
  if (!result.ok) throw new Error(`decode: ${result.error.message}`);
  return result.value;
}

function find<T extends Payload>(payloads: readonly Payload[], type: number): T[] {
  return payloads.filter((p) => p.type === type) as T[];
}

function notifyData(payloads: readonly Payload[], notifyType: number): Uint8Array | undefined {
  return find<NotifyPayload>(payloads, PayloadType.NOTIFY).find((n) => n.notifyType === notifyType)?.data;
}

/** The payloads inside an IKE_AUTH message's SK payload (aes128gcm16, RFC 5282). */
function opened(bytes: Uint8Array, encKey: string): Payload[] {
  const message = decoded(bytes);
  const sk = message.encrypted;
  if (!sk) throw new Error("IKE_AUTH without SK payload");
  const result = decryptSk({
    transform: EncrId.AES_GCM_16,
    keyLength: 128,
    encKey: fromHex(encKey),
    aad: sk.aad,
    body: sk.body,
  });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  const chain = decodePayloadChain(sk.firstInnerType, result.plaintext);
  if (!chain.ok) throw new Error(chain.error.message);
  return chain.value.payloads;
}

/** How each charon authenticated, per the charon logs in the fixture. */
const EXPECTED: Record<string, { initiator: [number, string]; responder: [number, string] }> = {
  ds: { initiator: [14, "ecdsa-with-SHA256"], responder: [14, "sha256WithRSAEncryption"] },
  pss: { initiator: [14, "RSASSA-PSS(SHA-256, salt 32)"], responder: [14, "ecdsa-with-SHA256"] },
  classic: { initiator: [9, "ECDSA-256"], responder: [1, "RSA_SIGNATURE (SHA-1)"] },
  classic2: { initiator: [11, "ECDSA-521"], responder: [10, "ECDSA-384"] },
};

/** A capture's identity text as Pavise configuration would hold it. */
function configuredIdentity(text: string): Identity {
  if (text.startsWith("asn1dn:#")) return { kind: "any" };
  return text.includes("=") ? { kind: "dn", value: text } : { kind: "fqdn", value: text };
}

const BASE_CASES = ["ds", "pss", "classic", "classic2"];

it("the fixture has the four cases, each also with Pavise's AUTH payloads", () => {
  expect(capture.strongswan).toBe("5.9.8");
  expect(capture.cases.map((c) => c.name)).toEqual([...BASE_CASES, ...BASE_CASES.map((n) => `pavise-${n}`)]);
});

for (const c of capture.cases) {
  describe(`strongSwan ${capture.strongswan} capture "${c.name}" (${c.initiator.cert} → ${c.responder.cert}${c.charonSettings ? `, ${c.charonSettings}` : ""})`, () => {
    const bytes = c.messages.map((m) => ({ ...m, bytes: fromHex(m.hex) }));
    const ofExchange = (exchange: number, from: "initiator" | "responder") => {
      const m = bytes.find((b) => b.from === from && decoded(b.bytes).header.exchangeType === exchange);
      if (!m) throw new Error(`no ${exchange} from ${from}`);
      return m.bytes;
    };
    const initRequest = ofExchange(ExchangeType.IKE_SA_INIT, "initiator");
    const initResponse = ofExchange(ExchangeType.IKE_SA_INIT, "responder");
    const initRequestPayloads = decoded(initRequest).payloads;
    const initResponsePayloads = decoded(initResponse).payloads;
    const nonceI = find<{ type: number; data: Uint8Array } & Payload>(
      initRequestPayloads,
      PayloadType.NONCE,
    )[0]!.data;
    const nonceR = find<{ type: number; data: Uint8Array } & Payload>(
      initResponsePayloads,
      PayloadType.NONCE,
    )[0]!.data;
    const authRequest = opened(ofExchange(ExchangeType.IKE_AUTH, "initiator"), c.keys.Sk_ei);
    const authResponse = opened(ofExchange(ExchangeType.IKE_AUTH, "responder"), c.keys.Sk_er);
    const now = new Date(c.capturedAt);
    const trust = loadPeerTrust({ cacerts: [`${PKI}root.crt`], certs: [] });
    if (!trust.ok) throw new Error(trust.error.message);
    // Both charons had root and intermediate as CA certificates, as this trust store has them.
    const trustBoth = loadPeerTrust({ cacerts: [`${PKI}root.crt`, `${PKI}intermediate.crt`], certs: [] });
    if (!trustBoth.ok) throw new Error(trustBoth.error.message);

    const sides = [
      {
        role: "initiator" as const,
        payloads: authRequest,
        id: find<IdPayload>(authRequest, PayloadType.IDi)[0]!,
        realMessage: initRequest,
        peerNonce: nonceR,
        skP: c.keys.Sk_pi,
        // what the initiator knew of its peer's hashes when it signed: the IKE_SA_INIT response
        peerHashes: notifyData(initResponsePayloads, NotifyType.SIGNATURE_HASH_ALGORITHMS),
        config: c.initiator,
      },
      {
        role: "responder" as const,
        payloads: authResponse,
        id: find<IdPayload>(authResponse, PayloadType.IDr)[0]!,
        realMessage: initResponse,
        peerNonce: nonceI,
        skP: c.keys.Sk_pr,
        peerHashes: notifyData(initRequestPayloads, NotifyType.SIGNATURE_HASH_ALGORITHMS),
        config: c.responder,
      },
    ];

    for (const side of sides) {
      const octets = signedOctets({
        prf: PrfId.HMAC_SHA2_256,
        realMessage: side.realMessage,
        peerNonce: side.peerNonce,
        skP: fromHex(side.skP),
        idPayloadBody: restOfIdPayload(side.id),
      });
      const auth = find<AuthPayload>(side.payloads, PayloadType.AUTH)[0]!;
      const certs = find<CertPayload>(side.payloads, PayloadType.CERT);
      const [method, scheme] = EXPECTED[c.name.replace(/^pavise-/, "")]![side.role];
      const who = `${side.role} ${side.config.cert} (${describeAuthIdentity(side.id)})`;

      it(`${who}: verifyPeerAuth accepts its AUTH method ${method}, ${scheme}`, () => {
        expect(auth.method).toBe(method);
        const result = verifyPeerAuth({ trust: trustBoth.value, peerId: side.id, certs, auth, octets, now });
        if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
        expect(result.value.scheme).toBe(scheme);
        expect(result.value.certificate.name).toBe(
          formatDn(
            side.id.idType === IdType.DER_ASN1_DN ? side.id.data : result.value.certificate.fields.subject,
          ),
        );
      });

      it(`${who}: with only the root trusted, the chain holds when the intermediate came along`, () => {
        // strongSwan sends the intermediate unless the peer's CERTREQ named it (then it is
        // trusted there already): here the responder asked for both CAs, the initiator for root.
        const sentIntermediate = certs.length > 1;
        const issuedByRoot = side.config.cert === "venus";
        const result = verifyPeerAuth({ trust: trust.value, peerId: side.id, certs, auth, octets, now });
        if (sentIntermediate || issuedByRoot) {
          if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
          expect(result.value.chain.at(-1)?.name).toBe("C=CH, O=Pavise Test, CN=Pavise Test Root CA");
        } else {
          expect(result).toMatchObject({ ok: false, error: { code: "AUTH_CHAIN_UNTRUSTED" } });
        }
      });

      it(`${who}: the same AUTH fails for other octets, the other side's identity, or after expiry`, () => {
        const otherSide = sides.find((s) => s !== side)!;
        const wrongOctets = Uint8Array.from(octets);
        wrongOctets[0]! ^= 1;
        const base = { trust: trustBoth.value, peerId: side.id, certs, auth, octets, now };
        expect(verifyPeerAuth({ ...base, octets: wrongOctets })).toMatchObject({
          ok: false,
          error: { code: "AUTH_SIGNATURE_INVALID" },
        });
        expect(verifyPeerAuth({ ...base, peerId: otherSide.id })).toMatchObject({
          ok: false,
          error: { code: "AUTH_IDENTITY_NOT_IN_CERT" },
        });
        expect(verifyPeerAuth({ ...base, now: new Date("2037-01-01T00:00:00Z") })).toMatchObject({
          ok: false,
          error: { code: "AUTH_CERT_EXPIRED" },
        });
      });

      it(`${who}: with its key, octets and peer hashes we pick the same method and AlgorithmIdentifier`, () => {
        const creds = loadLocalCredentials({
          certs: [`${PKI}${side.config.cert}.crt`],
          key: `${PKI}${side.config.cert}.key`,
        });
        if (!creds.ok) throw new Error(creds.error.message);
        const ours = signAuth({
          privateKey: creds.value.privateKey,
          octets,
          peerHashes: side.peerHashes ? decodeSignatureHashes(side.peerHashes) : undefined,
          rsaPss: c.charonSettings.includes("rsa_pss = yes"),
        });
        if (!ours.ok) throw new Error(ours.error.message);
        expect(ours.value.method).toBe(auth.method);
        if (auth.method === 14) {
          const length = auth.data[0]!;
          expect(toHex(ours.value.data.subarray(0, 1 + length))).toBe(
            toHex(auth.data.subarray(0, 1 + length)),
          );
        }
        const deterministic = auth.method === 1 || scheme === "sha256WithRSAEncryption";
        if (deterministic) {
          // RSASSA-PKCS1-v1_5 has no randomness: same key, same octets, same signature.
          expect(toHex(ours.value.data)).toBe(toHex(auth.data));
        } else if (auth.method !== 14) {
          expect(ours.value.data.length).toBe(auth.data.length);
        }
      });

      it(`${who}: its ID payload is what we would send for the same configuration`, () => {
        const creds = loadLocalCredentials({
          certs: [`${PKI}${side.config.cert}.crt`],
          key: `${PKI}${side.config.cert}.key`,
        });
        if (!creds.ok) throw new Error(creds.error.message);
        const ours = localAuthIdentity(configuredIdentity(side.config.id), creds.value.certificate);
        if (!ours.ok) throw new Error(ours.error.message);
        expect([ours.value.idType, toHex(ours.value.data)]).toEqual([side.id.idType, toHex(side.id.data)]);
        if (side.config.id.includes("=") && !side.config.id.startsWith("asn1dn:")) {
          // strongSwan's atodn() and ours give the same DER for the same text.
          const encoded = encodeAuthIdentity({ kind: "dn", value: side.config.id });
          expect(encoded.ok && toHex(encoded.value.data)).toBe(toHex(side.id.data));
        }
      });

      it(`${who}: its CERT payloads are what certPayloads sends (end entity, then intermediate if sent)`, () => {
        const chainFiles = certs.length > 1 ? [side.config.cert, "intermediate"] : [side.config.cert];
        const creds = loadLocalCredentials({
          certs: chainFiles.map((f) => `${PKI}${f}.crt`),
          key: `${PKI}${side.config.cert}.key`,
        });
        if (!creds.ok) throw new Error(creds.error.message);
        expect(certPayloads(creds.value).map((p) => [p.encoding, toHex(p.data)])).toEqual(
          certs.map((p) => [p.encoding, toHex(p.data)]),
        );
      });
    }

    it("CERTREQ: strongSwan asks for the same CAs our certReqPayload names", () => {
      const both = loadPeerTrust({ cacerts: [`${PKI}root.crt`, `${PKI}intermediate.crt`], certs: [] });
      if (!both.ok) throw new Error(both.error.message);
      // The responder (all its CA certificates) in IKE_SA_INIT, the initiator (its remote.cacerts) in IKE_AUTH.
      const inInit = find<CertReqPayload>(initResponsePayloads, PayloadType.CERTREQ)[0]!;
      expect(toHex(inInit.authorities)).toBe(toHex(certReqPayload(both.value)!.authorities));
      const inAuth = find<CertReqPayload>(authRequest, PayloadType.CERTREQ)[0]!;
      expect(toHex(inAuth.authorities)).toBe(toHex(certReqPayload(trust.value)!.authorities));
    });

    it("SIGNATURE_HASH_ALGORITHMS: strongSwan announces what we announce, unless RFC 7427 is off", () => {
      const announced = notifyData(initRequestPayloads, NotifyType.SIGNATURE_HASH_ALGORITHMS);
      if (c.charonSettings.includes("signature_authentication = no")) expect(announced).toBeUndefined();
      else expect(toHex(announced!)).toBe(toHex(encodeSignatureHashes(SUPPORTED_SIGNATURE_HASHES)));
    });
  });
}

describe("venus's UTF-8 subject, as strongSwan sent it in IDr", () => {
  it("is the DER our DN text encoder makes from the text pki was given", () => {
    const classic2 = capture.cases.find((c) => c.name === "classic2")!;
    const response = classic2.messages.find((m, i) => m.from === "responder" && i > 1)!;
    const idr = find<IdPayload>(opened(fromHex(response.hex), classic2.keys.Sk_er), PayloadType.IDr)[0]!;
    const text = "C=CH, O=Pavise Tëst, OU=Zürich, CN=venus.pavise.test";
    expect(parseDn(text).ok).toBe(true);
    const ours = dnFromText(text);
    expect(ours.ok && toHex(ours.value)).toBe(toHex(idr.data));
    expect(describeAuthIdentity(idr)).toBe(text);
  });
});

describe("Pavise's AUTH payloads, verified by strongSwan (pavise-* cases)", () => {
  for (const c of capture.cases.filter((k) => k.name.startsWith("pavise-"))) {
    for (const role of ["initiator", "responder"] as const) {
      const verifier = role === "initiator" ? c.responderLog : c.initiatorLog;
      it(`${c.name}: the ${role}'s AUTH came from signAuth, and the other charon accepted it`, () => {
        const rewritten = c.messages.filter((m) => m.from === role && m.rewritten);
        expect(rewritten.length).toBeGreaterThan(0);
        for (const m of rewritten) {
          const payloads = opened(fromHex(m.hex), role === "initiator" ? c.keys.Sk_ei : c.keys.Sk_er);
          const auth = find<AuthPayload>(payloads, PayloadType.AUTH)[0]!;
          expect(auth.method).toBe(m.rewritten!.originalMethod);
          // RSASSA-PKCS1-v1_5 is deterministic: the same octets as charon's. The rest are randomized.
          const deterministic = /RSA_SIGNATURE|WithRSAEncryption/.test(m.rewritten!.scheme);
          expect(toHex(auth.data) === m.rewritten!.originalAuth).toBe(deterministic);
        }
        const verified = verifier.filter(
          (l) => /^authentication of '.*' with .* successful$/.test(l) && !l.includes("(myself)"),
        );
        expect(verified).toHaveLength(1);
        expect(verifier.filter((l) => /fail/i.test(l))).toEqual([]);
        expect(verifier.some((l) => l.startsWith("IKE_SA cap[1] established"))).toBe(true);
      });
    }
  }
});
