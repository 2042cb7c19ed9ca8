import { randomBytes } from "node:crypto";
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { echoService, VIP } from "./daemon-cluster.js";
import type { Lab } from "./lab.js";
import { distPath } from "../util/package-paths.js";
import { type Charon, type CharonOptions, startCharon } from "./strongswan/charon.js";
import { renderPskTunnel } from "./strongswan/swanctl-config.js";

// A package that carries IPsec in the lab (issue #6, docs/ipsec-packages-design.md): web with
// its relocatable address, an echo service and an ipsec: section (identity web.pavise.test,
// PSK), and a strongSwan client on c1 with a host-to-host tunnel to the package address. Used
// by the ipsec-package tests, the demo and the benchmark.

/** The package's IKE identity: the same on whichever node runs it. */
export const PACKAGE_IKE_ID = "web.pavise.test";

/** The lab client's address (c1 on the public LAN). */
export const CLIENT_ADDRESS = "198.18.1.101";

export interface IpsecWebOptions {
  echoPort: number;
  /** The PSK file (on every node: in the lab all namespaces share one file system). */
  pskFile: string;
  /** May the adoptive node initiate to the recorded clients (design §9; default yes). */
  initiate?: boolean;
  /**
   * A second service, `pavise ipsec status --package web --watch WATCH` with restart: 0: the
   * IPsec monitor (design §10, seed ¶5); when IPsec on the owner breaks, it exits 1, the
   * package fails there and moves. It finds its node's daemon through PAVISE_DAEMON_SOCKET.
   */
  monitorWatch?: string;
  /**
   * The same check as a generic resource `ipsec` with a monitor every INTERVAL (design §10): on
   * every node that may run web, so a node whose IPsec is broken is neither kept nor chosen.
   */
  resourceInterval?: string;
}

/**
 * Writes a fresh random PSK (32 random bytes, base64: one line) to `dir`/clients.psk, root 0600,
 * and returns the path and the key text.
 */
export function writeLabPsk(dir: string): { file: string; psk: string } {
  let psk = randomBytes(32).toString("base64");
  // `pavise ipsec serve` (and swanctl) read a secret that starts with 0x as hex: this one must not.
  while (psk.startsWith("0x")) psk = randomBytes(32).toString("base64");
  const file = join(dir, "clients.psk");
  writeFileSync(file, `${psk}\n`, { mode: 0o600 });
  return { file, psk };
}

/** web's `ipsec:` section (YAML, indented for a package entry of a `packages:` list). */
export function ipsecSection(options: Omit<IpsecWebOptions, "echoPort">): string {
  return `    ipsec:
      identity: ${PACKAGE_IKE_ID}
      credentials: { auth: psk }
      connections:
        clients:
          remote_addrs: [198.18.1.0/24]
          remote: { auth: psk }
          psk_file: ${options.pskFile}
          initiate: ${options.initiate === false ? "no" : "yes"}
          proposals: [aes128gcm16-prfsha256-x25519]
          children:
            net: { local_ts: [dynamic], remote_ts: [dynamic], esp_proposals: [aes128gcm16] }
${options.resourceInterval ? ipsecMonitorResource(options.resourceInterval) : ""}`;
}

/** The `packages:` entry of web with IPsec (YAML, indented like daemonClusterFile's packages). */
export function ipsecWebPackage(options: IpsecWebOptions): string {
  return `  - name: web
    node_name: [n1, n2, n3]
    ip_address:
      - { address: ${VIP}, subnet: public }
    services:
${echoService(options.echoPort)}${options.monitorWatch ? ipsecMonitorService(options.monitorWatch) : ""}${ipsecSection(options)}`;
}

/** The IPsec monitor as web's generic resource `ipsec` (YAML, at package level). */
export function ipsecMonitorResource(interval: string, pkg = "web"): string {
  return `    generic_resources:
      - name: ipsec
        monitor: { command: "exec ${process.execPath} ${distPath("cli/main.js")} ipsec status --package ${pkg}", interval: ${interval} }
`;
}

/** The IPsec monitor as a package service (YAML, under web's `services:`). */
export function ipsecMonitorService(watch: string, pkg = "web"): string {
  return `      - name: ipsec-monitor
        command: "exec ${process.execPath} ${distPath("cli/main.js")} ipsec status --package ${pkg} --watch ${watch}"
        restart: 0
        halt_timeout: 2s
`;
}

/**
 * The same PSK on each node, at one path that each node sees as its own file: the lab's nodes
 * share one file system, but `ip netns exec NS` (which starts every lab process) binds
 * /etc/netns/NS/ENTRY over /etc/ENTRY in the process's mount namespace. So the path
 * `/etc/pavise-LAB/clients.psk` is a per-node file, as on real hosts, and a test can break one
 * node's copy (rename it) while the others keep theirs. `remove()` deletes every copy.
 */
export interface PerNodePsk {
  /** The path in the cluster file (psk_file). */
  file: string;
  psk: string;
  /** Where a node's copy really is (in the root mount namespace). */
  nodeFile(node: string): string;
  remove(): void;
}

export function writePerNodePsk(lab: Lab, nodes: readonly string[]): PerNodePsk {
  const entry = `pavise-${lab.plan.name}`;
  const psk = randomBytes(32).toString("base64");
  // The mount point must exist for the bind; it stays empty outside the lab's nodes.
  mkdirSync(join("/etc", entry), { recursive: true, mode: 0o700 });
  const nodeDir = (node: string): string => join("/etc/netns", lab.host(node).namespace, entry);
  for (const node of nodes) {
    mkdirSync(nodeDir(node), { recursive: true, mode: 0o700 });
    writeFileSync(join(nodeDir(node), "clients.psk"), `${psk}\n`, { mode: 0o600 });
  }
  return {
    file: join("/etc", entry, "clients.psk"),
    psk,
    nodeFile: (node) => join(nodeDir(node), "clients.psk"),
    remove: () => {
      for (const node of nodes) rmSync(nodeDir(node), { recursive: true, force: true });
      for (const node of nodes) rmEmptyDir(join("/etc/netns", lab.host(node).namespace));
      rmEmptyDir(join("/etc", entry));
      rmEmptyDir("/etc/netns");
    },
  };
}

function rmEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty (someone else's) or gone already.
  }
}

export interface StrongswanClientOptions {
  psk: string;
  /** The client's host and address (default c1, CLIENT_ADDRESS). */
  host?: string;
  address?: string;
  /** swanctl dpd_delay / dpd_action for the kind-3 client (design §9). */
  dpdDelay?: string;
  dpdAction?: "clear" | "trap" | "restart";
  /** swanctl keyingtries (0: a DPD restart retries until the adoptive node answers). */
  keyingtries?: number;
  charon?: CharonOptions;
}

/**
 * The strongswan.conf `charon` settings that make a client give up on an unanswered exchange
 * (a DPD to a crashed node) after 0.5 + 0.75 + 1.125 = 2.4 s instead of the default 165 s
 * (design §1). Global in strongSwan 5.9.8: every exchange of that charon pays for them.
 */
export const FAST_RETRANSMIT_SETTINGS: readonly string[] = [
  "retransmit_timeout = 0.5",
  "retransmit_base = 1.5",
  "retransmit_tries = 2",
];

/** A kind-3 client (design §9): it finds the adoptive node by its own DPD, at most ≈4.4 s after a crash. */
export function fastDpdClient(psk: string): StrongswanClientOptions {
  return {
    psk,
    dpdDelay: "1s",
    dpdAction: "restart",
    keyingtries: 0,
    charon: { settings: [...FAST_RETRANSMIT_SETTINGS] },
  };
}

/**
 * strongSwan on the client with one connection "web" to the package address: host-to-host,
 * the package identity as the remote id, its own address as its id. Loaded, not initiated.
 */
export async function startStrongswanClient(lab: Lab, options: StrongswanClientOptions): Promise<Charon> {
  const charon = await startCharon(lab.runtime, options.host ?? "c1", options.charon ?? {});
  try {
    await charon.loadConfig(
      renderPskTunnel({
        name: "web",
        localAddress: options.address ?? CLIENT_ADDRESS,
        remoteAddress: VIP,
        remoteId: PACKAGE_IKE_ID,
        psk: options.psk,
        ...(options.dpdDelay ? { dpdDelay: options.dpdDelay } : {}),
        ...(options.dpdAction ? { dpdAction: options.dpdAction } : {}),
        ...(options.keyingtries !== undefined ? { keyingtries: options.keyingtries } : {}),
      }),
    );
  } catch (err) {
    await charon.stop();
    throw err;
  }
  return charon;
}

/**
 * `pavise ipsec serve` as the client of web (issue #6 kind 1): one connection "web" to the
 * package address, host-to-host, initiated at start, with the settings that bring it back by
 * itself (dpd_delay 1s, short retransmits, dpd_action restart, keyingtries 0); it also honours
 * the adoptive node's INITIAL_CONTACT.
 */
export function paviseClientConfig(options: {
  psk: string;
  address?: string;
  initiateAtStart?: boolean;
}): string {
  const me = options.address ?? CLIENT_ADDRESS;
  return `connections:
  web:
    local_addrs: [${me}]
    remote_addrs: [${VIP}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: ${me} }
    remote: { auth: psk, id: ${PACKAGE_IKE_ID} }
    dpd_delay: 1s
    retransmit: { timeout: 500ms, base: 1.5, tries: 2 }
    keyingtries: 0
    children:
      web:
        local_ts: [${me}/32]
        remote_ts: [${VIP}/32]
        esp_proposals: [aes128gcm16]
        start_action: ${options.initiateAtStart === false ? "none" : "start"}
        dpd_action: restart
secrets:
  ike:
    - id: [${me}, ${PACKAGE_IKE_ID}]
      secret: ${JSON.stringify(options.psk)}
`;
}
