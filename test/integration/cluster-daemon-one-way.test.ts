import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { CutDirection } from "../../src/lab/faults.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { VIP, etcdLeaderAwayFrom, nodesServing, NODES } from "../support/daemon-cluster.js";
import { sampleArp, linkedHolders, arpHosts, startClientTraffic } from "../support/cluster-observe.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab, untilWebServedBy } from "../support/daemon-lab.js";

// Fault test of #5, "one-way loss", with `pavise daemon` on the lab's three nodes: web's owner
// stops receiving (cut "in") or stops sending (cut "out") on the heartbeat LAN, which carries
// all of etcd's traffic (client and Raft). Either way its lease renewals go unanswered: "in"
// loses the answers (and its etcd member hears no leader; with Raft pre-vote it campaigns without
// raising its term, so the heal does not unseat the leader — without it, the heal fenced every
// node: the bug pinned below), "out" loses the requests (its member still hears the leader but
// cannot answer or forward to it). So the owner fences (fence_after 600 ms) and drops web's
// address before its lease (member_timeout 1 s) lapses and another node adds it: exactly one
// owner throughout, by the address timeline and by ARP from the public LAN, which stays whole.
// Healed, the owner rejoins and leaves web where it is (failback_policy manual, the default).
// Needs root and a build.
const root = process.getuid?.() === 0;
const LAB = testLabName("fanet");
const UDP_PORT = 7411;

describe.skipIf(!root)("pavise daemon, one-way loss on the owner's heartbeat LAN", () => {
  const t = useDaemonLab(LAB, {
    echoPort: UDP_PORT,
    start: NODES,
    ready: (t) => untilWebServedBy(t, "n1", UDP_PORT),
    haltFirst: true,
    cleanup: (t) => t.lab.faults.healAll().catch(() => undefined),
  });

  const joins = (node: string): number =>
    t.cluster.daemonEvents(node).filter((e) => e.event === "joined").length;

  const holdersWithLink = (): Promise<string[]> => linkedHolders(t.lab, VIP);

  /** Nodes running web's echo service. */
  const servingNodes = (): Promise<string[]> => nodesServing(t.lab, UDP_PORT);

  /** Cuts the owner's heartbeat LAN one way; checks the takeover, heals, checks the rejoin. */
  async function oneWayLoss(owner: string, direction: CutDirection): Promise<void> {
    expect(await holdersWithLink()).toEqual([owner]);
    // An etcd election on top would fence every node (member-session.ts): measure Pavise alone.
    const etcdLeader = await etcdLeaderAwayFrom(t.lab, owner);
    const joinsBefore = joins(owner);
    await t.startWatch();
    const arp = sampleArp(t.lab, [VIP]);
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(700);

    const cutAt = Date.now();
    const cut = await t.lab.faults.cutFromLan(owner, { subnet: "heartbeat", direction });
    const [taker] = await until(
      "web's address on another node only",
      holdersWithLink,
      (h) => h.length === 1 && h[0] !== owner,
      20_000,
    );
    const seenAfter = Date.now() - cutAt;
    await until("web's service on the new owner only", servingNodes, (s) => s.length === 1 && s[0] === taker);
    const servedAfter = Date.now() - cutAt;
    await sleep(1000);
    const report = await traffic.stop();
    const samples = (await arp.stop()).get(VIP)!;
    const timeline = await t.stopWatch();

    expect(t.cluster.logged(owner, "fenced")).toBe(true);
    expect(overlaps(timeline, VIP)).toEqual([]);
    const dropped = timeline.events.find(
      (e) => e.host === owner && e.address === VIP && e.change === "del" && e.at >= cutAt - 50,
    );
    const added = timeline.events.find((e) => e.host === taker && e.address === VIP && e.change === "add");
    expect(dropped).toBeDefined();
    expect(added).toBeDefined();
    expect(dropped!.at).toBeLessThan(added!.at);
    // Within member_timeout (1 s) of the cut: a coarse bound; dropped-before-added is the order
    // that matters, checked above.
    expect(dropped!.at - cutAt).toBeLessThan(1000);
    expect(samples.length).toBeGreaterThan(1);
    for (const s of samples) expect(s.hosts.length, `ARP answerers at ${s.at}`).toBeLessThanOrEqual(1);
    expect(await arpHosts(t.lab, VIP)).toEqual([taker]);
    expect(report.received).toBeGreaterThan(0);
    console.log(
      `pavise daemon, ${owner} cut ${direction} on the heartbeat LAN (etcd leader ${etcdLeader}): ` +
        `${owner} dropped ${VIP} ${Math.round(dropped!.at - cutAt)} ms after the cut, ${taker} added it ` +
        `${Math.round(added!.at - cutAt)} ms after (seen ${seenAfter} ms, service up ${servedAfter} ms); ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered; ` +
        `ARP samples ${samples.map((s) => s.hosts.join("+") || "-").join(" ")}`,
    );

    // Healed: the owner rejoins and takes nothing back (failback manual).
    const fences = (): number[] =>
      NODES.map((n) => t.cluster.daemonEvents(n).filter((e) => e.event === "fenced").length);
    const fencesBefore = fences();
    await t.startWatch();
    const healedAt = Date.now();
    await t.lab.faults.heal(cut);
    await until(
      `${owner} to join again`,
      () => Promise.resolve(joins(owner)),
      (n) => n > joinsBefore,
      20_000,
    );
    const rejoinedAfter = Date.now() - healedAt;
    await sleep(2000);
    const after = await t.stopWatch();
    // Bug pinned here ("healing a one-way cut fenced every node"): without Raft pre-vote the cut
    // member's raised term made etcd's leader step down at the heal, and the election fenced all.
    expect(fences(), "fences per node after the heal").toEqual(fencesBefore);
    expect(after.events.filter((e) => e.address === VIP)).toEqual([]);
    expect(await holdersWithLink()).toEqual([taker]);
    expect(await servingNodes()).toEqual([taker]);
    expect(await arpHosts(t.lab, VIP)).toEqual([taker]);
    console.log(
      `pavise daemon, ${owner} healed (${direction}): rejoined ${rejoinedAfter} ms after; web stays on ${taker}`,
    );
  }

  it("n1 stops receiving on the heartbeat LAN: it fences, one other node takes web, n1 rejoins without it", async () => {
    await oneWayLoss("n1", "in");
  });

  it("n1 stops sending on the heartbeat LAN: it fences, one other node takes web, n1 rejoins without it", async () => {
    // web back on n1: its holder leaves (SIGTERM, a planned move to n1, first in node_name)
    // and its daemon starts again.
    const [holder] = await holdersWithLink();
    expect(holder).toBeDefined();
    expect(holder).not.toBe("n1");
    await t.lab.runtime.stop(t.cluster.daemons.get(holder!)!, "SIGTERM");
    t.cluster.daemons.delete(holder!);
    await until("web's address on n1 only", holdersWithLink, (h) => h.length === 1 && h[0] === "n1", 20_000);
    await until("web's service on n1 only", servingNodes, (s) => s.length === 1 && s[0] === "n1", 15_000);
    await t.cluster.untilLogged("the old holder's daemon to leave", holder!, "left", "", 20_000);
    await t.cluster.startDaemon(holder!);
    await oneWayLoss("n1", "out");
  });
});
