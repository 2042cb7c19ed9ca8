import { run } from "../util/run.js";
import type { LabPlan, PlannedHost } from "./plan.js";

/**
 * Builds and removes the lab's network: one namespace per host, one "switch" namespace holding
 * a Linux bridge per LAN, and a veth pair per host NIC from the host into its LAN's bridge.
 * Keeping the bridges in their own namespace leaves the machine's own network untouched and
 * makes removal complete: deleting the namespaces deletes every link the lab made.
 */

export async function createNamespaces(names: readonly string[]): Promise<void> {
  await run(["ip", "-batch", "-"], { input: names.map((n) => `netns add ${n}\n`).join("") });
}

export async function buildSwitch(plan: LabPlan): Promise<void> {
  const lines = ["link set lo up"];
  for (const bridge of plan.bridges) {
    // No STP: ports forward at once, as an unmanaged switch would.
    lines.push(`link add ${bridge.name} type bridge stp_state 0`, `link set ${bridge.name} up`);
  }
  for (const host of plan.hosts) {
    for (const nic of host.nics) {
      const bridge = plan.bridges.find((b) => b.subnet === nic.subnet);
      if (!bridge) throw new TypeError(`no bridge for subnet ${nic.subnet}`);
      lines.push(
        `link add ${nic.switchPort} type veth peer name ${nic.name} address ${nic.mac} netns ${host.namespace}`,
        `link set ${nic.switchPort} master ${bridge.name}`,
        `link set ${nic.switchPort} up`,
      );
    }
  }
  await run(["ip", "-n", plan.switchNamespace, "-batch", "-"], { input: lines.join("\n") + "\n" });
  // The switch is plain layer 2: no IPv6 autoconfiguration chatter from its ports.
  await run([
    "ip",
    "netns",
    "exec",
    plan.switchNamespace,
    "sysctl",
    "-q",
    "-w",
    "net.ipv6.conf.all.disable_ipv6=1",
    // The ARP probe sends from an address the switch does not hold (see probes/arp.ts).
    "net.ipv4.ip_nonlocal_bind=1",
  ]);
}

export async function configureHost(host: PlannedHost): Promise<void> {
  // The lab speaks IPv4 only: without IPv6 there is no autoconfiguration chatter on the LANs,
  // so what a probe sees is what a test sent.
  const sysctls = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];
  if (host.kind === "node") {
    // A node has two NICs on each LAN. Answer ARP only on the NIC that holds the address
    // (arp_ignore=1) and announce from it (arp_announce=2), so the standby NIC stays silent
    // and "who answers ARP" names one NIC.
    sysctls.push(
      "net.ipv4.conf.all.arp_ignore=1",
      "net.ipv4.conf.all.arp_announce=2",
      "net.ipv4.conf.default.arp_ignore=1",
      "net.ipv4.conf.default.arp_announce=2",
    );
  }
  await run(["ip", "netns", "exec", host.namespace, "sysctl", "-q", "-w", ...sysctls]);
  const lines = ["link set lo up"];
  for (const nic of host.nics) {
    lines.push(`link set ${nic.name} up`);
    if (nic.address) lines.push(`addr add ${nic.address}/${nic.prefixLength} dev ${nic.name}`);
  }
  await run(["ip", "-n", host.namespace, "-batch", "-"], { input: lines.join("\n") + "\n" });
}

/** PIDs of every process whose network namespace is the given one. */
export async function pidsInNamespace(namespace: string): Promise<number[]> {
  const result = await run(["ip", "netns", "pids", namespace], { allowFailure: true });
  if (result.code !== 0) return [];
  return result.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

export async function existingNamespaces(): Promise<Set<string>> {
  const result = await run(["ip", "-j", "netns", "list"], { allowFailure: true });
  if (result.code !== 0 || result.stdout.trim() === "") return new Set();
  const list = JSON.parse(result.stdout) as { name: string }[];
  return new Set(list.map((entry) => entry.name));
}

export async function deleteNamespace(namespace: string): Promise<void> {
  await run(["ip", "netns", "del", namespace], { allowFailure: true });
}
