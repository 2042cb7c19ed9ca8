/**
 * Every kind of event a daemon writes to the cluster's event log (etcd `events/…`) and to its
 * stdout: one catalogue, so `hooks:` can be checked against it (a mistyped kind would silently
 * never fire) and the README and the API can list them. Pure.
 *
 * The kinds come from NodeAgent.event (node-agent.ts), AgentIpsec (agent-ipsec.ts),
 * EtcdLeaderSteering (etcd-leader-steering.ts) and the fail-fast path; `operator` is written by
 * the CLI (operator-action.ts), so no daemon runs hooks for it; the plans an operator command
 * causes (plan-move …) are hooked.
 */

export interface EventKind {
  kind: string;
  description: string;
}

export const EVENT_KINDS: readonly EventKind[] = [
  { kind: "started", description: "a package started on this node (its start steps all succeeded)" },
  {
    kind: "halted",
    description: "a package halted on this node (moved away, halted by an operator, or failed)",
  },
  {
    kind: "package-failed",
    description:
      "a package failed on this node (a service out of restarts, a start step, a subnet without link)",
  },
  { kind: "plan-start", description: "the leader placed a package on a node" },
  { kind: "plan-halt", description: "the leader halts a package on a node" },
  { kind: "plan-move", description: "the leader moves a package from one node to another" },
  { kind: "node-up", description: "the leader saw a node join (its lease exists)" },
  {
    kind: "node-failed",
    description: "the leader saw a node's lease lapse: it failed, and its packages start elsewhere",
  },
  { kind: "node-halted", description: "the leader saw a node leave on purpose (pavise node halt, SIGTERM)" },
  {
    kind: "node-fail-fast",
    description:
      "this node left the cluster at once (node_fail_fast or a service's fail_fast); written as it leaves, so no hook runs for it",
  },
  { kind: "resource-up", description: "a generic resource this node monitors came up" },
  { kind: "resource-down", description: "a generic resource this node monitors went down" },
  {
    kind: "etcd-leader-moved",
    description: "the leader moved etcd's leadership off a node that runs a failover package",
  },
  {
    kind: "ipsec-peer-contacted",
    description: "a package's IPsec peer was contacted with INITIAL_CONTACT after a start",
  },
  {
    kind: "ipsec-peer-unreachable",
    description: "a package's IPsec peer did not answer; the contact is retried",
  },
  { kind: "ipsec-peer-gave-up", description: "a package's IPsec peer was given up after its retries" },
  {
    kind: "operator",
    description:
      "an operator command (pavise pkg/node/resource …), written by the CLI, so no hook runs for it",
  },
];

export const KNOWN_EVENT_KINDS: readonly string[] = EVENT_KINDS.map((k) => k.kind);

/**
 * The kinds a hook gets when its `events:` is left out: the changes of a package's or a node's
 * state an operator is paged for (like Pacemaker's alerts on node and resource changes), not
 * the IPsec contact chatter.
 */
export const PACKAGE_STATE_KINDS: readonly string[] = [
  "started",
  "halted",
  "package-failed",
  "plan-move",
  "plan-start",
  "plan-halt",
  "node-failed",
  "node-halted",
  "node-up",
  "resource-down",
];

/** `events: [all]` in a hook: every kind, also kinds added later. */
export const ALL_EVENT_KINDS = "all";

export function describeEventKind(kind: string): string | undefined {
  return EVENT_KINDS.find((k) => k.kind === kind)?.description;
}
