import { describe, expect, it } from "vitest";
import { ClusterKeys, ipsecPeerName } from "../../src/cluster/membership/layout.js";
import { formatPeerRecord, parsePeerRecord, type PeerRecord } from "../../src/ipsec/registry/peer-record.js";

const keys = ClusterKeys.forCluster("prod");

const record: PeerRecord = {
  id: "c1.clients.pavise.test",
  connection: "clients",
  address: "198.18.1.101",
  port: 4500,
  natted: false,
  children: [{ name: "net", localTs: ["198.18.1.50/32"], remoteTs: ["198.18.1.101/32"] }],
  node: "n1",
  since: 1_795_000_000_000,
  seen: 1_795_000_360_000,
};

describe("ipsec peer keys (layout.ts)", () => {
  it("names a peer by base32(SHA-256(identity))[:26], as Python's base64.b32encode gives it", () => {
    // Expected values from: python3 -c "import hashlib,base64; print(base64.b32encode(
    //   hashlib.sha256(b'...').digest()).decode().lower()[:26])"
    expect(ipsecPeerName("c1.clients.pavise.test")).toBe("4fo5qq6v3cdowsnpx2p7hl5dpo");
    expect(ipsecPeerName("CN=c1, O=Pavise/OU=clients")).toBe("czdvuktmx3ktluqknjlnoq2gcl");
    expect(ipsecPeerName("198.18.1.101")).toBe("zhuojpdwqnvobqb3floxxz5z4w");
  });

  it("puts peers under ipsec/peers/<package>/ and parses its own keys back", () => {
    expect(keys.ipsecPeersPrefix).toBe("/pavise/prod/ipsec/peers/");
    expect(keys.packageIpsecPeers("web")).toBe("/pavise/prod/ipsec/peers/web/");
    // A DN with "/" still makes one key level.
    const key = keys.ipsecPeer("web", "CN=c1, O=Pavise/OU=clients");
    expect(key).toBe("/pavise/prod/ipsec/peers/web/czdvuktmx3ktluqknjlnoq2gcl");
    expect(keys.parseIpsecPeer(key)).toEqual({ package: "web", peer: "czdvuktmx3ktluqknjlnoq2gcl" });
  });

  it("parses nothing else as a peer key", () => {
    expect(keys.parseIpsecPeer("/pavise/prod/ipsec/peers/web/")).toBeUndefined();
    expect(keys.parseIpsecPeer("/pavise/prod/ipsec/peers/web/c1.clients.pavise.test")).toBeUndefined();
    expect(keys.parseIpsecPeer("/pavise/prod/ipsec/peers/web/czdvuktmx3ktluqknjlnoq2gcl/x")).toBeUndefined();
    expect(keys.parseIpsecPeer("/pavise/other/ipsec/peers/web/czdvuktmx3ktluqknjlnoq2gcl")).toBeUndefined();
    expect(keys.parseOwner(keys.ipsecPeer("web", "c1"))).toBeUndefined();
  });

  it("one package's peer prefix never covers another's, nor the owner keys", () => {
    expect(keys.ipsecPeer("web2", "c1").startsWith(keys.packageIpsecPeers("web"))).toBe(false);
    expect(keys.ipsecPeer("web", "c1").startsWith(keys.ownersPrefix)).toBe(false);
  });

  it("refuses names that would break the layout, naming them", () => {
    expect(() => keys.ipsecPeer("a/b", "c1")).toThrow(/package name "a\/b"/);
    expect(() => keys.ipsecPeer("web", "")).toThrow(/identity must not be empty/);
  });
});

describe("PeerRecord", () => {
  it("round-trips, with and without a contact state", () => {
    expect(parsePeerRecord(formatPeerRecord(record), "k")).toEqual({ ok: true, record });
    const withContact = {
      ...record,
      contact: { state: "retrying" as const, attempts: 3, lastError: "no answer" },
    };
    expect(parsePeerRecord(formatPeerRecord(withContact), "k")).toEqual({ ok: true, record: withContact });
  });

  it("drops fields it does not know and reads a record without children", () => {
    const { children: _children, ...rest } = record;
    const parsed = parsePeerRecord(JSON.stringify({ ...rest, future: 1 }), "k");
    expect(parsed).toEqual({ ok: true, record: { ...rest, children: [] } });
  });

  it("never throws on bad values: says which key and which field", () => {
    const key = keys.ipsecPeer("web", record.id);
    const cases: [string, RegExp][] = [
      ["{", /ipsec\/peers\/web\/4fo5qq6v3cdowsnpx2p7hl5dpo: not JSON/],
      ["", /not JSON/],
      ["null", /not a JSON object/],
      ["[1]", /not a JSON object/],
      ["42", /not a JSON object/],
      [JSON.stringify({ ...record, id: "" }), /field id is ""/],
      [JSON.stringify({ ...record, port: 0 }), /field port is 0/],
      [JSON.stringify({ ...record, port: 70000 }), /field port is 70000/],
      [JSON.stringify({ ...record, port: "500" }), /field port is "500"/],
      [JSON.stringify({ ...record, natted: "no" }), /field natted/],
      [JSON.stringify({ ...record, address: undefined }), /field address is missing/],
      [JSON.stringify({ ...record, seen: -1 }), /field seen is -1/],
      [JSON.stringify({ ...record, children: [{ name: "net", localTs: "x" }] }), /field children/],
      [JSON.stringify({ ...record, contact: { state: "maybe", attempts: 1 } }), /field contact/],
      [JSON.stringify({ ...record, contact: { state: "ok", attempts: -1 } }), /field contact/],
    ];
    for (const [text, problem] of cases) {
      const parsed = parsePeerRecord(text, key);
      expect(parsed.ok, text).toBe(false);
      if (!parsed.ok) expect(parsed.problem).toMatch(problem);
    }
  });
});
