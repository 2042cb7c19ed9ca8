import { describe, expect, it } from "vitest";
import {
  CERT_EXPIRY_WARNING_MS,
  describeReason,
  judgeIpsecHealth,
  stalledVerdict,
  type IpsecHealthSnapshot,
} from "../../src/ipsec/status/ipsec-health.js";

// pavise ipsec status (docs/ipsec-packages-design.md §10): a health snapshot → a verdict with
// stable reason codes. Each reason from one fault in an otherwise healthy snapshot.

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

/** web running on n1: TUN up, rules there, PSK fine, listening, one Child SA on both sides. */
function healthy(): IpsecHealthSnapshot {
  return {
    package: "web",
    node: "n1",
    at: NOW,
    hostOpen: true,
    datapath: {
      kind: "esp",
      tunName: "pavise0",
      device: { up: true, operstate: "unknown" },
      missingRules: [],
    },
    credentials: [
      { key: "packages.web.ipsec.connections.clients.psk_file", file: "/etc/pavise/web.psk" },
      {
        key: "packages.web.ipsec.credentials.certs",
        file: "/etc/pavise/web.crt",
        certificate: { subject: "CN=web.pavise.test", notAfter: NOW + 30 * 24 * 3600_000 },
      },
    ],
    runsHere: true,
    addresses: [{ address: "198.18.1.50", onNode: true, listening: true }],
    ikeChildSas: [{ name: "net", spiIn: 0xc1000001, spiOut: 0xd1000001, remoteAddress: "198.18.1.101" }],
    datapathChildSas: [{ name: "net", spiIn: 0xc1000001, spiOut: 0xd1000001, remoteAddress: "198.18.1.101" }],
    gaveUp: [],
  };
}

/** A standby: the package does not run here, so nothing of the owner's is known. */
function standby(): IpsecHealthSnapshot {
  return { ...healthy(), node: "n2", runsHere: false, addresses: [], ikeChildSas: [], datapathChildSas: [] };
}

function codes(snapshot: IpsecHealthSnapshot): string[] {
  return judgeIpsecHealth(snapshot, NOW).reasons.map((r) => r.code);
}

describe("ipsec-health: usable", () => {
  it("a healthy owner and a healthy standby are usable, without reasons", () => {
    for (const s of [healthy(), standby()]) {
      const v = judgeIpsecHealth(s, NOW);
      expect(v).toMatchObject({ usable: true, reasons: [], notes: [] });
    }
    expect(judgeIpsecHealth(healthy(), NOW).childSas).toBe(1);
    expect(judgeIpsecHealth(standby(), NOW).childSas).toBeUndefined();
  });

  it("a record datapath (no TUN addon) has no device to check", () => {
    const s = { ...healthy(), datapath: { kind: "record" as const, tunName: "", missingRules: [] } };
    expect(codes(s)).toEqual([]);
  });

  it("peers the contact gave up on are notes, not reasons: the package stays usable", () => {
    const s = {
      ...healthy(),
      gaveUp: [{ peer: "c2.pavise.test", address: "198.18.1.102", error: "no answer" }],
    };
    const v = judgeIpsecHealth(s, NOW);
    expect(v.usable).toBe(true);
    expect(v.notes).toHaveLength(1);
    expect(v.notes[0]).toContain("c2.pavise.test (198.18.1.102)");
  });
});

describe("ipsec-health: IPSEC_DATAPATH_DOWN", () => {
  it("the TUN device is gone", () => {
    const s = healthy();
    s.datapath = { ...s.datapath!, device: undefined };
    delete s.datapath.device;
    const v = judgeIpsecHealth(s, NOW);
    expect(v.usable).toBe(false);
    expect(v.reasons.map((r) => r.code)).toEqual(["IPSEC_DATAPATH_DOWN"]);
    expect(describeReason(v.reasons[0]!)).toMatch(
      /^IPSEC_DATAPATH_DOWN: web on n1: TUN device pavise0 is gone — restart the daemon on n1/,
    );
  });

  it("the TUN device is down (admin down, or operstate down)", () => {
    const s = healthy();
    s.datapath!.device = { up: false, operstate: "down" };
    expect(codes(s)).toEqual(["IPSEC_DATAPATH_DOWN"]);
    s.datapath!.device = { up: true, operstate: "down" };
    expect(codes(s)).toEqual(["IPSEC_DATAPATH_DOWN"]);
  });

  it("the TUN reader stopped (bug-tun-deleted-crashed-daemon: EBADF once killed the daemon)", () => {
    const s = healthy();
    s.datapath!.readerError = "reading TUN pavise0 failed: read from TUN: Bad file descriptor";
    const v = judgeIpsecHealth(s, NOW);
    expect(v.reasons.map((r) => r.code)).toEqual(["IPSEC_DATAPATH_DOWN"]);
    expect(v.reasons[0]!.message).toContain("no longer reads pavise0 (reading TUN pavise0 failed");
  });

  it("a policy rule is missing, also on a standby", () => {
    const s = standby();
    s.datapath!.missingRules = ["priority 4501 lookup 4500"];
    const v = judgeIpsecHealth(s, NOW);
    expect(v.reasons.map((r) => r.code)).toEqual(["IPSEC_DATAPATH_DOWN"]);
    expect(v.reasons[0]!.message).toContain("priority 4501 lookup 4500");
  });

  it("the host never opened", () => {
    const s: IpsecHealthSnapshot = { ...standby(), hostOpen: false, hostProblem: "no TUN addon" };
    delete s.datapath;
    const v = judgeIpsecHealth(s, NOW);
    expect(v.reasons.map((r) => r.code)).toEqual(["IPSEC_DATAPATH_DOWN"]);
    expect(v.reasons[0]!.message).toContain("no TUN addon");
  });
});

describe("ipsec-health: IPSEC_CREDENTIALS", () => {
  it("an unreadable file, with its key and path", () => {
    const s = standby();
    s.credentials[0] = { ...s.credentials[0]!, problem: "cannot read it: ENOENT" };
    const v = judgeIpsecHealth(s, NOW);
    expect(v.reasons.map((r) => r.code)).toEqual(["IPSEC_CREDENTIALS"]);
    expect(v.reasons[0]!.message).toContain(
      "packages.web.ipsec.connections.clients.psk_file /etc/pavise/web.psk",
    );
    expect(v.reasons[0]!.fix).toContain("/etc/pavise/web.psk");
  });

  it("a key that does not belong to the certificate (the check's problem text)", () => {
    const s = healthy();
    s.credentials.push({
      key: "packages.web.ipsec.credentials",
      file: "/etc/pavise/web.key",
      problem: "none of the certificates in /etc/pavise/web.crt holds the public key of /etc/pavise/web.key",
    });
    expect(codes(s)).toEqual(["IPSEC_CREDENTIALS"]);
  });

  it("a certificate expired, or expiring within the hour; one just past the hour is fine", () => {
    const withExpiry = (notAfter: number): IpsecHealthSnapshot => {
      const s = healthy();
      s.credentials[1] = { ...s.credentials[1]!, certificate: { subject: "CN=web", notAfter } };
      return s;
    };
    expect(codes(withExpiry(NOW - 1))).toEqual(["IPSEC_CREDENTIALS"]);
    expect(judgeIpsecHealth(withExpiry(NOW - 1), NOW).reasons[0]!.message).toContain("expired");
    expect(codes(withExpiry(NOW + CERT_EXPIRY_WARNING_MS - 1000))).toEqual(["IPSEC_CREDENTIALS"]);
    expect(judgeIpsecHealth(withExpiry(NOW + 60_000), NOW).reasons[0]!.message).toContain("within 60 min");
    expect(codes(withExpiry(NOW + CERT_EXPIRY_WARNING_MS + 1000))).toEqual([]);
  });
});

describe("ipsec-health: IPSEC_NOT_LISTENING (owner only)", () => {
  it("an address without IKE sockets", () => {
    const s = healthy();
    s.addresses[0] = { ...s.addresses[0]!, listening: false };
    expect(codes(s)).toEqual(["IPSEC_NOT_LISTENING"]);
  });

  it("an address that is not on the node", () => {
    const s = healthy();
    s.addresses[0] = { ...s.addresses[0]!, onNode: false };
    const v = judgeIpsecHealth(s, NOW);
    expect(v.reasons.map((r) => r.code)).toEqual(["IPSEC_NOT_LISTENING"]);
    expect(v.reasons[0]!.message).toContain("198.18.1.50 is not on this node");
  });

  it("a standby is not asked to listen", () => {
    const s = standby();
    s.addresses = [{ address: "198.18.1.50", onNode: false, listening: false }];
    expect(codes(s)).toEqual([]);
  });
});

describe("ipsec-health: IPSEC_STUCK (owner only)", () => {
  it("a Child SA IKE has and the datapath lacks", () => {
    const s = healthy();
    s.datapathChildSas = [];
    const v = judgeIpsecHealth(s, NOW);
    expect(v.reasons.map((r) => r.code)).toEqual(["IPSEC_STUCK"]);
    expect(v.reasons[0]!.message).toContain("SPI in c1000001, out d1000001");
    expect(v.reasons[0]!.message).toContain("up in IKE but not in the datapath");
  });

  it("a Child SA in the datapath that IKE no longer has", () => {
    const s = healthy();
    s.ikeChildSas = [];
    const v = judgeIpsecHealth(s, NOW);
    expect(v.reasons.map((r) => r.code)).toEqual(["IPSEC_STUCK"]);
    expect(v.reasons[0]!.message).toContain("IKE no longer has it");
  });
});

describe("ipsec-health: IPSEC_HOST_STALLED and several reasons at once", () => {
  it("no answer within the time: one reason with the time waited", () => {
    const v = stalledVerdict("web", "this node", 1000);
    expect(v.usable).toBe(false);
    expect(describeReason(v.reasons[0]!)).toMatch(
      /^IPSEC_HOST_STALLED: web: the daemon did not answer the health check within 1000 ms .* — /,
    );
  });

  it("every fault is its own line, in a stable order", () => {
    const s = healthy();
    delete s.datapath!.device;
    s.credentials[0] = { ...s.credentials[0]!, problem: "cannot read it: EACCES" };
    s.addresses[0] = { ...s.addresses[0]!, listening: false };
    s.datapathChildSas = [];
    expect(codes(s)).toEqual([
      "IPSEC_DATAPATH_DOWN",
      "IPSEC_CREDENTIALS",
      "IPSEC_NOT_LISTENING",
      "IPSEC_STUCK",
    ]);
  });
});
