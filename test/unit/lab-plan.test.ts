import { describe, expect, it } from "vitest";
import { planLab } from "../../src/lab/plan.js";
import { defaultLabSpec } from "../../src/lab/spec.js";
import { parseArpingReplies, probeSourceAddress } from "../../src/lab/probes/arp.js";

describe("lab plan", () => {
  const plan = planLab(defaultLabSpec({ name: "t1" }));

  it("gives every host its own namespace with the lab's prefix", () => {
    expect(plan.switchNamespace).toBe("t1-switch");
    expect(plan.hosts.map((h) => h.namespace)).toEqual(["t1-n1", "t1-n2", "t1-n3", "t1-c1", "t1-c2"]);
  });

  it("a node has a primary and a standby NIC on the data LAN and one heartbeat NIC", () => {
    const n2 = plan.hosts.find((h) => h.name === "n2");
    expect(n2?.nics.map((n) => [n.name, n.subnet, n.role, n.address])).toEqual([
      ["lan0", "public", "primary", "198.18.1.12"],
      ["lan1", "public", "standby", undefined],
      ["hb0", "heartbeat", "heartbeat", "198.18.2.12"],
    ]);
  });

  it("clients sit on the public LAN only", () => {
    const c1 = plan.hosts.find((h) => h.name === "c1");
    expect(c1?.nics.map((n) => [n.name, n.subnet, n.address])).toEqual([["eth0", "public", "198.18.1.101"]]);
  });

  it("switch ports and MACs are unique and fit Linux names", () => {
    const nics = plan.hosts.flatMap((h) => h.nics);
    expect(new Set(nics.map((n) => n.switchPort)).size).toBe(nics.length);
    expect(new Set(nics.map((n) => n.mac)).size).toBe(nics.length);
    for (const nic of nics) expect(nic.switchPort.length).toBeLessThanOrEqual(15);
    for (const nic of nics) expect(nic.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
  });

  it("etcd members listen on the heartbeat LAN", () => {
    expect(plan.etcd.members.map((m) => [m.name, m.clientUrl, m.peerUrl])).toEqual([
      ["n1", "http://198.18.2.11:2379", "http://198.18.2.11:2380"],
      ["n2", "http://198.18.2.12:2379", "http://198.18.2.12:2380"],
      ["n3", "http://198.18.2.13:2379", "http://198.18.2.13:2380"],
    ]);
    const separate = planLab(defaultLabSpec({ name: "t1", etcdPlacement: "separate" }));
    expect(separate.etcd.members.map((m) => [m.host, m.clientUrl])).toEqual([
      ["q1", "http://198.18.2.14:2379"],
      ["q2", "http://198.18.2.15:2379"],
      ["q3", "http://198.18.2.16:2379"],
    ]);
    const tls = planLab(defaultLabSpec({ name: "t1", etcdTls: true }));
    expect(tls.etcd.members[0]?.clientUrl).toBe("https://198.18.2.11:2379");
    expect(tls.etcd.auth).toBeUndefined();
    // Authentication covers the prefix of a cluster named after the lab, a user per node.
    const auth = planLab(defaultLabSpec({ name: "t1", etcdTls: true, etcdAuth: true }));
    expect(auth.etcd.auth).toEqual({ prefix: "/pavise/t1/", nodeUsers: ["n1", "n2", "n3"] });
  });

  it("the largest lab's switch port names still fit", () => {
    const nodes = Array.from({ length: 16 }, (_, i) => `node${i}`);
    const big = planLab({
      ...defaultLabSpec({ name: "abcdefghijkl" }),
      nodes,
      etcd: { ...defaultLabSpec().etcd, members: [] },
    });
    expect(big.hosts.find((h) => h.name === "node15")?.nics[0]?.address).toBe("198.18.1.26");
  });
});

describe("ARP probe helpers", () => {
  it("sends from the last usable address of the subnet", () => {
    expect(probeSourceAddress("198.18.1.0/24")).toBe("198.18.1.254");
    expect(probeSourceAddress("198.18.0.0/16")).toBe("198.18.255.254");
  });

  it("parses every reply of arping (captured on this machine), once per MAC", () => {
    const output = [
      "ARPING 198.18.1.50 from 198.18.1.254 br-public",
      "Unicast reply from 198.18.1.50 [02:50:0A:03:00:01]  0.595ms",
      "Unicast reply from 198.18.1.50 [02:50:0A:02:00:01]  0.619ms",
      "Unicast reply from 198.18.1.50 [02:50:0A:03:00:01]  0.701ms",
      "Unicast reply from 198.18.1.51 [02:50:0A:01:00:01]  0.701ms",
      "Sent 2 probes (1 broadcast(s))",
      "Received 2 response(s)",
    ].join("\n");
    expect(parseArpingReplies(output, "198.18.1.50")).toEqual(["02:50:0a:03:00:01", "02:50:0a:02:00:01"]);
    expect(parseArpingReplies("garbage\n", "198.18.1.50")).toEqual([]);
  });
});
