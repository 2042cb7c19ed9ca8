import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ExchangeType } from "../../src/ike/codec/header.js";
import { decodeMessage } from "../../src/ike/codec/message.js";
import { PayloadType } from "../../src/ike/codec/payload-type.js";
import { IkePair, PATH_A_TO_B } from "../support/ike-pair.js";

const pki = (name: string) => fileURLToPath(new URL(`fixtures/pki/${name}`, import.meta.url));
const MOON_DN = "C=CH, O=Pavise Test, CN=moon.pavise.test";

/** a = sun (ECDSA P-256, 198.18.1.101), b = moon (RSA 3072); both issued by the intermediate CA. */
function certConfig(
  side: "a" | "b",
  options: { cacert?: string; remoteId?: string; sendChain?: boolean } = {},
): string {
  const [me, peer] = side === "a" ? ["198.18.1.101", "198.18.1.11"] : ["198.18.1.11", "198.18.1.101"];
  const [cert, id] = side === "a" ? ["sun", "sun.pavise.test"] : ["moon", `"${MOON_DN}"`];
  const remoteId = options.remoteId ?? (side === "a" ? `"${MOON_DN}"` : "sun.pavise.test");
  const certs =
    options.sendChain === false ? [pki(`${cert}.crt`)] : [pki(`${cert}.crt`), pki("intermediate.crt")];
  return `
connections:
  test:
    local_addrs: [${me}]
    remote_addrs: [${peer}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: pubkey, id: ${id}, certs: [${certs.join(", ")}], key: ${pki(`${cert}.key`)} }
    remote: { auth: pubkey, id: ${remoteId}, cacerts: [${pki(options.cacert ?? "root.crt")}] }
    children:
      net:
        local_ts: [dynamic]
        remote_ts: [dynamic]
        esp_proposals: [aes128gcm16]
`;
}

function exchangeOf(message: Uint8Array): { exchange: number; types: number[] } | undefined {
  const decoded = decodeMessage(message);
  return decoded.ok
    ? {
        exchange: decoded.value.header.exchangeType,
        types: decoded.value.payloads.map((p) => (p.type === "unknown" ? p.payloadType : p.type)),
      }
    : undefined;
}

describe("IKE_AUTH with certificates (RFC 7296 §2.15, RFC 7427)", () => {
  it("ECDSA and RSA certificates through an intermediate CA authenticate both ways; IKE_AUTH is fragmented", () => {
    const pair = new IkePair(certConfig("a"), certConfig("b"));
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    expect(pair.types("a")).toEqual(["ike-up", "child-up"]);
    expect(pair.types("b")).toEqual(["ike-up", "initial-contact", "child-up"]);
    expect(pair.a.ikeSas()[0]!.summary().remoteId).toBe(MOON_DN);
    expect(pair.b.ikeSas()[0]!.summary().remoteId).toBe("sun.pavise.test");
    // The RSA 3072 chain does not fit 1280 octets: RFC 7383 fragments (SKF) carry it.
    const auth = pair.wire
      .map((w) => ({ from: w.from, m: exchangeOf(w.message) }))
      .filter((w) => w.m?.exchange === ExchangeType.IKE_AUTH);
    expect(auth.filter((w) => w.from === "b").length).toBeGreaterThan(1);
    expect(auth.every((w) => w.m!.types.includes(PayloadType.SKF))).toBe(true);
    // CERTREQ in IKE_SA_INIT names the CA we trust.
    const init = pair.wire
      .map((w) => exchangeOf(w.message))
      .find((m) => m?.exchange === ExchangeType.IKE_SA_INIT && m.types.includes(PayloadType.CERTREQ));
    expect(init).toBeDefined();
  });

  it("an RSA key signs with RSASSA-PSS when rsa_pss is set, and the peer verifies it", () => {
    const pss = certConfig("b").replace(
      "key: " + pki("moon.key") + " }",
      "key: " + pki("moon.key") + ", rsa_pss: yes }",
    );
    expect(pss).toContain("rsa_pss: yes");
    const pair = new IkePair(certConfig("a"), pss);
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    expect(pair.types("a")).toEqual(["ike-up", "child-up"]);
    const logs = pair.eventsA.filter((e) => e.type === "log").map((e) => (e.type === "log" ? e.message : ""));
    expect(logs.join("\n")).toMatch(
      /authentication of C=CH, O=Pavise Test, CN=moon.pavise.test with .*PSS.* successful/i,
    );
    const plain = new IkePair(certConfig("a"), certConfig("b"));
    plain.a.initiate(plain.now, "test", PATH_A_TO_B);
    plain.drive();
    const plainLogs = plain.eventsA
      .filter((e) => e.type === "log")
      .map((e) => (e.type === "log" ? e.message : ""));
    expect(plainLogs.join("\n")).not.toMatch(/PSS/i);
  });

  it("a peer certificate from a CA we do not trust fails with AUTHENTICATION_FAILED", () => {
    const pair = new IkePair(certConfig("a"), certConfig("b", { cacert: "other-root.crt" }));
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    expect(pair.types("b")).toEqual(["ike-down"]);
    const down = pair.eventsB.find((e) => e.type === "ike-down");
    expect(down?.type === "ike-down" && down.reason).toMatch(/sun\.pavise\.test/);
    expect(pair.types("a")).toEqual(["ike-down"]);
  });

  it("a responder asked for an identity it does not have (IDr) refuses; so does our own config check", () => {
    const pair = new IkePair(
      certConfig("a", { remoteId: '"C=CH, O=Pavise Test, CN=mars.pavise.test"' }),
      certConfig("b"),
    );
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    const refused = pair.eventsB.find((e) => e.type === "ike-down");
    expect(refused?.type === "ike-down" && refused.reason).toMatch(
      /no connection accepts identity sun\.pavise\.test/,
    );
    const down = pair.eventsA.find((e) => e.type === "ike-down");
    expect(down?.type === "ike-down" && down.reason).toMatch(/notify 24/); // AUTHENTICATION_FAILED
    // Claiming an identity that is not in our own certificate is caught before anything is sent.
    const liar = new IkePair(
      certConfig("a").replace("id: sun.pavise.test,", "id: mars.pavise.test,"),
      certConfig("b"),
    );
    liar.a.initiate(liar.now, "test", PATH_A_TO_B);
    liar.drive();
    const self = liar.eventsA.find((e) => e.type === "ike-down");
    expect(self?.type === "ike-down" && self.reason).toMatch(/not in our certificate/);
  });

  it("a chain without its intermediate cannot be verified", () => {
    const pair = new IkePair(certConfig("a", { sendChain: false }), certConfig("b"));
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    expect(pair.types("b")).toEqual(["ike-down"]);
  });
});
