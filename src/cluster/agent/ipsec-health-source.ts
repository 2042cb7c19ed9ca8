import type { ClusterConfig, PackageConfig, PackageIpsecConfig } from "../config/model.js";
import { PaviseError } from "../../util/errors.js";
import {
  describeReason,
  judgeIpsecHealth,
  type IpsecHealthSnapshot,
} from "../../ipsec/status/ipsec-health.js";
import type { AgentIpsec } from "./agent-ipsec.js";

/** What the daemon's health route needs of the node agent. */
export interface IpsecHealthContext {
  config: ClusterConfig;
  node: string;
  /** Absent when no package with ipsec: may run here, or the host could not open. */
  ipsec: AgentIpsec | undefined;
  /** Why the host could not open, if it tried and failed. */
  openProblem: string | undefined;
}

type LogLine = (event: string, message: string, extra?: Record<string, unknown>) => void;

/**
 * The snapshots behind `GET /v1/ipsec/health[?package=P]` (design §10): of one package, or of
 * every package with ipsec: that may run on this node. A package that is unknown, has no
 * ipsec: or may not run here is the caller's mistake (404, the CLI's exit 2).
 */
export async function ipsecHealthSnapshots(
  ctx: IpsecHealthContext,
  pkgName: string | undefined,
): Promise<IpsecHealthSnapshot[]> {
  const packages = selectPackages(ctx.config, ctx.node, pkgName);
  const snapshots: IpsecHealthSnapshot[] = [];
  for (const pkg of packages) {
    snapshots.push(ctx.ipsec ? await ctx.ipsec.health(pkg) : hostNotOpen(pkg, ctx));
  }
  return snapshots;
}

function selectPackages(
  config: ClusterConfig,
  node: string,
  pkgName: string | undefined,
): (PackageConfig & { ipsec: PackageIpsecConfig })[] {
  const withIpsec = (p: PackageConfig): p is PackageConfig & { ipsec: PackageIpsecConfig } =>
    p.ipsec !== undefined;
  if (pkgName === undefined) return config.packages.filter(withIpsec).filter((p) => p.nodes.includes(node));
  const pkg = config.packages.find((p) => p.name === pkgName);
  const known = config.packages.map((p) => p.name).join(", ");
  if (!pkg) {
    throw new PaviseError("IPSEC_NO_SUCH_PACKAGE", `no package '${pkgName}' in the cluster configuration`, {
      hint: `the packages are: ${known || "(none)"}`,
    });
  }
  if (!withIpsec(pkg)) {
    throw new PaviseError("IPSEC_PACKAGE_WITHOUT_IPSEC", `package '${pkgName}' has no ipsec: section`, {
      hint: "give the package an ipsec: section, or leave --package out to check every package with one",
    });
  }
  if (!pkg.nodes.includes(node)) {
    throw new PaviseError(
      "IPSEC_PACKAGE_NOT_HERE",
      `package '${pkgName}' may not run on ${node} (node_name)`,
      {
        hint: `run the check on one of ${pkg.nodes.join(", ")}`,
      },
    );
  }
  return [pkg];
}

function hostNotOpen(pkg: PackageConfig, ctx: IpsecHealthContext): IpsecHealthSnapshot {
  return {
    package: pkg.name,
    node: ctx.node,
    at: Date.now(),
    hostOpen: false,
    hostProblem:
      ctx.openProblem ?? "not opened (the daemon found no package with ipsec: for this node at start)",
    credentials: [],
    runsHere: false,
    addresses: [],
    ikeChildSas: [],
    datapathChildSas: [],
    gaveUp: [],
  };
}

/**
 * Writes a line to the daemon's log when a package's verdict changes (not on every check: a
 * monitor asks every second), so the reason a package left this node is in the daemon's log
 * too, not only in the package log where the monitor's output goes.
 */
export class IpsecHealthLog {
  private readonly last = new Map<string, string>();

  constructor(private readonly log: LogLine) {}

  note(snapshots: readonly IpsecHealthSnapshot[]): void {
    for (const snapshot of snapshots) {
      const verdict = judgeIpsecHealth(snapshot, snapshot.at);
      const key = verdict.reasons.map((r) => r.code).join(",");
      const before = this.last.get(snapshot.package);
      if (before === key) continue;
      this.last.set(snapshot.package, key);
      if (verdict.usable) {
        if (before !== undefined) {
          this.log("ipsec-health", `package ${snapshot.package}: IPsec usable on ${snapshot.node} again`, {
            package: snapshot.package,
          });
        }
        continue;
      }
      this.log(
        "ipsec-unusable",
        `package ${snapshot.package}: IPsec unusable on ${snapshot.node}: ${verdict.reasons.map(describeReason).join("; ")}`,
        { package: snapshot.package, codes: verdict.reasons.map((r) => r.code) },
      );
    }
  }
}
