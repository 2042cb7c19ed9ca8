import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostRuntime } from "../../src/lab/host-runtime.js";
import type { Lab } from "../../src/lab/lab.js";
import { startPaviseIpsec, type PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import { startIperf3Server } from "../../src/lab/probes/iperf3.js";
import { runIperf3Tcp, runIperf3Udp } from "../../src/lab/probes/iperf3-client.js";
import type { SaCounters } from "../../src/ipsec/datapath.js";
import type { IkeSaStatus } from "../../src/ipsec/sa-status.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// Two `pavise ipsec serve` daemons, on n1 and n2, carry traffic between each other through
// policy routing (src/esp/driver/policy-routing-plan.ts): the routes for the remote selectors
// live in Pavise's own table, and `ip rule`s keep Pavise's own IKE and ESP-in-UDP packets (UDP
// from port 500/4500) in the main table. So a selector may hold the peer's own address:
// transport mode host to host, or a tunnel whose remote selector is the whole LAN.
//
// Both hosts run with strict reverse-path filtering (rp_filter=1) and an nftables table that
// drops plain ICMP and TCP between the two LAN addresses: whatever reaches the peer's LAN
// address went through ESP in UDP/4500.

const PSK = "pavise-pair-psk";
const N1 = "198.18.1.11";
const N2 = "198.18.1.12";
const N1_INNER = "198.18.20.11";
const N2_INNER = "198.18.20.12";
const LAN = "198.18.1.0/24";
const HOSTS = ["n1", "n2"] as const;
type Host = (typeof HOSTS)[number];
const ADDRESS: Record<Host, string> = { n1: N1, n2: N2 };
const PEER: Record<Host, Host> = { n1: "n2", n2: "n1" };

interface ChildSpec {
  localTs: string;
  remoteTs: string;
  mode: "tunnel" | "transport";
}

function config(host: Host, child: ChildSpec): string {
  const local = ADDRESS[host];
  const remote = ADDRESS[PEER[host]];
  return `
connections:
  peer:
    local_addrs: [${local}]
    remote_addrs: [${remote}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: ${local} }
    remote: { auth: psk, id: ${remote} }
    children:
      pair:
        mode: ${child.mode}
        local_ts: [${child.localTs}]
        remote_ts: [${child.remoteTs}]
        esp_proposals: [aes128gcm16]
secrets:
  ike:
    - id: [${local}, ${remote}]
      secret: "${PSK}"
`;
}

/** The lab's runtime, with extra arguments for every process it starts (for serve's flags). */
function withArguments(runtime: HostRuntime, extra: string[]): HostRuntime {
  return {
    labDir: runtime.labDir,
    labName: runtime.labName,
    namespaceOf: (host) => runtime.namespaceOf(host),
    exec: (host, argv, options) => runtime.exec(host, argv, options),
    spawn: (host, argv, options) => runtime.spawn(host, [...argv, ...extra], options),
    stop: (process, signal) => runtime.stop(process, signal),
  };
}

const NFT = (peer: string): string => `
table inet tespp {
  chain output {
    type filter hook output priority 0; policy accept;
    oifname "lan0" ip daddr ${peer} ip protocol { icmp, tcp } counter drop comment "plain"
    oifname "lan0" ip daddr ${peer} udp dport 4500 counter comment "natt"
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "lan0" ip saddr ${peer} ip protocol { icmp, tcp } counter drop comment "plain"
  }
}
`;

describe("Pavise ↔ Pavise through policy routing (transport mode, selectors holding the peer)", () => {
  let lab: Lab;
  let daemons: PaviseIpsec[] = [];
  /** `ip rule` and every IPv4 routing table of n1 and n2 before any daemon ran. */
  const before = new Map<Host, string>();

  const routing = async (host: Host): Promise<string> => {
    const parts = await Promise.all([
      lab.exec(host, ["ip", "-4", "rule", "show"]),
      lab.exec(host, ["ip", "-6", "rule", "show"]),
      lab.exec(host, ["ip", "-4", "route", "show", "table", "all"]),
      lab.exec(host, ["sysctl", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.lan0.rp_filter"]),
    ]);
    return parts.map((r) => r.stdout).join("---\n");
  };

  /** Packets the nftables table counted on a host: plain ones dropped, UDP/4500 sent. */
  const nftCounters = async (host: Host): Promise<{ plainDropped: number; nattSent: number }> => {
    const listed = await lab.exec(host, ["nft", "-j", "list", "table", "inet", "tespp"]);
    const rules = (JSON.parse(listed.stdout) as { nftables: { rule?: Record<string, unknown> }[] }).nftables
      .map((item) => item.rule)
      .filter((rule): rule is Record<string, unknown> => rule !== undefined);
    const packets = (rule: Record<string, unknown>): number =>
      (rule.expr as { counter?: { packets: number } }[]).find((e) => e.counter)?.counter?.packets ?? 0;
    const sum = (comment: string): number =>
      rules.filter((r) => r.comment === comment).reduce((total, r) => total + packets(r), 0);
    return { plainDropped: sum("plain"), nattSent: sum("natt") };
  };

  /** Routes through pavise0 in a table (nothing in main). */
  const tunRoutes = async (host: Host, table: string): Promise<string[]> =>
    // A table that holds nothing does not exist: "FIB table does not exist", no routes.
    (await lab.exec(host, ["ip", "-4", "route", "show", "table", table], { allowFailure: true })).stdout
      .split("\n")
      .filter((line) => line.includes("dev pavise0"))
      .map((line) => line.replace(/\s+/g, " ").trim());

  /**
   * Starts serve on both hosts (n1 initiates) and waits until both have the Child SA and its
   * routes (installed just after it, one `ip` command at a time).
   */
  const startPair = async (
    child: (host: Host) => ChildSpec,
    table = "4500",
    flags: string[] = [],
  ): Promise<void> => {
    const runtime = withArguments(lab.runtime, flags);
    for (const host of HOSTS) daemons.push(await startPaviseIpsec(runtime, host, config(host, child(host))));
    await daemons[0]!.initiate("peer");
    for (const daemon of daemons) {
      await until(
        `the Child SA on ${daemon.host}`,
        () => daemon.sas(),
        (sas) => sas.length === 1 && sas[0]!.children.length === 1,
      );
      await until(
        `routes through pavise0 in table ${table} of ${daemon.host}`,
        () => tunRoutes(daemon.host as Host, table),
        (routes) => routes.length > 0,
      );
    }
  };

  const stopPair = async (): Promise<void> => {
    for (const daemon of daemons.reverse()) await daemon.stop();
    daemons = [];
  };

  const counters = async (daemon: PaviseIpsec): Promise<SaCounters> => {
    const [sa] = await daemon.sas();
    const found = sa?.children[0]?.counters;
    if (!found) throw new Error(`${daemon.host} has no Child SA counters: ${JSON.stringify(sa)}`);
    return found;
  };

  /** Pings from a host without choosing the source: the route's `src` has to be right. */
  const ping = async (from: Host, to: string, count: number, size = 56): Promise<void> => {
    const result = await until(
      `ping ${from} → ${to}`,
      () =>
        lab.exec(from, ["ping", "-n", "-c", String(count), "-i", "0.1", "-W", "1", "-s", String(size), to], {
          allowFailure: true,
        }),
      (r) => r.code === 0 && r.stdout.includes(`${count} received`),
      8_000,
      200,
    );
    expect(result.stdout).toContain(`${count} packets transmitted, ${count} received`);
  };

  const rules = async (host: Host): Promise<string[]> =>
    (await lab.exec(host, ["ip", "-4", "rule", "show"])).stdout
      .split("\n")
      .map((line) => line.replace(/\s+/g, " ").trim())
      .filter((line) => /^45\d\d:/.test(line));

  const rpFilter = async (host: Host, device: string): Promise<number> =>
    Number((await lab.exec(host, ["sysctl", "-n", `net.ipv4.conf.${device}.rp_filter`])).stdout.trim());

  /** Empties both neighbour caches, so that the next packets need ARP between n1 and n2. */
  const forgetNeighbours = async (): Promise<void> => {
    for (const host of HOSTS) await lab.exec(host, ["ip", "neigh", "flush", "dev", "lan0"]);
  };

  const expectRestored = async (): Promise<void> => {
    for (const host of HOSTS) expect(await routing(host), `routing of ${host}`).toBe(before.get(host));
  };

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tespp"));
    for (const host of HOSTS) {
      const peer = ADDRESS[PEER[host]];
      await lab.exec(host, ["ip", "addr", "add", `${host === "n1" ? N1_INNER : N2_INNER}/32`, "dev", "lo"]);
      await lab.exec(host, ["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=1"]);
      await lab.exec(host, ["sysctl", "-q", "-w", "net.ipv4.conf.lan0.rp_filter=1"]);
      await lab.exec(host, ["nft", "-f", "-"], { input: NFT(peer) });
    }
    for (const host of HOSTS) before.set(host, await routing(host));
    // The nftables table works: without IPsec, nothing plain gets through.
    const plain = await lab.exec("n1", ["ping", "-n", "-c", "1", "-W", "1", N2], { allowFailure: true });
    expect(plain.code).not.toBe(0);
    expect((await nftCounters("n1")).plainDropped).toBe(1);
  });

  afterAll(async () => {
    for (const daemon of daemons) await daemon.stop().catch(() => undefined);
    await lab?.down();
  });

  it("(1) tunnel mode, inner addresses on lo: ICMP, TCP and UDP both ways; routes in table 4500, not main", async () => {
    try {
      await startPair((host) => ({
        mode: "tunnel",
        localTs: `${host === "n1" ? N1_INNER : N2_INNER}/32`,
        remoteTs: `${host === "n1" ? N2_INNER : N1_INNER}/32`,
      }));
      expect(await rules("n1")).toEqual([
        "4500: from all ipproto udp sport 500 lookup main",
        "4500: from all ipproto udp sport 4500 lookup main",
        "4501: from all lookup 4500",
      ]);
      // The source is the inner address on lo, so unbound sockets fit the local selector.
      expect(await tunRoutes("n1", "4500")).toEqual([`${N2_INNER} dev pavise0 scope link src ${N1_INNER}`]);
      expect(await tunRoutes("n1", "main")).toEqual([]);
      // The peers' addresses stay out of the tunnel: the LAN keeps its strict rp_filter.
      expect(await rpFilter("n1", "lan0")).toBe(1);
      await ping("n1", N2_INNER, 3);
      await ping("n2", N1_INNER, 3);
      for (const [from, to] of [
        ["n1", "n2"],
        ["n2", "n1"],
      ] as const) {
        const target = to === "n1" ? N1_INNER : N2_INNER;
        const source = from === "n1" ? N1_INNER : N2_INNER;
        let server = await startIperf3Server(lab.runtime, to, target);
        try {
          const tcp = await runIperf3Tcp(lab.runtime, from, { to: target, bind: source, seconds: 1 });
          expect(tcp.receivedBytes).toBeGreaterThan(1_000_000);
        } finally {
          await lab.runtime.stop(server);
        }
        server = await startIperf3Server(lab.runtime, to, target);
        try {
          const udp = await runIperf3Udp(lab.runtime, from, {
            to: target,
            bind: source,
            seconds: 1,
            payloadBytes: 1200,
          });
          expect(udp.receivedPackets).toBeGreaterThan(100);
        } finally {
          await lab.runtime.stop(server);
        }
      }
      const [a, b] = await Promise.all(daemons.map(counters));
      expect(a!.packetsOut).toBeGreaterThan(100);
      expect(b!.packetsOut).toBeGreaterThan(100);
    } finally {
      await stopPair();
    }
    await expectRestored();
  });

  it("(2) transport mode host to host: ICMP, TCP and UDP between the LAN addresses through ESP, rekeys while it is up", async () => {
    try {
      await startPair((host) => ({
        mode: "transport",
        localTs: `${ADDRESS[host]}/32`,
        remoteTs: `${ADDRESS[PEER[host]]}/32`,
      }));
      const [sa] = await daemons[0]!.sas();
      expect(sa?.children[0]?.mode).toBe("TRANSPORT");
      // The peer's own address is routed into the tunnel: what policy routing is for.
      expect(await tunRoutes("n1", "4500")).toEqual([`${N2} dev pavise0 scope link src ${N1}`]);
      expect(await tunRoutes("n2", "4500")).toEqual([`${N1} dev pavise0 scope link src ${N2}`]);
      // Strict rp_filter would refuse the peer's ARP requests, now that its address is routed
      // into the TUN: the interface toward it is loose while Pavise runs (restored after).
      for (const host of HOSTS) expect(await rpFilter(host, "lan0")).toBe(2);
      await forgetNeighbours();

      const nftBefore = await Promise.all(HOSTS.map(nftCounters));
      const [out1, in2] = [await counters(daemons[0]!), await counters(daemons[1]!)];
      // Five pings of 200 octets: 208 octets of ICMP each way, per packet.
      await ping("n1", N2, 5, 200);
      const [out1After, in2After] = [await counters(daemons[0]!), await counters(daemons[1]!)];
      expect(out1After.packetsOut - out1.packetsOut).toBeGreaterThanOrEqual(5);
      expect(out1After.bytesOut - out1.bytesOut).toBeGreaterThanOrEqual(5 * 208);
      expect(in2After.packetsIn - in2.packetsIn).toBeGreaterThanOrEqual(5);
      await ping("n2", N1, 5, 200);

      const server = await startIperf3Server(lab.runtime, "n2", N2);
      try {
        const tcp = await runIperf3Tcp(lab.runtime, "n1", { to: N2, bind: N1, seconds: 1 });
        expect(tcp.receivedBytes).toBeGreaterThan(1_000_000);
        const sent = await counters(daemons[0]!);
        expect(sent.bytesOut - out1After.bytesOut).toBeGreaterThan(tcp.receivedBytes);
      } finally {
        await lab.runtime.stop(server);
      }
      // UDP too: the receiver rebuilds the IP header and the UDP checksum (transport-mode.ts).
      const udpServer = await startIperf3Server(lab.runtime, "n1", N1);
      try {
        const udp = await runIperf3Udp(lab.runtime, "n2", {
          to: N1,
          bind: N2,
          seconds: 1,
          payloadBytes: 1200,
        });
        expect(udp.receivedPackets).toBeGreaterThan(100);
      } finally {
        await lab.runtime.stop(udpServer);
      }
      const nftAfter = await Promise.all(HOSTS.map(nftCounters));
      for (const i of [0, 1]) {
        // Nothing plain was even tried; it all left as ESP in UDP/4500.
        expect(nftAfter[i]!.plainDropped).toBe(nftBefore[i]!.plainDropped);
        expect(nftAfter[i]!.nattSent - nftBefore[i]!.nattSent).toBeGreaterThanOrEqual(5);
      }

      // IKE to the peer still leaves through the LAN: a Child SA rekey and an IKE SA rekey.
      const spiIn = sa!.children[0]!.spiIn;
      expect(await daemons[0]!.rekey("peer", "pair")).toBe(1);
      const [childRekeyed] = await until(
        "the Child SA rekey",
        () => daemons[0]!.sas(),
        (sas) => sas.length === 1 && sas[0]!.children.length === 1 && sas[0]!.children[0]!.spiIn !== spiIn,
      );
      expect(await daemons[0]!.rekey("peer")).toBe(1);
      await until(
        "the IKE SA rekey",
        () => daemons[0]!.sas(),
        (sas: IkeSaStatus[]) =>
          sas.length === 1 && sas[0]!.spiI !== childRekeyed!.spiI && sas[0]!.children.length === 1,
      );
      const fresh = await counters(daemons[0]!);
      await ping("n1", N2, 3);
      expect((await counters(daemons[0]!)).packetsOut - fresh.packetsOut).toBeGreaterThanOrEqual(3);
    } finally {
      await stopPair();
    }
    await expectRestored();
  });

  it("(3) tunnel mode with the LAN (and so the peer) in both selectors, in table 4242 (--routing-table)", async () => {
    try {
      await startPair(() => ({ mode: "tunnel", localTs: LAN, remoteTs: LAN }), "4242", [
        "--routing-table",
        "4242",
      ]);
      expect(await rules("n1")).toEqual([
        "4500: from all ipproto udp sport 500 lookup main",
        "4500: from all ipproto udp sport 4500 lookup main",
        "4501: from all lookup 4242",
      ]);
      expect(await tunRoutes("n1", "4242")).toEqual([`${LAN} dev pavise0 scope link src ${N1}`]);
      expect(await tunRoutes("n1", "4500")).toEqual([]);
      await forgetNeighbours();

      const nftBefore = await nftCounters("n1");
      const before1 = await counters(daemons[0]!);
      await ping("n1", N2, 5);
      // ESP in UDP that looped back into the TUN would be sealed again instead of leaving:
      // every packet sealed went out on lan0 as UDP/4500 (with IKE, if any, on top).
      const sealed = (await counters(daemons[0]!)).packetsOut - before1.packetsOut;
      expect(sealed).toBeGreaterThanOrEqual(5);
      expect((await nftCounters("n1")).nattSent - nftBefore.nattSent).toBeGreaterThanOrEqual(sealed);
      await ping("n2", N1, 5);
      const server = await startIperf3Server(lab.runtime, "n1", N1);
      try {
        const tcp = await runIperf3Tcp(lab.runtime, "n2", { to: N1, bind: N2, seconds: 1 });
        expect(tcp.receivedBytes).toBeGreaterThan(1_000_000);
      } finally {
        await lab.runtime.stop(server);
      }
      const nftAfter = await nftCounters("n1");
      expect(nftAfter.plainDropped).toBe(nftBefore.plainDropped);
      expect(nftAfter.nattSent - nftBefore.nattSent).toBeGreaterThanOrEqual(5);

      const [sa] = await daemons[0]!.sas();
      expect(await daemons[1]!.rekey("peer", "pair")).toBe(1);
      await until(
        "the Child SA rekey started by n2",
        () => daemons[0]!.sas(),
        (sas) =>
          sas.length === 1 &&
          sas[0]!.children.length === 1 &&
          sas[0]!.children[0]!.spiIn !== sa!.children[0]!.spiIn,
      );
      await ping("n1", N2, 3);
    } finally {
      await stopPair();
    }
    await expectRestored();
  });

  it("(4) a crashed daemon's rules are replaced, not doubled, by the next one, which removes them", async () => {
    const transport = (host: Host): ChildSpec => ({
      mode: "transport",
      localTs: `${ADDRESS[host]}/32`,
      remoteTs: `${ADDRESS[PEER[host]]}/32`,
    });
    await startPair(transport);
    // SIGKILL: no cleanup at all. The routes go with the TUN device; the rules stay.
    for (const daemon of daemons) await lab.runtime.stop(daemon.process);
    daemons = [];
    expect(await rules("n1")).toHaveLength(3);
    expect(await tunRoutes("n1", "4500")).toEqual([]);
    expect(await rpFilter("n1", "lan0")).toBe(2);
    await startPair(transport);
    try {
      // The new run put back the strict value it found written down, then loosened it again.
      expect(daemons[0]!.log()).toContain("rp_filter of lan0 put back to 1");
      expect(await rpFilter("n1", "lan0")).toBe(2);
      expect(await rules("n1")).toEqual([
        "4500: from all ipproto udp sport 500 lookup main",
        "4500: from all ipproto udp sport 4500 lookup main",
        "4501: from all lookup 4500",
      ]);
      await ping("n1", N2, 3);
    } finally {
      await stopPair();
    }
    await expectRestored();
  });
});
