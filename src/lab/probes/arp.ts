import { formatIpv4, parseIpv4, parsePrefix } from "../../net/ipv4.js";
import { PaviseError } from "../../util/errors.js";
import { run } from "../../util/run.js";
import type { LabPlan } from "../plan.js";

export interface ArpAnswer {
  mac: string;
  /** The lab host and NIC that own this MAC, when it is one of the lab's. */
  host: string | undefined;
  nic: string | undefined;
}

/**
 * The address the switch sends ARP requests from: the last usable address of the subnet,
 * which the lab never gives to a host. The switch does not hold it (ip_nonlocal_bind lets
 * arping use it), so nothing else changes on the LAN.
 */
export function probeSourceAddress(cidr: string): string {
  const prefix = parsePrefix(cidr);
  if (!prefix) throw new TypeError(`probeSourceAddress: invalid cidr ${cidr}`);
  return formatIpv4(prefix.network + 2 ** (32 - prefix.length) - 2);
}

/** Parses arping's "Unicast reply from A [MAC]" lines into MAC addresses, in order, without repeats. */
export function parseArpingReplies(output: string, address: string): string[] {
  const macs: string[] = [];
  for (const match of output.matchAll(/reply from ([0-9.]+) \[([0-9A-Fa-f:]{17})\]/g)) {
    const mac = (match[2] ?? "").toLowerCase();
    if (match[1] === address && !macs.includes(mac)) macs.push(mac);
  }
  return macs;
}

/**
 * Who answers ARP for an address on a LAN, asked from the lab switch: one broadcast request,
 * then every reply within the wait (whole seconds: arping's -w) is collected, so two holders show up as two answers.
 */
export async function arpAnswerers(
  plan: LabPlan,
  subnet: string,
  address: string,
  waitSeconds = 1,
): Promise<ArpAnswer[]> {
  const bridge = plan.bridges.find((b) => b.subnet === subnet);
  if (!bridge) {
    throw new PaviseError("LAB_NO_SUCH_LAN", `lab ${plan.name} has no LAN ${subnet}`, {
      hint: `LANs are: ${plan.bridges.map((b) => b.subnet).join(", ")}`,
    });
  }
  if (parseIpv4(address) === undefined) {
    throw new PaviseError("LAB_BAD_ADDRESS", `not an IPv4 address: ${address}`, { hint: "e.g. 198.18.1.50" });
  }
  const everyNic = plan.hosts.flatMap((h) => h.nics.map((n) => ({ host: h.name, nic: n.name, mac: n.mac })));
  // arping stops once it has `-c` replies; asking for more than there are NICs makes it wait the full time.
  const result = await run(
    [
      "ip",
      "netns",
      "exec",
      plan.switchNamespace,
      "arping",
      "-s",
      probeSourceAddress(bridge.cidr),
      "-I",
      bridge.name,
      "-c",
      String(everyNic.length + 1),
      "-w",
      String(waitSeconds),
      address,
    ],
    { allowFailure: true, timeoutMs: waitSeconds * 1000 + 5_000 },
  );
  return parseArpingReplies(result.stdout, address).map((mac) => {
    const owner = everyNic.find((n) => n.mac === mac);
    return { mac, host: owner?.host, nic: owner?.nic };
  });
}
