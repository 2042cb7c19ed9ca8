import type { PeerRecord } from "../../src/ipsec/registry/peer-record.js";
import type { LoggedEvent } from "../../src/cli/events-render.js";
import type { StatusView } from "../../src/cli/status-render.js";
import { etcdctlArgs } from "../../src/lab/etcd.js";
import { parseArpingReplies } from "../../src/lab/probes/arp.js";
import type { Lab } from "../../src/lab/lab.js";
import { startTraffic, type TrafficRun } from "../../src/lab/probes/traffic.js";
import { distPath } from "../../src/util/package-paths.js";

// What a daemon-level fault test reads of a running cluster from the outside, as an operator or
// a client would: `pavise status --json` and `pavise events --json`, the owner keys in etcd,
// who answers ARP for an address and which MAC a client has for it, who holds an address, and
// what a client sending to it gets back.

/** The hosts holding `address` on a NIC whose link is up (a crashed host's links are down). */
export async function linkedHolders(lab: Lab, address: string): Promise<string[]> {
  return (await lab.holders(address)).filter((h) => h.up).map((h) => h.host);
}

/** The hosts that answer one ARP request for `address` on the public LAN. */
export async function arpHosts(lab: Lab, address: string): Promise<(string | undefined)[]> {
  return (await lab.arpAnswerers("public", address)).map((a) => a.host);
}

/**
 * The MACs that answer one ARP request for `address` sent by a client itself (c1, eth0, from its
 * own address): what the client's neighbour probe gets. Unlike arpHosts' request from the
 * switch, its sender address is the client's, so the answerer's reverse-path check (rp_filter)
 * applies to it.
 */
export async function arpAnswersToClient(lab: Lab, address: string, client = "c1"): Promise<string[]> {
  const nic = lab.host(client).nics[0]!;
  const r = await lab.exec(
    client,
    ["arping", "-I", nic.name, "-s", nic.address!, "-c", "1", "-w", "1", address],
    { allowFailure: true },
  );
  return parseArpingReplies(r.stdout, address);
}

/** A client (c1) sending to `address`'s UDP echo service on `port` every 10 ms. */
export function startClientTraffic(lab: Lab, address: string, port: number): Promise<TrafficRun> {
  return startTraffic(lab.runtime, { from: "c1", to: address, proto: "udp", port, intervalMs: 10 });
}

/** `pavise status --json`, run inside a lab host. */
export async function statusView(lab: Lab, host: string, configFile: string): Promise<StatusView> {
  const r = await lab.exec(host, [
    process.execPath,
    distPath("cli/main.js"),
    "status",
    "--config",
    configFile,
    "--json",
  ]);
  return JSON.parse(r.stdout) as StatusView;
}

/** `pavise events --json`: the cluster's event log, in cluster order. */
export async function clusterEvents(lab: Lab, host: string, configFile: string): Promise<LoggedEvent[]> {
  const r = await lab.exec(host, [
    process.execPath,
    distPath("cli/main.js"),
    "events",
    "--config",
    configFile,
    "--json",
  ]);
  return (JSON.parse(r.stdout) as { events: LoggedEvent[] }).events;
}

export interface OwnerKey {
  node: string;
  /** etcd's create_revision: a key taken again (even by the same node) has a new one. */
  createRevision: number;
  lease: string;
}

/** The owner keys of a package (layout.ts: <prefix>owners/<package>/<node>), read with etcdctl. */
export async function ownerKeys(lab: Lab, host: string, cluster: string, pkg: string): Promise<OwnerKey[]> {
  const prefix = `/pavise/${cluster}/owners/${pkg}/`;
  const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
  const r = await lab.exec(host, [
    ...etcdctlArgs(lab.runtime, lab.plan.etcd, urls),
    "get",
    "--prefix",
    prefix,
    "-w",
    "json",
  ]);
  const parsed = JSON.parse(r.stdout) as { kvs?: { key: string; create_revision: number; lease?: number }[] };
  return (parsed.kvs ?? []).map((kv) => ({
    node: Buffer.from(kv.key, "base64").toString("utf8").slice(prefix.length),
    createRevision: kv.create_revision,
    lease: String(kv.lease ?? 0),
  }));
}

/** The IPsec peer records of a package (layout.ts: <prefix>ipsec/peers/<package>/<h>), read with etcdctl. */
export async function ipsecPeerRecords(
  lab: Lab,
  host: string,
  cluster: string,
  pkg: string,
): Promise<PeerRecord[]> {
  const prefix = `/pavise/${cluster}/ipsec/peers/${pkg}/`;
  const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
  const r = await lab.exec(host, [
    ...etcdctlArgs(lab.runtime, lab.plan.etcd, urls),
    "get",
    "--prefix",
    prefix,
    "-w",
    "json",
  ]);
  const parsed = JSON.parse(r.stdout) as { kvs?: { value: string }[] };
  return (parsed.kvs ?? []).map(
    (kv) => JSON.parse(Buffer.from(kv.value, "base64").toString("utf8")) as PeerRecord,
  );
}

/** The MAC a host's neighbour table has for an address (undefined: no entry). */
export async function neighbourMac(lab: Lab, host: string, address: string): Promise<string | undefined> {
  const result = await lab.exec(host, ["ip", "-j", "neigh", "show", address]);
  const entries = JSON.parse(result.stdout || "[]") as { lladdr?: string }[];
  return entries[0]?.lladdr;
}

export interface ArpSample {
  at: number;
  /** The hosts (or bare MACs) that answered one broadcast request, sorted. */
  hosts: string[];
}

/**
 * Asks who answers ARP for each address on the public LAN, back to back (each round waits 1 s
 * for every reply), until stopped: two answers in one round would be two owners.
 */
export function sampleArp(
  lab: Lab,
  addresses: readonly string[],
): { stop(): Promise<Map<string, ArpSample[]>> } {
  const samples = new Map<string, ArpSample[]>(addresses.map((a) => [a, []]));
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(
        addresses.map(async (address) => {
          const at = Date.now();
          const answers = await lab.arpAnswerers("public", address, 1);
          samples.get(address)!.push({ at, hosts: answers.map((a) => a.host ?? a.mac).sort() });
        }),
      );
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** One reading of a package's owner keys and reports in etcd, and when it was taken. */
export interface PackageKeysSample {
  /** performance.now() just before the read was sent and after the answer came. */
  sentAt: number;
  receivedAt: number;
  /** Nodes holding an owner key. */
  owners: string[];
  /** Node → the status it reports. */
  reports: Record<string, string>;
}

/**
 * Reads a package's owner keys and reports (layout.ts owners/<pkg>/, status/<pkg>/) with
 * etcdctl, back to back, until stopped: when a key vanished or a report turned up, seen from
 * outside the daemons, to within one read (each costs an etcdctl start, some 10–30 ms).
 */
export function samplePackageKeys(
  lab: Lab,
  host: string,
  cluster: string,
  pkg: string,
): { stop(): Promise<PackageKeysSample[]> } {
  const prefix = `/pavise/${cluster}/`;
  const owners = `${prefix}owners/${pkg}/`;
  const status = `${prefix}status/${pkg}/`;
  const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
  const samples: PackageKeysSample[] = [];
  let running = true;
  const read = async (key: string): Promise<{ key: string; value: string }[]> => {
    const r = await lab.exec(host, [
      ...etcdctlArgs(lab.runtime, lab.plan.etcd, urls),
      "get",
      "--prefix",
      key,
      "-w",
      "json",
    ]);
    const parsed = JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] };
    return (parsed.kvs ?? []).map((kv) => ({
      key: Buffer.from(kv.key, "base64").toString("utf8"),
      value: Buffer.from(kv.value, "base64").toString("utf8"),
    }));
  };
  const loop = (async () => {
    while (running) {
      const sentAt = performance.now();
      // One range over both prefixes' parent would read the whole event log: two small reads.
      const [o, s] = await Promise.all([read(owners), read(status)]);
      const reports: Record<string, string> = {};
      for (const kv of s)
        reports[kv.key.slice(status.length)] = (JSON.parse(kv.value) as { status: string }).status;
      samples.push({
        sentAt,
        receivedAt: performance.now(),
        owners: o.map((kv) => kv.key.slice(owners.length)),
        reports,
      });
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}
