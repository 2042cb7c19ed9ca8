import type { IkeSa } from "../ike/core/ike-sa.js";
import type { IpsecDatapath } from "./datapath.js";
import type { ChildSaStatus, IkeSaStatus } from "./sa-status-types.js";

export type { ChildSaStatus, IkeSaStatus };
import { formatAddress } from "../ike/config/traffic-selector-spec.js";
import type { TrafficSelector } from "../ike/core/traffic-selector.js";
import { DhId, EncrId, IntegId, PrfId } from "../ike/crypto/transforms.js";
import { rangeToPrefixes } from "../esp/driver/tun-device.js";

/** An ESP SPI as `pavise ipsec sas` prints it: eight hex digits. */
export function spiText(spi: number): string {
  return spi.toString(16).padStart(8, "0");
}

function nameOf(table: Record<string, number>, id: number | undefined): string {
  if (id === undefined) return "";
  return Object.entries(table).find(([, v]) => v === id)?.[0] ?? String(id);
}

function cipher(encr: number, keyLength: number | undefined): string {
  return `${nameOf(EncrId, encr)}${keyLength ? `_${keyLength}` : ""}`;
}

/** A selector as strongSwan prints it: a prefix when the range is one, else start-end. */
/** A traffic selector as strongSwan prints it: a prefix (or range), with protocol/port when narrowed. */
export function describeSelector(ts: TrafficSelector): string {
  const prefixes = rangeToPrefixes(ts);
  const range = prefixes.length === 1 ? prefixes[0]! : `${formatAddress(ts.start)}-${formatAddress(ts.end)}`;
  const ports =
    ts.portStart === 0 && ts.portEnd === 65535
      ? ""
      : `/${ts.portStart === ts.portEnd ? ts.portStart : `${ts.portStart}-${ts.portEnd}`}`;
  return ts.protocol === 0 && !ports ? range : `${range}[${ts.protocol}${ports}]`;
}

export function describeIkeSa(
  sa: IkeSa,
  now: number,
  datapath?: Pick<IpsecDatapath, "counters">,
): IkeSaStatus {
  const summary = sa.summary();
  const algorithms = sa.algorithms();
  return {
    connection: summary.connection,
    state: sa.state.toUpperCase(),
    initiator: summary.initiator,
    spiI: summary.spiI,
    spiR: summary.spiR,
    local: summary.localAddress,
    remote: summary.remoteAddress,
    localId: summary.localId,
    remoteId: summary.remoteId,
    algorithms: algorithms
      ? [
          cipher(algorithms.encr, algorithms.encrKeyLength),
          nameOf(IntegId, algorithms.integ),
          `PRF_${nameOf(PrfId, algorithms.prf)}`,
          nameOf(DhId, algorithms.dh),
        ]
          .filter(Boolean)
          .join("/")
      : "",
    ageSeconds: Math.round(sa.ageMs(now) / 1000),
    children: sa.childSas().map((child) => ({
      name: child.name,
      spiIn: spiText(child.spiIn),
      spiOut: spiText(child.spiOut),
      mode: child.mode.toUpperCase(),
      encap: child.encap !== undefined,
      algorithms: [
        cipher(child.encr.id, child.encr.keyLength),
        nameOf(IntegId, child.integ),
        child.esn ? "ESN" : "",
      ]
        .filter(Boolean)
        .join("/"),
      localTs: child.localTs.map(describeSelector),
      remoteTs: child.remoteTs.map(describeSelector),
      counters: datapath?.counters(child.spiIn),
    })),
  };
}
