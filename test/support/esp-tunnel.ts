import type { ChildSaStatus, IkeSaStatus } from "../../src/ipsec/sa-status.js";
import type { Lab } from "../../src/lab/lab.js";
import { startPaviseIpsec, type PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import {
  startCharon,
  type Charon,
  type ChildSaInfo,
  type IkeSaInfo,
} from "../../src/lab/strongswan/charon.js";
import { renderPskTunnel } from "../../src/lab/strongswan/swanctl-config.js";
import { freshLab, testLabSpec } from "./fresh-lab.js";
import { until } from "./until.js";

/**
 * The tunnel of the ESP interop tests: strongSwan (charon, kernel-libipsec) on c1 and
 * `pavise ipsec serve` with its own ESP datapath on n1, in tunnel mode, ESP in UDP/4500.
 * Inner addresses differ from the outer ones: c1 talks as 198.18.10.101, n1 as 198.18.20.11
 * (each on its loopback), so the tunnel never has to carry its own packets and a socket bound
 * to an inner address can only reach the other side through the tunnel.
 */
export const C1 = "198.18.1.101";
export const N1 = "198.18.1.11";
export const C1_INNER = "198.18.10.101";
export const N1_INNER = "198.18.20.11";
const PSK = "pavise-esp-psk";

export interface EspTunnelOptions {
  /** ESP proposal on both sides, in the one syntax both speak (default aes128gcm16). */
  esp?: string;
  /** More `pavise ipsec serve` flags. */
  serveArgs?: string[];
  /** Transport mode: the selectors are the outer addresses (default: tunnel, inner addresses). */
  transport?: boolean;
}

export function paviseEspConfig(options: EspTunnelOptions = {}): string {
  return `
connections:
  c1:
    local_addrs: [${N1}]
    remote_addrs: [${C1}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: ${N1} }
    remote: { auth: psk, id: ${C1} }
    children:
      net:
        local_ts: [${options.transport ? N1 : N1_INNER}/32]
        remote_ts: [${options.transport ? C1 : C1_INNER}/32]
        esp_proposals: [${options.esp ?? "aes128gcm16"}]
        mode: ${options.transport ? "transport" : "tunnel"}
secrets:
  ike:
    - id: [${N1}, ${C1}]
      secret: "${PSK}"
`;
}

export function charonEspConfig(options: EspTunnelOptions = {}): string {
  return renderPskTunnel({
    name: "n1",
    localAddress: C1,
    remoteAddress: N1,
    psk: PSK,
    espProposals: options.esp ?? "aes128gcm16",
    localTs: [`${options.transport ? C1 : C1_INNER}/32`],
    remoteTs: [`${options.transport ? N1 : N1_INNER}/32`],
    mode: options.transport ? "transport" : "tunnel",
  });
}

/** A fresh lab (no etcd) with the inner addresses on c1's and n1's loopbacks, and charon on c1. */
export async function startEspLab(name: string): Promise<{ lab: Lab; charon: Charon }> {
  const lab = await freshLab(testLabSpec(name));
  await lab.exec("c1", ["ip", "addr", "add", `${C1_INNER}/32`, "dev", "lo"]);
  await lab.exec("n1", ["ip", "addr", "add", `${N1_INNER}/32`, "dev", "lo"]);
  const charon = await startCharon(lab.runtime, "c1");
  return { lab, charon };
}

/** Both views of the one Child SA once they agree (crossed SPIs, nothing else installed). */
export interface ChildSaPair {
  ours: ChildSaStatus;
  theirs: ChildSaInfo;
}

/**
 * One IKE SA on each side, each with one installed Child SA, whose SPIs cross. After a rekey,
 * charon lists the old Child SA as DELETED for a while (its inbound half stays for late packets,
 * `delete_rekeyed_delay`, 5 s); only INSTALLED ones count here.
 */
export function childSaPair(ours: IkeSaStatus[], theirs: IkeSaInfo[]): ChildSaPair | undefined {
  if (ours.length !== 1 || theirs.length !== 1) return undefined;
  const child = ours[0]!.children;
  const installed = theirs[0]!.childSas.filter((c) => c.state === "INSTALLED");
  if (child.length !== 1 || installed.length !== 1) return undefined;
  const pair = { ours: child[0]!, theirs: installed[0]! };
  return pair.ours.spiIn === pair.theirs.spiOut && pair.ours.spiOut === pair.theirs.spiIn ? pair : undefined;
}

/** Waits until both sides show exactly one Child SA, the same one (see childSaPair). */
export async function bothAgree(
  pavise: PaviseIpsec,
  charon: Charon,
  accept: (pair: ChildSaPair) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<ChildSaPair> {
  const [ours, theirs] = await until(
    "Pavise and strongSwan to show the same single Child SA",
    async () => [await pavise.sas(), await charon.listSas()] as const,
    ([o, t]) => {
      const pair = childSaPair(o, t);
      return pair !== undefined && accept(pair);
    },
    timeoutMs,
  );
  return childSaPair(ours, theirs)!;
}

/** Pings from c1's inner address to n1's; returns how many of `count` were answered. */
export async function pingThrough(lab: Lab, count = 3): Promise<number> {
  const result = await lab.exec(
    "c1",
    ["ping", "-c", String(count), "-i", "0.1", "-W", "1", "-I", C1_INNER, N1_INNER],
    { allowFailure: true, timeoutMs: 10_000 + count * 1000 },
  );
  return Number(/(\d+) received/.exec(result.stdout)?.[1] ?? 0);
}

/**
 * Starts Pavise on n1, has charon initiate, waits until both sides agree on the Child SA and a
 * ping passes (Pavise installs its routes just after the Child SA).
 */
export async function establishEspTunnel(
  lab: Lab,
  charon: Charon,
  options: EspTunnelOptions = {},
): Promise<{ pavise: PaviseIpsec; pair: ChildSaPair }> {
  const pavise = await startPaviseIpsec(lab.runtime, "n1", paviseEspConfig(options), options.serveArgs);
  try {
    await charon.loadConfig(charonEspConfig(options));
    await charon.initiate({ child: "n1", ike: "n1", timeoutMs: 10_000 });
    const pair = await bothAgree(pavise, charon);
    await until(
      "a ping through the tunnel",
      () => pingThrough(lab, 1),
      (n) => n === 1,
      10_000,
      100,
    );
    return { pavise, pair };
  } catch (err) {
    await pavise.stop().catch(() => undefined);
    throw err;
  }
}

/** The UDP counters of a lab host's network namespace (the "Udp:" lines of /proc/net/snmp). */
export async function udpCounters(lab: Lab, host: string): Promise<Record<string, number>> {
  const lines = (await lab.exec(host, ["cat", "/proc/net/snmp"])).stdout
    .split("\n")
    .filter((line) => line.startsWith("Udp: "))
    .map((line) => line.split(/\s+/).slice(1));
  const [names, values] = lines;
  return Object.fromEntries((names ?? []).map((name, i) => [name, Number(values?.[i])]));
}

/** Mbit/s for a number of bytes in a number of seconds, for printing. */
export function mbits(bytes: number, seconds: number): string {
  return ((bytes * 8) / seconds / 1e6).toFixed(0);
}
