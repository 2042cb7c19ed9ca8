/**
 * Where a Pavise failover's time went, read from the logs of one bench:failover run: etcd's own
 * (zap JSON lines, millisecond timestamps) for the election, the daemons' for what Pavise saw
 * and did. Parsing is pure; only {@link readFailoverTimeline} touches files. All processes run
 * on one machine, so their wall clocks agree with the bench's.
 */
import { readFileSync } from "node:fs";

export interface FailoverTimeline {
  /** A surviving etcd member first started an election (pre-vote or vote), ms after the fault. */
  etcdElectionStartedMs?: number;
  /** A surviving member became etcd's leader (and extended every lease by an election timeout). */
  etcdLeaderElectedMs?: number;
  /** The Pavise leader noted the failed node (its lease, and with it its node key, was gone). */
  nodeFailedMs?: number;
  /** The adoptive node had started the package (address added, ARP sent, service up). */
  startedMs?: number;
  /** Surviving daemons that fenced themselves (renewals unconfirmed for fence_after). */
  fenced: string[];
  /**
   * etcd leader changes between the first election and the fault: with nothing wrong but the
   * machine's load, a member missed heartbeats for an election timeout.
   */
  etcdLeaderChangesBeforeFault?: number;
  /** etcd's leadership handed over by Pavise (leader_away_from_packages) before the fault. */
  etcdLeaderMovesBeforeFault?: number;
  /** Daemons that fenced themselves before the fault, for the same reason or a stalled loop. */
  fencedBeforeFault?: string[];
}

/** How long after etcd's "became leader" a daemon logs the transfer it asked for, at the most. */
const MOVE_LOGGED_WITHIN_MS = 1_000;

/** Wall-clock times (ms since the epoch) of a member's election events in an etcd zap log. */
export function etcdElectionEvents(log: string): { electionStarted: number[]; becameLeader: number[] } {
  const electionStarted: number[] = [];
  const becameLeader: number[] = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) continue;
    let entry: { ts?: unknown; msg?: unknown };
    try {
      entry = JSON.parse(line) as { ts?: unknown; msg?: unknown };
    } catch {
      continue;
    }
    if (typeof entry.ts !== "string" || typeof entry.msg !== "string") continue;
    const at = Date.parse(entry.ts);
    if (!Number.isFinite(at)) continue;
    // raft/raft.go: "<id> is starting a new election at term N" (also logged before a pre-vote).
    if (entry.msg.includes("is starting a new election")) electionStarted.push(at);
    // raft/raft.go: "<id> became leader at term N".
    else if (/ became leader at term /.test(entry.msg)) becameLeader.push(at);
  }
  return { electionStarted, becameLeader };
}

export interface DaemonLogLine {
  at: number;
  node: string;
  event: string;
  message: string;
}

/** The text lines of `pavise daemon` (without --json): "ISO-time node event: message". */
export function daemonLogLines(log: string): DaemonLogLine[] {
  const lines: DaemonLogLine[] = [];
  for (const line of log.split("\n")) {
    const match = /^(\d{4}-\d\d-\d\dT\S+Z) (\S+) ([a-z-]+): (.*)$/.exec(line);
    if (!match) continue;
    lines.push({ at: Date.parse(match[1]!), node: match[2]!, event: match[3]!, message: match[4]! });
  }
  return lines;
}

/**
 * The timeline after a fault at `faultAt` (ms since the epoch), from the etcd logs of the
 * members that survived, the faulty member's (read for what came before the fault only) and the
 * daemon logs of every node. `crashedNode`: the package node that died, whose failure and
 * takeover elsewhere are timed; without one (only etcd's leader died), any node's.
 */
export function failoverTimeline(
  faultAt: number,
  crashedNode: string | undefined,
  etcdLogs: readonly string[],
  daemonLogs: readonly string[],
  faultyEtcdLog = "",
): FailoverTimeline {
  const after = (times: number[]): number | undefined => {
    const later = times.filter((t) => t >= faultAt);
    return later.length === 0 ? undefined : Math.min(...later) - faultAt;
  };
  const elections = etcdLogs.map(etcdElectionEvents);
  const allLines = daemonLogs.flatMap(daemonLogLines);
  const lines = allLines.filter((l) => l.at >= faultAt);
  const fencedIn = (part: DaemonLogLine[]): string[] =>
    [...new Set(part.filter((l) => l.event === "fenced").map((l) => l.node))].sort();
  // A leadership Pavise handed over (etcd-leader-moved, logged once the transfer is done) is
  // no election: its "became leader" comes just before the daemon's line.
  const moves = allLines.filter((l) => l.event === "etcd-leader-moved").map((l) => l.at);
  const isMove = (t: number): boolean => moves.some((m) => t <= m && m - t <= MOVE_LOGGED_WITHIN_MS);
  // Each leader change is logged once, by the member that won.
  const becameBefore = [...etcdLogs, faultyEtcdLog]
    .flatMap((log) => etcdElectionEvents(log).becameLeader)
    .filter((t) => t < faultAt);
  const movesBefore = becameBefore.filter(isMove).length;
  const timeline: FailoverTimeline = {
    fenced: fencedIn(lines),
    etcdLeaderChangesBeforeFault: Math.max(0, becameBefore.length - movesBefore - 1),
    etcdLeaderMovesBeforeFault: movesBefore,
    fencedBeforeFault: fencedIn(allLines.filter((l) => l.at < faultAt)),
  };
  const started = after(elections.flatMap((e) => e.electionStarted));
  const elected = after(elections.flatMap((e) => e.becameLeader).filter((t) => !isMove(t)));
  const failed = after(
    lines
      .filter(
        (l) =>
          l.event === "node-failed" &&
          (crashedNode === undefined || l.message.includes(`node ${crashedNode} `)),
      )
      .map((l) => l.at),
  );
  const up = after(lines.filter((l) => l.event === "started" && l.node !== crashedNode).map((l) => l.at));
  if (started !== undefined) timeline.etcdElectionStartedMs = started;
  if (elected !== undefined) timeline.etcdLeaderElectedMs = elected;
  if (failed !== undefined) timeline.nodeFailedMs = failed;
  if (up !== undefined) timeline.startedMs = up;
  return timeline;
}

/** Reads the logs (a file that cannot be read counts as empty) and builds the timeline. */
export function readFailoverTimeline(
  faultAt: number,
  crashedNode: string | undefined,
  etcdLogFiles: readonly string[],
  daemonLogFiles: readonly string[],
  faultyEtcdLogFile?: string,
): FailoverTimeline {
  const read = (file: string): string => {
    try {
      return readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };
  return failoverTimeline(
    faultAt,
    crashedNode,
    etcdLogFiles.map(read),
    daemonLogFiles.map(read),
    faultyEtcdLogFile === undefined ? "" : read(faultyEtcdLogFile),
  );
}

/** The IPsec steps of a run with an IPsec client (issue #6), from the daemons' logs. */
export interface IpsecContactTimeline {
  /** An adoptive node's package IPsec listened (`IPsec of <pkg> listens on …`), ms after the fault. */
  ipsecUpMs?: number;
  /** Package's IPsec up → the client's new IKE SA, as the adoptive node logged it (`ipsec-peer-contacted`). */
  contactMs?: number;
  /** The adoptive node recorded the client's new IKE SA (`ipsec-peer-recorded`), ms after the fault. */
  peerBackMs?: number;
}

/**
 * The first of each IPsec step after `faultAt` on a node other than `failedNode` for the peer
 * with identity `peerId`: agent-ipsec.ts logs "package P: IPsec peer ID (ADDR) contacted with
 * INITIAL_CONTACT N ms after the package's IPsec started" and "package P: peer ID (ADDR) recorded".
 */
export function ipsecContactTimeline(
  faultAt: number,
  failedNode: string,
  daemonLogs: readonly string[],
  peerId: string,
): IpsecContactTimeline {
  const lines = daemonLogs
    .flatMap(daemonLogLines)
    .filter((l) => l.at >= faultAt && l.node !== failedNode)
    .sort((a, b) => a.at - b.at);
  const up = lines.find((l) => l.event === "ipsec" && /^IPsec of \S+ listens on /.test(l.message));
  const contacted = lines
    .filter((l) => l.event === "ipsec-peer-contacted" && l.message.includes(`peer ${peerId} `))
    .map((l) => /INITIAL_CONTACT (\d+) ms after/.exec(l.message)?.[1])
    .find((v) => v !== undefined);
  const recorded = lines.find(
    (l) => l.event === "ipsec-peer-recorded" && l.message.includes(`peer ${peerId} `),
  );
  const timeline: IpsecContactTimeline = {};
  if (up) timeline.ipsecUpMs = up.at - faultAt;
  if (contacted !== undefined) timeline.contactMs = Number(contacted);
  if (recorded) timeline.peerBackMs = recorded.at - faultAt;
  return timeline;
}
