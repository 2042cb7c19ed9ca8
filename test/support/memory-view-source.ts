/**
 * TEST DOUBLE. An in-memory ClusterViewSource (src/api/view/view-source.ts) that the test drives
 * by hand: `publishView` and `publishEvent` play the cache's watch, `compactedBefore` plays
 * etcd's compaction. It exists only for the live stream hub's unit-level test (test/unit/
 * api-event-stream.test.ts), because the hub depends on nothing but this pure seam and the real
 * cache (view/cluster-view-cache.ts, which reads etcd) is built separately. Everything else in
 * that test is real: a node:http server, sockets and HTTP clients.
 */
import type { EventView, StatusView } from "../../src/api/schema/view-types.js";
import type { ClusterViewSource, EventFilter, ViewAtRevision } from "../../src/api/view/view-source.js";

export class MemoryViewSource implements ClusterViewSource {
  private latest: ViewAtRevision | undefined;
  private readonly log: EventView[] = [];
  private readonly viewListeners = new Set<(latest: ViewAtRevision) => void>();
  private readonly eventListeners = new Set<(event: EventView) => void>();
  /** Events at or below this revision are gone from "etcd" (eventsAfter answers "compacted"). */
  compactedBefore = 0;
  /** Calls of eventsAfter, to see what a reconnecting client asked for. */
  readonly replayRequests: number[] = [];
  /** Set to make eventsAfter wait (a slow etcd range read). */
  replayDelay: Promise<void> | undefined;

  current(): ViewAtRevision | undefined {
    return this.latest;
  }

  recentEvents(filter: EventFilter = {}): EventView[] {
    const picked = this.log.filter(
      (e) =>
        (filter.sinceRevision === undefined || e.revision > filter.sinceRevision) &&
        (filter.kind === undefined || e.kind === filter.kind) &&
        (filter.package === undefined || e.package === filter.package),
    );
    return filter.limit === undefined ? picked : picked.slice(-filter.limit);
  }

  async eventsAfter(revision: number): Promise<EventView[] | "compacted"> {
    this.replayRequests.push(revision);
    if (this.replayDelay) await this.replayDelay;
    if (revision < this.compactedBefore) return "compacted";
    return this.log.filter((e) => e.revision > revision);
  }

  onView(listener: (latest: ViewAtRevision) => void): () => void {
    this.viewListeners.add(listener);
    return () => this.viewListeners.delete(listener);
  }

  onEvent(listener: (event: EventView) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  get listeners(): number {
    return this.viewListeners.size + this.eventListeners.size;
  }

  publishView(view: StatusView, revision = view.cluster.revision): void {
    this.latest = { view, revision };
    for (const listener of [...this.viewListeners]) listener(this.latest);
  }

  /** Adds to the log without telling anyone (an event the stream missed while away). */
  record(event: EventView): void {
    this.log.push(event);
  }

  publishEvent(event: EventView): void {
    this.record(event);
    for (const listener of [...this.eventListeners]) listener(event);
  }
}

/** A small, valid StatusView at `revision`: two nodes, one package on n1. */
export function statusViewAt(revision: number, leader = "n1"): StatusView {
  return {
    cluster: { name: "lab", status: "up", leader, revision },
    etcd: { endpoints: [], reachable: 3, members: 3, quorum: true, leaderEndpoint: undefined },
    nodes: ["n1", "n2"].map((name) => ({
      name,
      status: "up",
      since: 1_700_000_000_000,
      subnetsUp: ["lan"],
      haltedByOperator: false,
      haltedBy: undefined,
    })),
    packages: [
      {
        name: "web",
        type: "failover",
        status: "up",
        state: "running",
        nodes: ["n1"],
        switching: true,
        disabledNodes: [],
        haltedByOperator: false,
        maintenance: false,
        requestedNode: undefined,
        changedBy: undefined,
        placedOn: undefined,
        shouldRun: true,
        since: 1_700_000_000_000,
        addresses: [{ address: "198.18.0.10", subnet: "lan", node: "n1", nic: "eth0", nicFrom: "reported" }],
        services: [],
        failedOn: [],
        dependencies: [],
      },
    ],
    healthy: true,
  };
}

export function eventAt(revision: number, kind = "started", extra: Partial<EventView> = {}): EventView {
  return {
    time: 1_700_000_000_000 + revision,
    node: "n1",
    kind,
    message: `${kind} at ${revision}`,
    revision,
    package: "web",
    ...extra,
  };
}
