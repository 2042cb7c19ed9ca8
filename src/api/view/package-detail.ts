import { whyNotEligible } from "../../cluster/scheduler/eligibility.js";
import { buildView } from "../../cluster/scheduler/view.js";
import type {
  NodeChoice,
  NodeResourceDetail,
  PackageDetail,
  PackageView,
  ServiceDetail,
} from "../schema/view-types.js";
import type { ClusterRead } from "./cluster-read.js";

export type { NodeChoice, PackageDetail, ServiceDetail } from "../schema/view-types.js";

/**
 * One package as `GET /v1/packages/{pkg}` shows it (design §5, §8 package page): the status
 * view's PackageView, with its services per node (restarts and state, from the owner's report:
 * agent/service-facts.ts), its generic resources on each of its nodes, and on which nodes it
 * could run now and why not elsewhere (the move dialog's choices; the scheduler's own
 * eligibility rule). Pure.
 */
export function packageDetail(read: ClusterRead, view: PackageView): PackageDetail {
  const config = read.config.packages.find((p) => p.name === view.name);
  const services: ServiceDetail[] =
    view.nodes.length === 0
      ? view.services.map((name) => ({ name, node: undefined, restarts: undefined, state: "halted" }))
      : view.nodes.flatMap((node) => {
          const report = read.snapshot.reports.find((r) => r.package === view.name && r.node === node);
          const reported = Array.isArray(report?.services) ? report.services : [];
          return view.services.map((name) => {
            const fact = reported.find((s) => s?.name === name);
            return {
              name,
              node,
              restarts: typeof fact?.restarts === "number" ? fact.restarts : undefined,
              state: typeof fact?.state === "string" ? fact.state : "unknown",
            };
          });
        });
  const resources: Record<string, Record<string, NodeResourceDetail>> = {};
  for (const node of config?.nodes ?? []) {
    const on = read.state.nodes[node]?.resources ?? {};
    const settings = read.snapshot.resourceSettings[node] ?? {};
    const here: Record<string, NodeResourceDetail> = {};
    for (const resource of config?.resources ?? []) {
      const by = settings[resource.name]?.by;
      here[resource.name] = {
        status: on[resource.name] ?? resource.initial,
        ...(by !== undefined ? { setBy: by } : {}),
      };
    }
    resources[node] = here;
  }
  const cluster = buildView(read.config, read.state);
  const scheduled = cluster.byName.get(view.name);
  const nodeChoices: NodeChoice[] = (config?.nodes ?? []).map((node) => {
    const why = scheduled ? whyNotEligible(cluster, scheduled, node) : "not in the configuration";
    return why === undefined ? { node, eligible: true } : { node, eligible: false, why };
  });
  return { ...view, services, resources, nodeChoices };
}
