import { describe, expect, it } from "vitest";
import { CLIENT_RECORDED, IPSEC_LISTENS } from "../../src/bench/failover-ipsec-clients.js";
import { paviseClientConfig } from "../../src/lab/ipsec-package.js";
import { parseIpsecConfig } from "../../src/ike/config/ipsec-config.js";
import { renderPskTunnel } from "../../src/lab/strongswan/swanctl-config.js";

describe("bench:failover IPsec clients", () => {
  it("gives pavise ipsec serve on c1 a client config it reads: DPD 1 s, restart, fast retransmits (design §9)", () => {
    const config = parseIpsecConfig(paviseClientConfig({ psk: "k3y+/base64==" }));
    expect(config.connections).toHaveLength(1);
    expect(config.connections[0]).toMatchObject({
      name: "web",
      dpdDelayMs: 1000,
      retransmit: { timeoutMs: 500, base: 1.5, tries: 2 },
      keyingtries: 0,
      children: [{ name: "web", dpdAction: "restart", startAction: "start" }],
    });
    expect(Buffer.from(config.sharedKeys[0]!.secret).toString("utf8")).toBe("k3y+/base64==");
  });

  it("writes keyingtries for the strongswan-dpd client, and nothing when not asked", () => {
    const base = { name: "web", localAddress: "198.18.1.101", remoteAddress: "198.18.1.50", psk: "k" };
    expect(renderPskTunnel({ ...base, keyingtries: 0 })).toContain("    keyingtries = 0\n");
    expect(renderPskTunnel(base)).not.toContain("keyingtries");
  });

  it("recognises the daemon's lines it waits for", () => {
    expect(
      IPSEC_LISTENS.test(
        "2026-11-27T15:09:55.000Z n1 ipsec: IPsec of web listens on 198.18.1.50 (IKE 500, 4500)",
      ),
    ).toBe(true);
    const recorded =
      "2026-11-27T15:09:55.300Z n1 ipsec-peer-recorded: package web: peer 198.18.1.101 (198.18.1.101) recorded";
    expect(CLIENT_RECORDED.test(recorded)).toBe(true);
    expect(CLIENT_RECORDED.test(recorded.replaceAll("198.18.1.101", "198.18.1.1011"))).toBe(false);
  });
});
