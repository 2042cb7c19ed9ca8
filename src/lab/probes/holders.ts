import { run } from "../../util/run.js";
import type { LabPlan } from "../plan.js";

export interface AddressHolder {
  host: string;
  nic: string;
  /** Whether the NIC's link is up (a down link keeps its IPv4 addresses configured). */
  up: boolean;
}

interface IpAddrLink {
  ifname: string;
  operstate?: string;
  addr_info?: { family: string; local: string }[];
}

/** Which hosts hold an IPv4 address right now (configured on one of their interfaces). */
export async function addressHolders(plan: LabPlan, address: string): Promise<AddressHolder[]> {
  return (await addressHoldersOf(plan, [address])).get(address) ?? [];
}

/** Which hosts hold each of the addresses right now, reading each host's addresses once. */
export async function addressHoldersOf(
  plan: LabPlan,
  addresses: readonly string[],
): Promise<Map<string, AddressHolder[]>> {
  const perHost = await Promise.all(
    plan.hosts.map(async (host) => {
      const result = await run(["ip", "-n", host.namespace, "-j", "-4", "addr", "show"], {
        allowFailure: true,
      });
      if (result.code !== 0 || !result.stdout.trim()) return { host: host.name, links: [] };
      return { host: host.name, links: JSON.parse(result.stdout) as IpAddrLink[] };
    }),
  );
  return new Map(
    addresses.map((address) => [
      address,
      perHost.flatMap(({ host, links }) =>
        links
          .filter((link) => (link.addr_info ?? []).some((a) => a.family === "inet" && a.local === address))
          .map((link) => ({ host, nic: link.ifname, up: link.operstate !== "DOWN" })),
      ),
    ]),
  );
}
