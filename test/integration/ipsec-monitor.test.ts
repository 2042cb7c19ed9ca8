import { readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import {
  ipsecWebPackage,
  type PerNodePsk,
  startStrongswanClient,
  writePerNodePsk,
} from "../../src/lab/ipsec-package.js";
import { distPath } from "../../src/util/package-paths.js";
import { NODES, VIP, daemonClusterFile, processGone } from "../support/daemon-cluster.js";
import { arpHosts, sampleArp, startClientTraffic } from "../support/cluster-observe.js";
import { testLabName } from "../support/fresh-lab.js";
import { untilWebServedBy, useDaemonLab } from "../support/daemon-lab.js";

// The IPsec monitor as a package service (seed ¶5, docs/ipsec-packages-design.md §10 and §14
// T5): web carries IPsec and runs a second service, `pavise ipsec status --package web --watch
// 1s` with restart: 0 (Serviceguard's ipsec_status.sh pattern). When IPsec on the owner breaks,
// the monitor exits 1, the service fails for good, the package fails there and moves.
//   (a) n1's TUN device is deleted under the daemon: IPSEC_DATAPATH_DOWN, web moves to n2;
//   (b) n2's PSK file disappears: IPSEC_CREDENTIALS, web moves to n3.
// The PSK is the same path on every node, but each node has its own copy (writePerNodePsk: the
// lab's nodes share one file system, `ip netns exec` binds /etc/netns/NS/… over /etc/… for each
// node), so (b) removes n2's key only, as on separate hosts. The address is never on two nodes.
const root = process.getuid?.() === 0;
const LAB = testLabName("momon");
const UDP_PORT = 7451;

describe.skipIf(!root)(
  "the IPsec monitor as a package service: IPsec breaks on the owner, the package moves",
  () => {
    let psk: PerNodePsk | undefined;
    const t = useDaemonLab(LAB, {
      watchFromStart: true,
      clusterFile: (lab) => {
        psk = writePerNodePsk(lab, NODES);
        return daemonClusterFile(lab, {
          name: LAB,
          packages: ipsecWebPackage({ echoPort: UDP_PORT, pskFile: psk.file, monitorWatch: "1s" }),
        });
      },
      cleanup: () => psk?.remove(),
    });

    /** `pavise ipsec status` run by hand on a node, against its daemon's socket. */
    async function ipsecStatus(node: string, ...args: string[]): Promise<{ code: number; out: string }> {
      const r = await t.lab.exec(
        node,
        [
          process.execPath,
          distPath("cli/main.js"),
          "ipsec",
          "status",
          "--control",
          t.cluster.controlSocket(node),
          ...args,
        ],
        { allowFailure: true },
      );
      return { code: r.code, out: r.stdout + r.stderr };
    }

    /**
     * Breaks IPsec with `fault` while c1 sends to web's echo service every 10 ms and asks who
     * answers ARP for the address round after round; waits until web runs on `to` only. Never
     * two ARP answers in one round; the client is answered again after the move.
     */
    async function moveUnderObservation(
      to: string,
      fault: () => Promise<unknown>,
    ): Promise<{ movedAfter: number; gapMs: number }> {
      const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
      const arp = sampleArp(t.lab, [VIP]);
      await sleep(300);
      const faultAt = Date.now();
      await fault();
      await untilWebServedBy(t, to, UDP_PORT);
      const movedAfter = Date.now() - faultAt;
      await sleep(700);
      const samples = (await arp.stop()).get(VIP)!;
      const report = await traffic.stop();
      for (const sample of samples) {
        expect(sample.hosts.length, `ARP answerers at ${sample.at}`).toBeLessThanOrEqual(1);
      }
      // A round takes up to 1 s (it waits for every reply): ask once more, after the move.
      expect(await arpHosts(t.lab, VIP)).toEqual([to]);
      // Answered again before the probe stopped: the longest silence ended well before its end.
      const longest = report.gaps[0];
      if (longest) expect(longest.startOffsetMs + longest.durationMs).toBeLessThan(report.durationMs - 300);
      expect(report.received).toBeGreaterThan(0);
      return { movedAfter, gapMs: Math.round(report.maxGapMs) };
    }

    function packageLog(node: string): string {
      try {
        return readFileSync(join(t.dir, `logs-${node}`, "web.log"), "utf8");
      } catch {
        return "";
      }
    }

    it("web runs on n1 with its monitor; pavise ipsec status says usable on the owner and both standbys", async () => {
      for (const node of NODES) await t.cluster.startDaemon(node);
      await untilWebServedBy(t, "n1", UDP_PORT);
      await t.cluster.untilLogged("web started on n1", "n1", "started", "package web started", 20_000);
      expect(packageLog("n1")).toContain("service ipsec-monitor: started");

      const owner = await ipsecStatus("n1", "--package", "web");
      expect(owner).toEqual({ code: 0, out: "web: IPsec usable on n1 (runs here, 0 Child SAs)\n" });
      for (const node of ["n2", "n3"]) {
        const standby = await ipsecStatus(node);
        expect(standby).toEqual({
          code: 0,
          out: `web: IPsec usable on ${node} (standby: datapath and credentials checked)\n`,
        });
      }
      // With a real client's IKE and Child SA on n1: IKE and the datapath agree, no IPSEC_STUCK.
      const charon = await startStrongswanClient(t.lab, { psk: psk!.psk });
      try {
        await charon.initiate({ child: "web" });
        expect(await ipsecStatus("n1", "--package", "web")).toEqual({
          code: 0,
          out: "web: IPsec usable on n1 (runs here, 1 Child SA)\n",
        });
      } finally {
        await charon.stop();
      }
      const json = await ipsecStatus("n1", "--package", "web", "--json");
      expect(json.code).toBe(0);
      const doc = JSON.parse(json.out) as {
        usable: boolean;
        verdicts: { runsHere: boolean; reasons: unknown[] }[];
      };
      expect(doc).toMatchObject({ usable: true, verdicts: [{ runsHere: true, reasons: [] }] });
    });

    it("(a) n1's TUN device is deleted: the monitor fails with IPSEC_DATAPATH_DOWN and web moves to n2", async () => {
      const { movedAfter, gapMs } = await moveUnderObservation("n2", () =>
        t.lab.exec("n1", ["ip", "link", "del", "pavise0"]),
      );

      // The reason, in n1's package log (the monitor's own output) and n1's daemon log.
      expect(packageLog("n1")).toMatch(/IPSEC_DATAPATH_DOWN: web on n1: TUN device pavise0 is gone — /);
      expect(packageLog("n1")).toContain("service ipsec-monitor exited with status 1");
      expect(t.cluster.logged("n1", "ipsec-unusable", "IPSEC_DATAPATH_DOWN")).toBe(true);
      // bug-tun-deleted-crashed-daemon: the TUN reader's EBADF once killed the daemon (and with
      // it the node). The package moved for its monitor, the node stayed a member.
      expect(processGone(t.cluster.daemons.get("n1")!.pid)).toBe(false);
      expect(t.cluster.daemonLog("n1")).not.toContain("the daemon is gone");
      expect(t.cluster.logged("n2", "node-failed", "n1")).toBe(false);
      // n1 is a standby now, and still not usable: the check keeps saying why.
      const n1 = await ipsecStatus("n1", "--package", "web");
      expect(n1.code).toBe(1);
      expect(n1.out).toMatch(/^IPSEC_DATAPATH_DOWN: web on n1: TUN device pavise0 is gone/);
      const status = await t.cluster.statusText("n2");
      expect(status).toMatch(/failed on:\s+n1 \(service ipsec-monitor failed for good/);
      console.log(`$ pavise status -v (after (a))\n${status}`);
      console.log(
        `IPsec monitor (a): TUN device deleted on n1 → web running on n2 (address and service) ${movedAfter} ms later (monitor --watch 1s); client's longest UDP echo gap ${gapMs} ms`,
      );
      // One watch interval, the failed service, a halt and a start: well within 15 s on a loaded machine.
      expect(movedAfter).toBeLessThan(15_000);
    });

    it("(b) n2's PSK file disappears: the monitor fails with IPSEC_CREDENTIALS and web moves to n3", async () => {
      const n2File = psk!.nodeFile("n2");
      const { movedAfter, gapMs } = await moveUnderObservation("n3", () =>
        Promise.resolve(renameSync(n2File, `${n2File}.removed`)),
      );

      expect(packageLog("n2")).toMatch(
        /IPSEC_CREDENTIALS: web on n2: packages\.web\.ipsec\.connections\.clients\.psk_file \/etc\/pavise-\w+\/clients\.psk: cannot read it: ENOENT — /,
      );
      expect(t.cluster.logged("n2", "ipsec-unusable", "IPSEC_CREDENTIALS")).toBe(true);
      // n3 reads its own copy of the same path: usable there.
      expect((await ipsecStatus("n3", "--package", "web")).code).toBe(0);
      expect((await ipsecStatus("n2", "--package", "web")).out).toMatch(/^IPSEC_CREDENTIALS: web on n2: /);

      // Never two holders of the address, and only n3 answers ARP for it now.
      expect(await arpHosts(t.lab, VIP)).toEqual(["n3"]);
      const timeline = await t.stopWatch();
      expect(overlaps(timeline, VIP)).toEqual([]);
      console.log(`$ pavise status -v (after (b))\n${await t.cluster.statusText("n3")}`);
      console.log(
        `IPsec monitor (b): PSK file removed on n2 → web running on n3 (address and service) ${movedAfter} ms later (monitor --watch 1s); client's longest UDP echo gap ${gapMs} ms`,
      );
      expect(movedAfter).toBeLessThan(15_000);
    });
  },
);

// (c) The same check as a generic resource (design §10, T5 c): `ipsec` with a monitor every 2 s
// on every node that may run web. n2's PSK copy goes first, while web runs on n1: the resource
// goes down on n2, a standby. Then n1's TUN device is deleted: web leaves n1 and goes to n3,
// skipping n2, although n2 comes first in node_name.
const RESOURCE_LAB = testLabName("momonres");
const RESOURCE_PORT = 7452;

describe.skipIf(!root)(
  "the IPsec monitor as a generic resource: a node with broken IPsec is not chosen",
  () => {
    let psk: PerNodePsk | undefined;
    const t = useDaemonLab(RESOURCE_LAB, {
      watchFromStart: true,
      clusterFile: (lab) => {
        psk = writePerNodePsk(lab, NODES);
        return daemonClusterFile(lab, {
          name: RESOURCE_LAB,
          packages: ipsecWebPackage({ echoPort: RESOURCE_PORT, pskFile: psk.file, resourceInterval: "2s" }),
        });
      },
      cleanup: () => psk?.remove(),
    });

    it("n2 loses its PSK while a standby (resource down there); n1's TUN goes: web moves to n3, never to n2", async () => {
      for (const node of NODES) await t.cluster.startDaemon(node);
      await untilWebServedBy(t, "n1", RESOURCE_PORT);

      const n2File = psk!.nodeFile("n2");
      renameSync(n2File, `${n2File}.removed`);
      await t.cluster.untilLogged(
        "the ipsec resource down on n2",
        "n2",
        "resource-down",
        "resource ipsec is down on n2",
        10_000,
      );
      const n2Down = t.cluster.daemonEvents("n2").find((e) => e.event === "resource-down")!;
      expect(n2Down.message).toContain("IPSEC_CREDENTIALS: web on n2");

      const traffic = await startClientTraffic(t.lab, VIP, RESOURCE_PORT);
      const arp = sampleArp(t.lab, [VIP]);
      await sleep(300);
      const faultAt = Date.now();
      await t.lab.exec("n1", ["ip", "link", "del", "pavise0"]);
      await untilWebServedBy(t, "n3", RESOURCE_PORT);
      const movedAfter = Date.now() - faultAt;
      await sleep(700);
      const samples = (await arp.stop()).get(VIP)!;
      const report = await traffic.stop();

      expect(t.cluster.logged("n1", "resource-down", "IPSEC_DATAPATH_DOWN: web on n1")).toBe(true);
      // n2 never started web: its broken IPsec kept it out of the choice.
      expect(t.cluster.logged("n2", "starting", "package web")).toBe(false);
      for (const sample of samples) {
        expect(sample.hosts.length, `ARP answerers at ${sample.at}`).toBeLessThanOrEqual(1);
        expect(sample.hosts).not.toContain("n2");
      }
      expect(await arpHosts(t.lab, VIP)).toEqual(["n3"]);
      const timeline = await t.stopWatch();
      expect(overlaps(timeline, VIP)).toEqual([]);
      expect(report.received).toBeGreaterThan(0);
      console.log(
        `IPsec monitor (c, generic resource every 2 s): TUN device deleted on n1 → web running on n3 (n2 skipped: its PSK gone) ${movedAfter} ms later; client's longest UDP echo gap ${Math.round(report.maxGapMs)} ms`,
      );
      // Up to one interval to notice, the halt and the start: well within 15 s on a loaded machine.
      expect(movedAfter).toBeLessThan(15_000);
    });
  },
);
