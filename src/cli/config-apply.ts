/**
 * `pavise config apply FILE` (cmapplyconf): check the file as `config check` does, compare it
 * with the applied revision, refuse what the running cluster cannot take, store the new
 * revision with a transaction on the previous one, and note it in the event log. The daemons
 * watch the record and switch online (src/cluster/agent/config-follower.ts).
 *
 * Refused, with nothing stored:
 * - an invalid file: every problem, as `config check` reports them;
 * - a new cluster name or etcd prefix (config-diff.ts);
 * - removing a node whose daemon is a member (halt it first: its packages move away);
 * - changing the package_type of a package that runs (halt the package first).
 */

import { EtcdError } from "../cluster/etcd/errors.js";
import { readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { PaviseError } from "../util/errors.js";
import { type ClusterSnapshot, readSnapshot } from "../cluster/agent/cluster-state.js";
import type { EtcdClient } from "../cluster/etcd/client.js";
import { ClusterKeys } from "../cluster/membership/layout.js";
import { appendEvent } from "../cluster/membership/node-registry.js";
import {
  type AppliedConfig,
  readAppliedConfig,
  writeAppliedConfig,
} from "../cluster/config/applied-config.js";
import {
  CLUSTER_CONFIG_INVALID,
  CLUSTER_CONFIG_UNREADABLE,
  type ClusterConfigProblem,
  parseClusterConfig,
} from "../cluster/config/cluster-config.js";
import { type ClusterConfigDiff, diffClusterConfig } from "../cluster/config/config-diff.js";
import type { ClusterConfig } from "../cluster/config/model.js";

export const CONFIG_APPLY_CONFLICT = "CONFIG_APPLY_CONFLICT";

export type ApplyResult =
  | {
      ok: true;
      file: string;
      cluster: string;
      revision: number;
      /** The revision it replaced; undefined for the first apply. */
      previous: number | undefined;
      appliedAt: number;
      by: string;
      /** The file is byte for byte the applied revision: nothing was stored. */
      unchanged: boolean;
      diff: ClusterConfigDiff | undefined;
    }
  | {
      ok: false;
      file: string;
      /** invalid: the file has problems; refused: it is valid but cannot be applied online. */
      reason: "invalid" | "refused";
      problems: ClusterConfigProblem[];
      /** The applied revision, unchanged (undefined when none, or etcd was not asked). */
      revision: number | undefined;
    };

/** The file as text, refused when it is not UTF-8 (the record keeps it byte for byte). */
export function readConfigText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new PaviseError(CLUSTER_CONFIG_UNREADABLE, `cannot read ${file}: ${(err as Error).message}`, {
      where: { file },
      hint: "give the path of a cluster configuration file (see examples/cluster.yaml)",
    });
  }
  const text = bytes.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(bytes)) {
    throw new PaviseError(CLUSTER_CONFIG_UNREADABLE, `${file} is not UTF-8 text`, {
      where: { file },
      hint: "save the file as UTF-8",
    });
  }
  return text;
}

/** Parses the file; an invalid one is a result with every problem, not an error. */
export function parseForApply(
  text: string,
  file: string,
): { config: ClusterConfig } | { problems: ClusterConfigProblem[] } {
  try {
    return { config: parseClusterConfig(text, file) };
  } catch (err) {
    if (err instanceof PaviseError && err.code === CLUSTER_CONFIG_INVALID) return { problems: err.problems };
    throw err;
  }
}

/** Who applies: the user behind sudo if any, at this host (cmapplyconf logs the same). */
export function applier(env: NodeJS.ProcessEnv = process.env): string {
  let user = env.SUDO_USER || env.USER;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  return `${user}@${hostname()}`;
}

export interface ApplyInput {
  file: string;
  text: string;
  config: ClusterConfig;
  client: EtcdClient;
  by: string;
  now: number;
}

export async function applyClusterConfig(input: ApplyInput): Promise<ApplyResult> {
  const { file, text, config, client } = input;
  const keys = new ClusterKeys(config.etcd.prefix);
  const [stored, snapshot] = await Promise.all([readAppliedConfig(client, keys), readSnapshot(client, keys)]);
  const refused = (problems: ClusterConfigProblem[]): ApplyResult => ({
    ok: false,
    file,
    reason: "refused",
    problems: problems.map((p) => ({ file, ...p })),
    revision: stored?.record.revision,
  });

  if (stored && stored.record.text === text) {
    return {
      ok: true,
      file,
      cluster: config.name,
      revision: stored.record.revision,
      previous: stored.record.revision,
      appliedAt: stored.record.appliedAt,
      by: stored.record.by,
      unchanged: true,
      diff: undefined,
    };
  }
  let diff: ClusterConfigDiff | undefined;
  if (stored) {
    const before = parseForApply(stored.record.text, `${keys.config} (revision ${stored.record.revision})`);
    // A revision this version no longer reads (its rules changed) is replaced without a diff.
    if ("config" in before) diff = diffClusterConfig(before.config, config);
  } else {
    const renamed = await renamedCluster(client, config);
    if (renamed) return refused([renamed]);
  }
  const problems = [...(diff?.refusals ?? []), ...(diff ? stateRefusals(diff, config, snapshot, keys) : [])];
  if (problems.length > 0) return refused(problems);

  const record: AppliedConfig = {
    revision: (stored?.record.revision ?? 0) + 1,
    text,
    appliedAt: input.now,
    by: input.by,
  };
  const outcome = await writeAppliedConfig(client, keys, record, stored?.modRevision ?? 0);
  if (!outcome.stored) {
    const latest = await readAppliedConfig(client, keys).catch(() => undefined);
    throw new PaviseError(
      CONFIG_APPLY_CONFLICT,
      `another apply stored revision ${latest?.record.revision ?? "?"}${latest ? ` (by ${latest.record.by})` : ""} while this one was checked: nothing was stored`,
      {
        where: { file, key: keys.config },
        hint: "look at what was applied (pavise config get), then run pavise config apply again",
      },
    );
  }
  await appendEvent(client, keys, {
    node: eventNode(input.by),
    kind: "config-applied",
    message: `configuration revision ${record.revision} applied by ${record.by}`,
    revision: record.revision,
    by: record.by,
    time: input.now,
  }).catch(() => undefined);
  return {
    ok: true,
    file,
    cluster: config.name,
    revision: record.revision,
    previous: stored?.record.revision,
    appliedAt: record.appliedAt,
    by: record.by,
    unchanged: false,
    diff,
  };
}

/** Refusals that depend on what runs now. */
function stateRefusals(
  diff: ClusterConfigDiff,
  config: ClusterConfig,
  snapshot: ClusterSnapshot,
  keys: ClusterKeys,
): ClusterConfigProblem[] {
  const problems: ClusterConfigProblem[] = [];
  for (const node of diff.nodes.removed) {
    const record = snapshot.nodes[node];
    // A key bound to no lease is what a node that left on purpose leaves behind: not a member.
    if (!record || record.lease === "0") continue;
    problems.push({
      key: "nodes",
      value: node,
      message: `node ${node} is removed but its daemon is a member of the cluster (${keys.node(node)} exists${record.status === "halted" ? ", it is leaving" : ""})`,
      hint: `halt node ${node} first (stop its pavise daemon: its packages move to other nodes), then apply again`,
    });
  }
  for (const pkg of config.packages) {
    const typeChanged = diff.changes.some(
      (c) => c.subject === `package ${pkg.name}` && c.what.startsWith("package_type "),
    );
    const runsOn = snapshot.owners.filter((o) => o.package === pkg.name).map((o) => o.node);
    if (typeChanged && runsOn.length > 0) {
      problems.push({
        key: `packages.${pkg.name}.package_type`,
        value: pkg.type,
        message: `package ${pkg.name} runs on ${runsOn.join(", ")}; its type cannot change while it runs (ownership differs between failover and multi_node packages)`,
        hint: `halt package ${pkg.name} first, or keep its package_type`,
      });
    }
  }
  return problems;
}

/**
 * With the default prefix (/pavise/<cluster_name>/), a new name means a new prefix where
 * nothing was applied yet: to etcd it looks like a first apply. If another cluster under
 * /pavise/ has one of this file's nodes, the name was most likely changed: refuse, naming it.
 */
async function renamedCluster(
  client: EtcdClient,
  config: ClusterConfig,
): Promise<ClusterConfigProblem | undefined> {
  if (config.etcd.prefix !== ClusterKeys.forCluster(config.name).prefix) return undefined;
  let range;
  try {
    range = await client.range("/pavise/");
  } catch (err) {
    // With etcd auth on, an operator may read only its own cluster's prefix: then it cannot see
    // another cluster to compare with, and the check (a hint, not a guard) is skipped.
    if (err instanceof EtcdError && err.code === "ETCD_PERMISSION_DENIED") return undefined;
    throw err;
  }
  const mine = new Set(config.nodes.map((n) => n.name));
  for (const kv of range.kvs) {
    const match = /^\/pavise\/([^/]+)\/config$/.exec(kv.key);
    if (!match || match[1] === config.name) continue;
    let other: ClusterConfig | undefined;
    try {
      const record = JSON.parse(kv.value) as { text?: unknown };
      other = typeof record.text === "string" ? parseClusterConfig(record.text) : undefined;
    } catch {
      other = undefined;
    }
    const shared = other?.nodes.map((n) => n.name).filter((n) => mine.has(n)) ?? [];
    if (other && shared.length > 0) {
      return {
        key: "cluster_name",
        value: config.name,
        message: `etcd holds cluster ${other.name} with node(s) ${shared.join(", ")}; a cluster's name cannot change while it runs (it names the etcd prefix /pavise/${other.name}/)`,
        hint: `keep cluster_name: ${other.name}, or give the new cluster other nodes`,
      };
    }
  }
  return undefined;
}

/** The event log's node field: the applying host (a name etcd keys accept). */
function eventNode(by: string): string {
  const host = by.split("@")[1] ?? "";
  const safe = host.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return safe === "" ? "operator" : safe;
}
