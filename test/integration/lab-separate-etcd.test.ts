import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdHealth, moveEtcdLeader } from "../../src/lab/etcd.js";
import type { Lab } from "../../src/lab/lab.js";
import { defaultLabSpec } from "../../src/lab/spec.js";
import { freshLab } from "../support/fresh-lab.js";

// labs/separate-etcd.yaml's topology, as bench:failover builds it: etcd on q1–q3, package nodes
// n1–n3 without a member, and etcd's leader moved where a test wants it (etcdctl move-leader).

const root = process.getuid?.() === 0;

describe.skipIf(!root)("a lab with etcd on hosts of its own", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await freshLab(defaultLabSpec({ name: "bnsep", etcdPlacement: "separate" }));
  });

  afterAll(async () => {
    await lab?.down();
  });

  it("runs its members on q1–q3 only, reachable from a package node", async () => {
    expect(
      lab
        .processes()
        .filter((p) => p.role.startsWith("etcd-"))
        .map((p) => [p.role, p.host]),
    ).toEqual([
      ["etcd-q1", "q1"],
      ["etcd-q2", "q2"],
      ["etcd-q3", "q3"],
    ]);
    const health = await etcdHealth(lab.runtime, lab.plan.etcd, "n1");
    expect(health.map((m) => [m.host, m.healthy])).toEqual([
      ["q1", true],
      ["q2", true],
      ["q3", true],
    ]);
    expect(health.filter((m) => m.leader)).toHaveLength(1);
  });

  it("moves etcd's leader to the member asked for, and refuses a host without one", async () => {
    let leader = (await etcdHealth(lab.runtime, lab.plan.etcd, "n2")).find((m) => m.leader)?.host;
    for (const to of ["q1", "q2", "q3"].filter((h) => h !== leader)) {
      const startedAt = Date.now();
      expect(await moveEtcdLeader(lab.runtime, lab.plan.etcd, to, "n2")).toBe(to);
      console.log(`etcd leader moved ${leader ?? "?"} -> ${to} in ${Date.now() - startedAt} ms`);
      leader = to;
    }
    await expect(moveEtcdLeader(lab.runtime, lab.plan.etcd, "n1", "n2")).rejects.toMatchObject({
      code: "LAB_NO_ETCD_MEMBER",
    });
  });
});
