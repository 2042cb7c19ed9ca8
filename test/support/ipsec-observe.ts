import { readFileSync, statSync } from "node:fs";
import type { DaemonCluster } from "../../src/lab/daemon-cluster.js";
import type { IkeSaInfo } from "../../src/lab/strongswan/charon.js";

// What an IPsec test of a package reads on both ends of a tunnel without a control channel into
// the daemon: the IKE SAs a node's daemon logged (package-ipsec-host.ts logs one line as each
// comes up and one as it goes), strongSwan's SPIs, and what charon logged since a mark.

/** An IKE SA as a daemon logged it: "IKE SA with <id> (<address>) established (…, <spiI>_i <spiR>_r)". */
export interface LoggedIkeSa {
  remoteId: string;
  remoteAddress: string;
  initiatedBy: "we" | "it";
  spiI: string;
  spiR: string;
}

const ESTABLISHED =
  /^IKE SA with (\S+) \((\S+)\) established \((we|it) initiated, ([0-9a-f]+)_i ([0-9a-f]+)_r\)$/;

/** Every IKE SA the node's latest daemon logged as established, in order. */
export function ikeSasEstablished(cluster: DaemonCluster, node: string): LoggedIkeSa[] {
  return cluster.daemonEvents(node).flatMap((e) => {
    const m = e.event === "ipsec" ? ESTABLISHED.exec(e.message) : null;
    return m
      ? [
          {
            remoteId: m[1]!,
            remoteAddress: m[2]!,
            initiatedBy: m[3] as "we" | "it",
            spiI: m[4]!,
            spiR: m[5]!,
          },
        ]
      : [];
  });
}

/** The "IKE SA with … down: …" lines of the node's latest daemon. */
export function ikeSasDown(cluster: DaemonCluster, node: string): string[] {
  return cluster
    .daemonEvents(node)
    .filter((e) => e.event === "ipsec" && /^IKE SA with .* down: /.test(e.message))
    .map((e) => e.message);
}

/** strongSwan's IKE SPIs of an SA (list-sas: initiator-spi, responder-spi), as the daemon logs them. */
export function strongswanIkeSpis(sa: IkeSaInfo): { spiI: string; spiR: string } {
  const field = (key: string): string => {
    const value = sa.raw[key];
    return typeof value === "string" ? value : "";
  };
  return { spiI: field("initiator-spi"), spiR: field("responder-spi") };
}

/** Where a log file ends now: read what came after with `logSince`. */
export function logMark(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The lines a log file got after `mark`. */
export function logSince(file: string, mark: number): string[] {
  return readFileSync(file)
    .subarray(mark)
    .toString("utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
}
