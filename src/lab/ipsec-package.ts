import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { echoService, VIP } from "./daemon-cluster.js";
import type { Lab } from "./lab.js";
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
}

/**
 * Writes a fresh random PSK (32 random bytes, base64: one line) to `dir`/clients.psk, root 0600,
 * and returns the path and the key text.
 */
export function writeLabPsk(dir: string): { file: string; psk: string } {
  const psk = randomBytes(32).toString("base64");
  const file = join(dir, "clients.psk");
  writeFileSync(file, `${psk}\n`, { mode: 0o600 });
  return { file, psk };
}

/** The `packages:` entry of web with IPsec (YAML, indented like daemonClusterFile's packages). */
export function ipsecWebPackage(options: IpsecWebOptions): string {
  return `  - name: web
    node_name: [n1, n2, n3]
    ip_address:
      - { address: ${VIP}, subnet: public }
    services:
${echoService(options.echoPort)}${ipsecSection(options)}`;
}

/** web's `ipsec:` section alone (YAML, keys indented by four spaces), for other cluster files. */
export function ipsecSection(options: Pick<IpsecWebOptions, "pskFile" | "initiate">): string {
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
`;
}

export interface StrongswanClientOptions {
  psk: string;
  /** The client's host and address (default c1, CLIENT_ADDRESS). */
  host?: string;
  address?: string;
  /** swanctl dpd_delay / dpd_action for the kind-3 client (design §9). */
  dpdDelay?: string;
  dpdAction?: "clear" | "trap" | "restart";
  /** swanctl keyingtries (0: retry for ever, as design §1 advises with dpd_action restart). */
  keyingtries?: number;
  charon?: CharonOptions;
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
        ...(options.keyingtries === undefined ? {} : { keyingtries: options.keyingtries }),
      }),
    );
  } catch (err) {
    await charon.stop();
    throw err;
  }
  return charon;
}
