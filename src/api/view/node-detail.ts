import type { NicDetail, NodeDetail, NodeResourceDetail, NodeView } from "../schema/view-types.js";

export type { NicDetail, NodeDetail, NodeResourceDetail } from "../schema/view-types.js";
import type { ClusterRead } from "./cluster-read.js";

/**
 * One node as `GET /v1/nodes/{node}` shows it (design §5, §8 map columns): the status view's
 * NodeView plus its NICs per subnet, its generic resources and the URL of its API. Pure.
 *
 * The daemon publishes which subnets have link (subnetsUp, cmviewcl's subnet status), not each
 * NIC's link, so a NIC's link is said only where it is known: every NIC of a subnet that is
 * down has no link (local LAN failover found none to move to); on a subnet that is up, the NIC
 * its addresses are on has link. The others are "unknown".
 */
export function nodeDetail(read: ClusterRead, view: NodeView, leader: string | undefined): NodeDetail {
  const node = view.name;
  const config = read.config.nodes.find((n) => n.name === node);
  const up = view.status === "up";
  const carriers = reportedNics(read, node);
  const nics: NicDetail[] = (config?.interfaces ?? []).flatMap((iface) => {
    const subnetUp = view.subnetsUp.includes(iface.subnet);
    const all = [
      { nic: iface.primary, role: "primary" as const },
      ...iface.standby.map((nic) => ({ nic, role: "standby" as const })),
    ];
    const reported = all.find((n) => carriers.has(n.nic));
    const carrying = up && subnetUp ? (reported?.nic ?? iface.primary) : undefined;
    return all.map(({ nic, role }) => ({
      subnet: iface.subnet,
      nic,
      role,
      link: !up ? "unknown" : !subnetUp ? "down" : nic === carrying ? "up" : "unknown",
      carrying: nic === carrying,
    }));
  });
  const settings = read.snapshot.resourceSettings[node] ?? {};
  const resources: Record<string, NodeResourceDetail> = {};
  for (const [name, status] of Object.entries(read.state.nodes[node]?.resources ?? {})) {
    const by = settings[name]?.by;
    resources[name] = { status, ...(by !== undefined ? { setBy: by } : {}) };
  }
  const record = read.snapshot.nodes[node];
  return {
    ...view,
    leader: leader === node,
    nics,
    resources,
    packages: read.snapshot.owners.filter((o) => o.node === node).map((o) => o.package),
    apiUrl: up && typeof record?.apiUrl === "string" ? record.apiUrl : undefined,
  };
}

/** NICs the node's package reports put addresses on. */
function reportedNics(read: ClusterRead, node: string): Set<string> {
  const nics = new Set<string>();
  for (const report of read.snapshot.reports) {
    if (report.node !== node || !Array.isArray(report.addresses)) continue;
    for (const a of report.addresses) if (typeof a?.nic === "string") nics.add(a.nic);
  }
  return nics;
}
