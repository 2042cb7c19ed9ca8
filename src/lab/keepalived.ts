/**
 * keepalived (VRRP, RFC 5798) in lab hosts: the reference Pavise's failover is measured against
 * (DESIGN.md: "keepalived ≈3.6 s"). Each instance runs in its host's namespace with its own
 * configuration and pid files, VRRP only (no health checkers), unicast to its peers so that the
 * advertisements take the same path as the clients' traffic.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostRuntime, LabProcess } from "./host-runtime.js";

export interface VrrpInstanceSpec {
  /** Lab host (also the router_id). */
  host: string;
  /** NIC that carries the virtual address and the advertisements. */
  nic: string;
  /** The host's own address on that NIC (unicast_src_ip). */
  address: string;
  /** The other routers' addresses (unicast_peer). */
  peers: string[];
  /** The virtual address with its prefix length, e.g. 198.18.1.60/24. */
  virtualAddress: string;
  /** 1..254; the highest up wins (and takes the address back when it returns: preempt). */
  priority: number;
  /** advert_int in seconds (keepalived's default is 1). */
  advertIntervalSeconds?: number;
  virtualRouterId?: number;
}

/** keepalived.conf for one VRRP instance, as an administrator would write it. */
export function renderKeepalivedConfig(spec: VrrpInstanceSpec): string {
  return [
    "global_defs {",
    `  router_id ${spec.host}`,
    "  enable_script_security",
    "}",
    "vrrp_instance pavise_bench {",
    "  state BACKUP",
    `  interface ${spec.nic}`,
    `  virtual_router_id ${spec.virtualRouterId ?? 60}`,
    `  priority ${spec.priority}`,
    `  advert_int ${spec.advertIntervalSeconds ?? 1}`,
    `  unicast_src_ip ${spec.address}`,
    "  unicast_peer {",
    ...spec.peers.map((peer) => `    ${peer}`),
    "  }",
    "  virtual_ipaddress {",
    `    ${spec.virtualAddress} dev ${spec.nic}`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** Starts keepalived (VRRP only, in the foreground) in a lab host. Stop it with runtime.stop. */
export async function startKeepalived(runtime: HostRuntime, spec: VrrpInstanceSpec): Promise<LabProcess> {
  const dir = join(runtime.labDir, "hosts", spec.host, "keepalived");
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "keepalived.conf");
  writeFileSync(config, renderKeepalivedConfig(spec));
  return runtime.spawn(
    spec.host,
    [
      "keepalived",
      "--dont-fork",
      "--log-console",
      "--log-detail",
      "--vrrp",
      `--use-file=${config}`,
      `--pid=${join(dir, "keepalived.pid")}`,
      `--vrrp_pid=${join(dir, "vrrp.pid")}`,
      `--checkers_pid=${join(dir, "checkers.pid")}`,
    ],
    { role: "keepalived", log: join(dir, "keepalived.log") },
  );
}
