import { describe, expect, it } from "vitest";
import { parseIpsecConfig } from "../../src/ike/config/ipsec-config.js";
import { parseIdentity } from "../../src/ike/config/identity.js";
import {
  parseTrafficSelector,
  addressBytes,
  formatAddress,
} from "../../src/ike/config/traffic-selector-spec.js";
import { parseDuration, parseSize } from "../../src/config/durations.js";
import { PaviseError } from "../../src/util/errors.js";

const EXAMPLE = `
connections:
  to-c1:
    local_addrs: [198.18.1.11]
    remote_addrs: [198.18.1.101]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: 198.18.1.11 }
    remote: { auth: psk, id: 198.18.1.101 }
    dpd_delay: 2s
    rekey_time: 1h
    children:
      net:
        local_ts: [198.18.1.11/32]
        remote_ts: ["198.18.1.101/32[tcp/5201]"]
        esp_proposals: aes128gcm16
        rekey_bytes: 1G
secrets:
  ike:
    - id: [198.18.1.11, 198.18.1.101]
      secret: "0x7061766973652d74657374"
`;

describe("IPsec configuration", () => {
  it("reads a swanctl-like connection with defaults filled in", () => {
    const config = parseIpsecConfig(EXAMPLE, "ipsec.yaml");
    const [c] = config.connections;
    expect(c).toMatchObject({
      name: "to-c1",
      localAddrs: ["198.18.1.11"],
      remoteAddrs: ["198.18.1.101"],
      local: { auth: "psk", id: { kind: "ipv4", value: "198.18.1.11" } },
      remote: { auth: "psk", id: { kind: "ipv4", value: "198.18.1.101" } },
      sendInitialContact: true,
      encap: true,
      dpdDelayMs: 2000,
      rekeyTimeMs: 3_600_000,
      overTimeMs: 360_000,
      retransmit: { timeoutMs: 4000, base: 1.8, tries: 5 },
    });
    expect(c?.children[0]).toMatchObject({
      name: "net",
      mode: "tunnel",
      espProposals: ["aes128gcm16"],
      rekeyBytes: 1024 ** 3,
      lifeTimeMs: 3_960_000,
      remoteTs: [
        {
          address: { kind: "range", family: 4, start: "198.18.1.101", end: "198.18.1.101" },
          protocol: 6,
          portStart: 5201,
          portEnd: 5201,
        },
      ],
    });
    expect(Buffer.from(config.sharedKeys[0]?.secret ?? []).toString()).toBe("pavise-test");
  });

  it("reports every problem with its key, and hides secrets", () => {
    try {
      parseIpsecConfig(
        `
connections:
  bad:
    local_addrs: [not-an-ip]
    remote_addrs: [198.18.1.0/33]
    local: { auth: cert, id: "" }
    dpd_delay: soon
    colour: red
    children:
      c: { local_ts: ["198.18.1.0/24[bogus]"], mode: beet, replay_window: 99999 }
secrets:
  ike: [{ id: x, secret: "" }]
`,
        "bad.yaml",
      );
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PaviseError);
      const problems = (err as PaviseError).problems;
      expect(problems.map((p) => p.key)).toEqual(
        expect.arrayContaining([
          "connections.bad.local_addrs[0]",
          "connections.bad.remote_addrs[0]",
          "connections.bad.local.auth",
          "connections.bad.local.id",
          "connections.bad.dpd_delay",
          "connections.bad.colour",
          "connections.bad.children.c.local_ts[0]",
          "connections.bad.children.c.mode",
          "connections.bad.children.c.replay_window",
          "secrets.ike[0].secret",
        ]),
      );
      expect(problems.find((p) => p.key === "secrets.ike[0].secret")?.value).toBe("(hidden)");
      for (const p of problems) expect(p.file).toBe("bad.yaml");
    }
  });
});

describe("identities as strongSwan reads them", () => {
  it.each([
    ["198.18.1.11", { kind: "ipv4", value: "198.18.1.11" }],
    ["2001:db8::1", { kind: "ipv6", value: "2001:db8::1" }],
    ["gw.example.org", { kind: "fqdn", value: "gw.example.org" }],
    ["@gw", { kind: "fqdn", value: "gw" }],
    ["@#0aFF", { kind: "keyid", value: "0aff" }],
    ["alice@example.org", { kind: "rfc822", value: "alice@example.org" }],
    ["C=CH, O=Pavise, CN=gw", { kind: "dn", value: "C=CH, O=Pavise, CN=gw" }],
    ["fqdn:198.18.1.1", { kind: "fqdn", value: "198.18.1.1" }],
    ["%any", { kind: "any" }],
  ])("%s", (text, expected) => {
    expect(parseIdentity(text)).toEqual(expected);
  });

  it("refuses what cannot be an identity", () => {
    expect(parseIdentity("ipv4:gw")).toHaveProperty("error");
    expect(parseIdentity("@#xyz")).toHaveProperty("error");
    expect(parseIdentity("  ")).toHaveProperty("error");
  });
});

describe("traffic selectors", () => {
  it("turns prefixes, ranges and port suffixes into ranges", () => {
    expect(parseTrafficSelector("198.18.1.0/24")).toEqual({
      address: { kind: "range", family: 4, start: "198.18.1.0", end: "198.18.1.255" },
      protocol: 0,
      portStart: 0,
      portEnd: 65535,
    });
    expect(parseTrafficSelector("0.0.0.0/0[udp/500-4500]")).toMatchObject({
      address: { start: "0.0.0.0", end: "255.255.255.255" },
      protocol: 17,
      portStart: 500,
      portEnd: 4500,
    });
    expect(parseTrafficSelector("2001:db8::/64")).toMatchObject({
      address: { family: 6, start: "2001:db8::", end: "2001:db8::ffff:ffff:ffff:ffff" },
    });
    expect(parseTrafficSelector("dynamic[tcp]")).toMatchObject({ address: { kind: "dynamic" }, protocol: 6 });
    expect(parseTrafficSelector("198.18.1.9-198.18.1.1")).toHaveProperty("error");
    expect(parseTrafficSelector("198.18.1.0/24[tcp/70000]")).toHaveProperty("error");
  });

  it("formats IPv6 canonically (RFC 5952) and round-trips bytes", () => {
    expect(formatAddress(addressBytes("2001:0db8:0:0:0:0:0:1"))).toBe("2001:db8::1");
    expect(formatAddress(addressBytes("::ffff:198.18.1.1"))).toBe("::ffff:c612:101");
    expect(formatAddress(addressBytes("::"))).toBe("::");
  });
});

describe("durations and sizes", () => {
  it("reads what operators write", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("4h")).toBe(14_400_000);
    expect(parseDuration(10)).toBe(10_000);
    expect(parseDuration("soon")).toBeUndefined();
    expect(parseSize("64k")).toBe(65536);
    expect(parseSize("2G")).toBe(2 * 1024 ** 3);
    expect(parseSize("-1")).toBeUndefined();
  });
});

describe("IPsec configuration regressions", () => {
  it("bug: an unquoted 0x… secret was read by YAML as a number and rejected without saying why", () => {
    try {
      parseIpsecConfig("connections: {}\nsecrets:\n  ike: [{ id: a, secret: 0x6b6579 }]\n", "s.yaml");
      expect.unreachable();
    } catch (err) {
      const [problem] = (err as PaviseError).problems;
      expect(problem).toMatchObject({ key: "secrets.ike[0].secret", value: "(hidden)" });
      expect(problem?.hint).toContain("quote it");
    }
  });
});
