import { describe, expect, it } from "vitest";
import type { IkeSaStatus } from "../../src/ipsec/sa-status.js";
import { bytes, duration, saRows } from "../../src/console/model/ipsec-model.js";

// Typed as the daemon's own IkeSaStatus (what `pavise ipsec sas --json` and the API send), so a
// change there that the console's restated IkeSaView does not accept fails to compile here.
const sa: IkeSaStatus = {
  connection: "web-clients",
  state: "established",
  initiator: false,
  spiI: "1a2b3c4d5e6f7081",
  spiR: "8172635445362718",
  local: "198.18.1.50[500]",
  remote: "198.18.1.101[500]",
  localId: "web.pavise.test",
  remoteId: "client1.pavise.test",
  algorithms: "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519",
  ageSeconds: 3725,
  children: [
    {
      name: "web-clients",
      spiIn: "c1a2b3c4",
      spiOut: "d4c3b2a1",
      mode: "tunnel",
      encap: false,
      algorithms: "AES_GCM_16_256",
      localTs: ["198.18.1.50/32"],
      remoteTs: ["198.18.1.101/32"],
      counters: {
        bytesIn: 1536,
        packetsIn: 12,
        bytesOut: 5 * 1024 * 1024,
        packetsOut: 4000,
        replayDrops: 2,
        integrityFailures: 1,
        policyDrops: 0,
        expiredDrops: 0,
      },
    },
    {
      name: "web-clients-2",
      spiIn: "c1a2b3c5",
      spiOut: "d4c3b2a2",
      mode: "tunnel",
      encap: true,
      algorithms: "AES_GCM_16_256",
      localTs: ["198.18.1.50/32"],
      remoteTs: ["198.18.1.101/32"],
      counters: undefined,
    },
  ],
};

describe("console IPsec model", () => {
  it("shows one row per Child SA with its peer, SPIs, traffic and drops", () => {
    expect(saRows([sa])).toEqual([
      {
        peer: "client1.pavise.test at 198.18.1.101[500]",
        ike: "web-clients: established, peer initiated",
        child: "web-clients (tunnel)",
        spis: "c1a2b3c4/d4c3b2a1",
        selectors: "198.18.1.50/32 ⇄ 198.18.1.101/32",
        traffic: "1.5 KiB (12 pkts) / 5.0 MiB (4000 pkts)",
        drops: "3 (replay 2, integrity 1)",
        age: "1 h 2 min",
      },
      expect.objectContaining({
        child: "web-clients-2 (tunnel)",
        traffic: "not known to the datapath",
        drops: "",
      }),
    ]);
  });

  it("says when the datapath counts no drops (a kernel), and none when all are zero", () => {
    const kernel = { bytesIn: 0, packetsIn: 0, bytesOut: 0, packetsOut: 0 };
    const zero = { ...kernel, replayDrops: 0, integrityFailures: 0 };
    const child = sa.children[0]!;
    const rows = saRows([
      {
        ...sa,
        children: [
          { ...child, counters: kernel },
          { ...child, counters: zero },
        ],
      },
    ]);
    expect(rows.map((r) => r.drops)).toEqual(["not counted", "none"]);
  });

  it("shows an IKE SA without Child SAs as one row", () => {
    expect(saRows([{ ...sa, children: [] }])).toEqual([
      expect.objectContaining({ child: "none", age: "1 h 2 min" }),
    ]);
  });

  it("writes sizes and ages for people", () => {
    expect([bytes(0), bytes(1023), bytes(1024), bytes(150 * 1024), bytes(3 * 1024 ** 3)]).toEqual([
      "0 B",
      "1023 B",
      "1.0 KiB",
      "150 KiB",
      "3.0 GiB",
    ]);
    expect([duration(-1), duration(59), duration(61), duration(7200)]).toEqual([
      "0 s",
      "59 s",
      "1 min 1 s",
      "2 h 0 min",
    ]);
  });
});
