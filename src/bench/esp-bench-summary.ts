/**
 * The figures of `npm run bench:esp` and what is made of them: medians over rounds, the ratios
 * between paths and the DESIGN.md target. Pure: no lab, no clock, no I/O.
 */

/** The four paths, always in this order. */
export const PATH_IDS = ["a", "b", "c", "d"] as const;
export type PathId = (typeof PATH_IDS)[number];

export const PATH_LABELS: Record<PathId, string> = {
  a: "bare path (no IPsec)",
  b: "strongSwan ↔ strongSwan",
  c: "strongSwan ↔ Pavise",
  d: "Pavise ↔ Pavise",
};

/** DESIGN.md "Numbers we hold ourselves to": ESP throughput ≥ 1.5× strongSwan. */
export const TARGET = { ratio: "d/b", atLeast: 1.5 } as const;

/** CPU seconds the IPsec processes (charon, pavise) used during one iperf3 run, per host. */
export interface CpuSeconds {
  sender: number | undefined;
  receiver: number | undefined;
}

/** One path measured once: a TCP run, then a UDP run, on the same tunnel. */
export interface PathRound {
  path: PathId;
  round: number;
  tcp: {
    mbitPerSecond: number;
    retransmits: number | undefined;
    cpuSeconds: CpuSeconds;
  };
  udp: {
    /** Datagrams the receiver got per second. */
    receivedPps: number;
    /** Datagrams the sender wrote per second. */
    sentPps: number;
    lossPercent: number;
    cpuSeconds: CpuSeconds;
  };
}

/** The median of each figure of a path over its rounds, with the per-round values kept. */
export interface PathSummary {
  path: PathId;
  label: string;
  rounds: number;
  tcp: { mbitPerSecond: number; retransmits: number | undefined; cpuSeconds: CpuSeconds };
  udp: { receivedPps: number; sentPps: number; lossPercent: number; cpuSeconds: CpuSeconds };
  perRound: { tcpMbitPerSecond: number[]; udpReceivedPps: number[] };
}

export type RatioName = "c/b" | "d/b" | "d/a";
export const RATIO_NAMES: readonly RatioName[] = ["c/b", "d/b", "d/a"];

export interface Ratio {
  tcp: number | undefined;
  udpPps: number | undefined;
}

export interface TargetCheck {
  ratio: typeof TARGET.ratio;
  atLeast: number;
  /** undefined when (b) or (d) was not measured. */
  tcp: { value: number | undefined; met: boolean | undefined };
  udpPps: { value: number | undefined; met: boolean | undefined };
}

export interface EspBenchSummary {
  paths: PathSummary[];
  ratios: Record<RatioName, Ratio>;
  target: TargetCheck;
}

/** The middle value; the mean of the two middle ones for an even count; undefined for none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[mid];
  return ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const round = (value: number, digits: number): number => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};

/** Median of the figures a round has (rounds that lack it, e.g. no retransmit count, are left out). */
function optionalMedian(values: readonly (number | undefined)[], digits: number): number | undefined {
  const m = median(values.filter((v): v is number => v !== undefined));
  return m === undefined ? undefined : round(m, digits);
}

/** Median of a figure every round has; a path is summarised only when it has rounds. */
function medianOf(values: readonly number[], digits: number): number {
  return round(median(values) ?? Number.NaN, digits);
}

function cpuMedian(values: readonly CpuSeconds[]): CpuSeconds {
  const sender = values.map((v) => v.sender);
  const receiver = values.map((v) => v.receiver);
  return { sender: optionalMedian(sender, 2), receiver: optionalMedian(receiver, 2) };
}

function summarisePath(path: PathId, rounds: readonly PathRound[]): PathSummary {
  const tcp = rounds.map((r) => r.tcp);
  const udp = rounds.map((r) => r.udp);
  const mbit = tcp.map((t) => t.mbitPerSecond);
  const retransmits = tcp.map((t) => t.retransmits);
  const receivedPps = udp.map((u) => u.receivedPps);
  const sentPps = udp.map((u) => u.sentPps);
  const loss = udp.map((u) => u.lossPercent);
  return {
    path,
    label: PATH_LABELS[path],
    rounds: rounds.length,
    tcp: {
      mbitPerSecond: medianOf(mbit, 1),
      retransmits: optionalMedian(retransmits, 0),
      cpuSeconds: cpuMedian(tcp.map((t) => t.cpuSeconds)),
    },
    udp: {
      receivedPps: medianOf(receivedPps, 0),
      sentPps: medianOf(sentPps, 0),
      lossPercent: medianOf(loss, 2),
      cpuSeconds: cpuMedian(udp.map((u) => u.cpuSeconds)),
    },
    perRound: {
      tcpMbitPerSecond: mbit.map((m) => round(m, 1)),
      udpReceivedPps: receivedPps.map((p) => Math.round(p)),
    },
  };
}

function ratioOf(top: number | undefined, bottom: number | undefined): number | undefined {
  if (top === undefined || bottom === undefined || bottom <= 0) return undefined;
  return round(top / bottom, 2);
}

/**
 * Medians per path (in a-b-c-d order, only the paths measured), the ratios between them and
 * whether the target holds. Ratios use the medians as rounded for display, so the printed
 * ratio is the one a reader gets by dividing the printed figures.
 */
export function summarise(rounds: readonly PathRound[]): EspBenchSummary {
  const paths = PATH_IDS.flatMap((id) => {
    const mine = rounds.filter((r) => r.path === id);
    return mine.length === 0 ? [] : [summarisePath(id, mine)];
  });
  const find = (id: PathId): PathSummary | undefined => paths.find((p) => p.path === id);
  const ratio = (top: PathId, bottom: PathId): Ratio => ({
    tcp: ratioOf(find(top)?.tcp.mbitPerSecond, find(bottom)?.tcp.mbitPerSecond),
    udpPps: ratioOf(find(top)?.udp.receivedPps, find(bottom)?.udp.receivedPps),
  });
  const ratios: Record<RatioName, Ratio> = {
    "c/b": ratio("c", "b"),
    "d/b": ratio("d", "b"),
    "d/a": ratio("d", "a"),
  };
  const check = (value: number | undefined): { value: number | undefined; met: boolean | undefined } => ({
    value,
    met: value === undefined ? undefined : value >= TARGET.atLeast,
  });
  return {
    paths,
    ratios,
    target: {
      ratio: TARGET.ratio,
      atLeast: TARGET.atLeast,
      tcp: check(ratios[TARGET.ratio].tcp),
      udpPps: check(ratios[TARGET.ratio].udpPps),
    },
  };
}
