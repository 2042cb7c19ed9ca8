import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { etcdctlArgs } from "../../src/lab/etcd.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { CLIENT_ADDRESS, PACKAGE_IKE_ID, startStrongswanClient } from "../../src/lab/ipsec-package.js";
import type { Charon } from "../../src/lab/strongswan/charon.js";
import type { IkeSaStatus } from "../../src/ipsec/sa-status.js";
import { VIP, liveOverlaps } from "../support/daemon-cluster.js";
import { distPath } from "../../src/util/package-paths.js";
import { arpHosts, ipsecPeerRecords, linkedHolders, startClientTraffic } from "../support/cluster-observe.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useIpsecPackageLab, webSas } from "../support/ipsec-package-lab.js";

// The source page's story (../shared/seed/, issue #6), paragraph by paragraph, with a standard
// client: package web carries IPsec (identity web.pavise.test) on its relocatable address; a
// strongSwan client (c1, no DPD: strongSwan's default) sets up a tunnel to the package address
// and sends UDP requests through it every 10 ms. The owner node crashes; the adoptive node finds
// the client in the peer registry, initiates to it with INITIAL_CONTACT, strongSwan destroys its
// stale SAs, and the client's requests are answered again. The gap is printed; the address is
// never on two nodes at once. Then an operator moves the package (pavise pkg move): the old
// owner ends its SAs without a word, the new one contacts the client at once; and halts it for
// good (pavise pkg halt): now the client is told (DELETE) and forgotten.
const root = process.getuid?.() === 0;
const LAB = testLabName("tipc");
const UDP_PORT = 7431;

describe.skipIf(!root)("IPsec that moves with the package: strongSwan client", () => {
  let charon: Charon | undefined;
  const ipsec = useIpsecPackageLab(LAB, { echoPort: UDP_PORT });
  const t = ipsec.t;

  it("serves a strongSwan client through IPsec on the package address, and records it as a peer of web", async () => {
    await ipsec.startWebOnN1();
    expect(await t.lab.holders(VIP)).toEqual([{ host: "n1", nic: "lan0", up: true }]);
    expect(t.cluster.logged("n1", "ipsec", "IPsec of web listens on 198.18.1.50")).toBe(true);

    charon = ipsec.track(await startStrongswanClient(t.lab, { psk: ipsec.psk }));
    await charon.initiate({ child: "web" });
    const [sa] = webSas(await charon.listSas());
    expect(sa).toMatchObject({
      state: "ESTABLISHED",
      initiator: true,
      remoteHost: VIP,
      remoteId: PACKAGE_IKE_ID,
      localId: CLIENT_ADDRESS,
    });
    expect(sa?.childSas[0]?.state).toBe("INSTALLED");

    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(500);
    const report = await traffic.stop();
    expect(report.received).toBeGreaterThan(20);
    // The requests went through the tunnel: strongSwan's Child SA counted them both ways.
    const [after] = webSas(await charon.listSas());
    expect(after?.childSas[0]?.packetsOut).toBeGreaterThanOrEqual(report.received);
    expect(after?.childSas[0]?.packetsIn).toBeGreaterThanOrEqual(report.received);

    const records = await until(
      "c1 recorded as a peer of web",
      () => ipsecPeerRecords(t.lab, "n2", LAB, "web"),
      (r) => r.length === 1,
      10_000,
    );
    expect(records[0]).toMatchObject({
      id: CLIENT_ADDRESS,
      address: CLIENT_ADDRESS,
      connection: "clients",
      node: "n1",
    });
    // An operator on n1 sees the package's SA there (pavise ipsec sas asks the node's daemon).
    const listed = await t.lab.exec(
      "n1",
      [process.execPath, distPath("cli/main.js"), "ipsec", "sas", "--json"],
      {
        env: { ...process.env, PAVISE_DAEMON_SOCKET: t.cluster.controlSocket("n1") },
      },
    );
    const sas = (JSON.parse(listed.stdout) as { sas: IkeSaStatus[] }).sas;
    expect(sas).toHaveLength(1);
    expect(sas[0]).toMatchObject({
      connection: "web/clients",
      state: "ESTABLISHED",
      remoteId: CLIENT_ADDRESS,
    });
    expect(sas[0]?.children[0]?.spiIn).toBe(after?.childSas[0]?.spiOut);
  });

  it("n1 crashes: n2 contacts the client with INITIAL_CONTACT, strongSwan drops its stale SA, traffic flows again", async () => {
    const client = charon!;
    const [before] = webSas(await client.listSas());
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(700);
    const { crashedAt, takenAfter } = await ipsec.crashN1();
    const fresh = await until(
      "a new IKE SA that n2 initiated, in place of the stale one",
      async () => webSas(await client.listSas()),
      (sas) =>
        sas.some(
          (sa) => !sa.initiator && sa.state === "ESTABLISHED" && sa.childSas[0]?.state === "INSTALLED",
        ),
      20_000,
    );
    const contactedAfter = Date.now() - crashedAt;
    await sleep(1000);
    const report = await traffic.stop();

    // Exactly one IKE SA for the package, the new one, not ours; the old SPIs are gone.
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({ initiator: false, remoteHost: VIP, remoteId: PACKAGE_IKE_ID });
    expect(fresh[0]?.childSas[0]?.spiIn).not.toBe(before?.childSas[0]?.spiIn);
    const log = readFileSync(client.logPath, "utf8");
    expect(log).toMatch(
      new RegExp(
        `destroying duplicate IKE_SA for peer '${PACKAGE_IKE_ID.replaceAll(".", "\\.")}', received INITIAL_CONTACT`,
      ),
    );
    expect(t.cluster.logged("n2", "ipsec-peer-contacted", CLIENT_ADDRESS)).toBe(true);

    // Answered again: the longest silence (the failover) ended well before the probe stopped.
    const longest = report.gaps[0]!;
    expect(longest.startOffsetMs + longest.durationMs).toBeLessThan(report.durationMs - 500);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    const timeline = await t.stopWatch();
    expect(liveOverlaps(overlaps(timeline, VIP), "n1", crashedAt)).toEqual([]);
    console.log(
      `IPsec package, node crash, strongSwan client (no DPD): n2 holds ${VIP} ${takenAfter} ms after n1 crashed, ` +
        `client's new SA up ${contactedAfter} ms after; longest gap through the tunnel ${Math.round(report.maxGapMs)} ms, ` +
        `${report.received}/${report.sent} answered`,
    );
    // The gap is one lease (1 s) plus the takeover plus one handshake: well under 5 s on a loaded machine.
    expect(report.maxGapMs).toBeLessThan(5_000);
  });

  async function pavise(args: string[]): Promise<void> {
    const started = Date.now();
    const r = await t.lab.exec(
      "n2",
      [process.execPath, distPath("cli/main.js"), ...args, "--config", t.configFile],
      {
        allowFailure: true,
      },
    );
    console.log(
      `$ pavise ${args.join(" ")}  (exit ${r.code}, ${Date.now() - started} ms)\n${r.stderr}${r.stdout}`,
    );
    expect(r.code, r.stderr).toBe(0);
  }

  const charonLog = (): string => readFileSync(charon!.logPath, "utf8");

  it("pkg move: n2 ends its SAs without a DELETE, n3 contacts the client at once", async () => {
    const client = charon!;
    await t.startWatch(["n2", "n3"]);
    const [before] = webSas(await client.listSas());
    const logBefore = charonLog().length;
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(500);
    const movedAt = Date.now();
    await pavise(["pkg", "move", "web", "--node", "n3"]);
    const fresh = await until(
      "the client's new SA with n3",
      async () => webSas(await client.listSas()),
      (sas) =>
        sas.length === 1 &&
        sas[0]?.childSas[0]?.state === "INSTALLED" &&
        sas[0]?.childSas[0]?.spiIn !== before?.childSas[0]?.spiIn,
      10_000,
    );
    const contactedAfter = Date.now() - movedAt;
    await sleep(700);
    const report = await traffic.stop();
    expect(fresh[0]).toMatchObject({ initiator: false, remoteHost: VIP, remoteId: PACKAGE_IKE_ID });
    const during = charonLog().slice(logBefore);
    // A move is not a goodbye (design §6): no DELETE, or the client would send in the clear.
    expect(during).not.toMatch(/received DELETE for IKE_SA/);
    expect(during).toMatch(
      /destroying duplicate IKE_SA for peer 'web\.pavise\.test', received INITIAL_CONTACT/,
    );
    expect(await linkedHolders(t.lab, VIP)).toEqual(["n3"]);
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
    const longest = report.gaps[0]!;
    expect(longest.startOffsetMs + longest.durationMs).toBeLessThan(report.durationMs - 300);
    console.log(
      `IPsec package, planned move n2 → n3 (pavise pkg move): the client's new SA seen ${contactedAfter} ms after the command began (it returns once web is up); ` +
        `longest gap through the tunnel ${Math.round(report.maxGapMs)} ms (target < 500 ms), ${report.received}/${report.sent} answered`,
    );
    // Target 0.5 s; the bound leaves room for a loaded machine and still fails on a real stall.
    expect(report.maxGapMs).toBeLessThan(2_000);
  });

  it("moved after the registry lost the client: n2 learns of it from its ESP and contacts it", async () => {
    const client = charon!;
    await t.lab.exec("n2", [
      ...etcdctlArgs(
        t.lab.runtime,
        t.lab.plan.etcd,
        t.lab.plan.etcd.members.map((m) => m.clientUrl),
      ),
      "del",
      "--prefix",
      `/pavise/${LAB}/ipsec/peers/web/`,
    ]);
    expect(await ipsecPeerRecords(t.lab, "n2", LAB, "web")).toEqual([]);
    await t.startWatch(["n2", "n3"]);
    const [before] = webSas(await client.listSas());
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(500);
    const movedAt = Date.now();
    await pavise(["pkg", "move", "web", "--node", "n2"]);
    await until(
      "the client's new SA with n2",
      async () => webSas(await client.listSas()),
      (sas) =>
        sas.length === 1 &&
        sas[0]?.childSas[0]?.state === "INSTALLED" &&
        sas[0]?.childSas[0]?.spiIn !== before?.childSas[0]?.spiIn,
      20_000,
    );
    const contactedAfter = Date.now() - movedAt;
    await sleep(700);
    const report = await traffic.stop();
    expect(t.cluster.logged("n2", "ipsec", `ESP for unknown SPI`)).toBe(true);
    expect(
      t.cluster.logged("n2", "ipsec", `from ${CLIENT_ADDRESS}, a peer with no record: contacting it`),
    ).toBe(true);
    const longest = report.gaps[0]!;
    expect(longest.startOffsetMs + longest.durationMs).toBeLessThan(report.durationMs - 300);
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
    // Recorded again by its new owner.
    await until(
      "c1 recorded again",
      () => ipsecPeerRecords(t.lab, "n2", LAB, "web"),
      (r) => r.length === 1 && r[0]?.node === "n2",
      10_000,
    );
    console.log(
      `IPsec package, pkg move n3 → n2 with the peer's record lost: client's new SA seen ${contactedAfter} ms after the command began ` +
        `(triggered by its ESP for an unknown SPI); longest gap through the tunnel ${Math.round(report.maxGapMs)} ms`,
    );
    expect(report.maxGapMs).toBeLessThan(3_000);
  });

  it("pkg halt: the client is told (DELETE) and forgotten in the registry", async () => {
    const logBefore = charonLog().length;
    await pavise(["pkg", "halt", "web"]);
    await until(
      "strongSwan to hear the DELETE",
      () => Promise.resolve(charonLog().slice(logBefore)),
      (l) => /received DELETE for IKE_SA/.test(l),
      10_000,
    );
    expect(webSas(await charon!.listSas())).toEqual([]);
    expect(await ipsecPeerRecords(t.lab, "n2", LAB, "web")).toEqual([]);
    expect(await linkedHolders(t.lab, VIP)).toEqual([]);
  });
});
