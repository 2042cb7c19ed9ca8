/**
 * A package's live IPsec SAs as table rows for the package page (design §8): one row per Child
 * SA under its IKE SA (the peer, the SPIs, the traffic and drops the datapath counted), as
 * `pavise ipsec sas` lists them. Pure.
 */

import type { IkeSaStatus } from "./api-shapes.js";

export interface SaRow {
  peer: string;
  ike: string;
  child: string;
  spis: string;
  selectors: string;
  traffic: string;
  drops: string;
  age: string;
}

export const SA_COLUMNS: readonly { key: keyof SaRow; title: string }[] = [
  { key: "peer", title: "Peer" },
  { key: "ike", title: "IKE SA" },
  { key: "child", title: "Child SA" },
  { key: "spis", title: "SPIs in/out" },
  { key: "selectors", title: "Traffic selectors" },
  { key: "traffic", title: "Traffic in/out" },
  { key: "drops", title: "Drops" },
  { key: "age", title: "Age" },
];

export function saRows(sas: readonly IkeSaStatus[]): SaRow[] {
  return sas.flatMap((sa) => {
    const peer = `${sa.remoteId} at ${sa.remote}`;
    const ike = `${sa.connection}: ${sa.state}, ${sa.initiator ? "we initiated" : "peer initiated"}`;
    const age = duration(sa.ageSeconds);
    if (sa.children.length === 0) {
      return [{ peer, ike, child: "none", spis: "", selectors: "", traffic: "", drops: "", age }];
    }
    return sa.children.map((child): SaRow => {
      const c = child.counters;
      const drops = c
        ? [
            ["replay", c.replayDrops],
            ["integrity", c.integrityFailures],
            ["policy", c.policyDrops],
            ["expired", c.expiredDrops],
          ].filter((d): d is [string, number] => typeof d[1] === "number")
        : [];
      const dropCount = drops.reduce((sum, [, n]) => sum + n, 0);
      return {
        peer,
        ike,
        child: `${child.name} (${child.mode})`,
        spis: `${child.spiIn}/${child.spiOut}`,
        selectors: `${child.localTs.join(", ")} ⇄ ${child.remoteTs.join(", ")}`,
        traffic: c
          ? `${bytes(c.bytesIn)} (${c.packetsIn} pkts) / ${bytes(c.bytesOut)} (${c.packetsOut} pkts)`
          : "not known to the datapath",
        // "not counted" where the datapath keeps no drop counters (a kernel).
        drops:
          c === undefined
            ? ""
            : drops.length === 0
              ? "not counted"
              : dropCount === 0
                ? "none"
                : `${dropCount} (${drops
                    .filter(([, n]) => n > 0)
                    .map(([what, n]) => `${what} ${n}`)
                    .join(", ")})`,
        age,
      };
    });
  });
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** 3725 → "1 h 2 min". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
