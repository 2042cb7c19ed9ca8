/**
 * `pavise config apply FILE` and `pavise config get --config FILE`: the applied cluster
 * configuration in etcd (cmapplyconf / cmgetconf). The work is in config-apply.ts and
 * src/cluster/config/applied-config.ts; this file parses arguments and prints.
 */

import { readAppliedConfig } from "../cluster/config/applied-config.js";
import { describeEffect } from "../cluster/config/config-diff.js";
import { etcdForOperator } from "../cluster/config/etcd-credentials.js";
import { EtcdClient } from "../cluster/etcd/client.js";
import { ClusterKeys } from "../cluster/membership/layout.js";
import { PaviseError } from "../util/errors.js";
import { etcdProblem } from "./cluster-etcd.js";
import { renderCheck } from "./config-command.js";
import {
  type ApplyResult,
  applier,
  applyClusterConfig,
  parseForApply,
  readConfigText,
} from "./config-apply.js";
import { connectCluster } from "./cluster-etcd.js";
import { makeOutput } from "./output.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const CONFIG_NOT_APPLIED = "CONFIG_NOT_APPLIED";

export async function configApply(args: string[], usage: string): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: "boolean" } }, usage, 1);
  const file = positionals[0];
  if (file === undefined) throw usageError("apply needs a FILE", usage);
  const output = makeOutput(values.json === true);
  const text = readConfigText(file);
  const parsed = parseForApply(text, file);
  if ("problems" in parsed) {
    const result: ApplyResult = {
      ok: false,
      file,
      reason: "invalid",
      problems: parsed.problems,
      revision: undefined,
    };
    output.result(result, () => renderApply(result));
    return 1;
  }
  const config = parsed.config;
  let client: EtcdClient;
  try {
    const etcd = etcdForOperator(config.etcd, file);
    client = new EtcdClient({ endpoints: etcd.endpoints, tls: etcd.tls, timeoutMs: 3000 });
  } catch (err) {
    throw etcdProblem(err, file, config);
  }
  try {
    const result = await applyClusterConfig({
      file,
      text,
      config,
      client,
      by: applier(),
      now: Date.now(),
    }).catch((err: unknown) => {
      throw etcdProblem(err, file, config);
    });
    output.result(result, () => renderApply(result));
    return result.ok ? 0 : 1;
  } finally {
    client.close();
  }
}

export async function configGet(args: string[], usage: string): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    { config: { type: "string" }, revision: { type: "string" }, json: { type: "boolean" } },
    usage,
    0,
  );
  if (values.config === undefined) throw usageError("get needs --config FILE", usage);
  let revision: number | undefined;
  if (values.revision !== undefined) {
    revision = Number(values.revision);
    if (!Number.isSafeInteger(revision) || revision < 1) {
      throw usageError(`--revision wants a revision number (1, 2, …), not '${values.revision}'`, usage);
    }
  }
  const { file, config, client } = connectCluster(values.config);
  const keys = new ClusterKeys(config.etcd.prefix);
  try {
    const stored = await readAppliedConfig(client, keys, revision === undefined ? {} : { revision }).catch(
      (err: unknown) => {
        throw etcdProblem(err, file, config);
      },
    );
    if (!stored) {
      throw new PaviseError(
        CONFIG_NOT_APPLIED,
        revision === undefined
          ? `no configuration has been applied to cluster ${config.name} yet (nothing at ${keys.config})`
          : `cluster ${config.name} has no applied revision ${revision} (nothing at ${keys.configRevision(revision)})`,
        {
          where: { file, key: revision === undefined ? keys.config : keys.configRevision(revision) },
          hint:
            revision === undefined
              ? `apply one with pavise config apply ${file}`
              : "pavise config get without --revision shows the latest and its number",
        },
      );
    }
    const { record } = stored;
    if (values.json === true) {
      process.stdout.write(
        `${JSON.stringify({ revision: record.revision, appliedAt: new Date(record.appliedAt).toISOString(), by: record.by, text: record.text }, null, 2)}\n`,
      );
    } else {
      // Byte for byte what was applied: no header, no added newline.
      process.stdout.write(record.text);
      process.stderr.write(
        `# revision ${record.revision}, applied ${new Date(record.appliedAt).toISOString()} by ${record.by}\n`,
      );
    }
    return 0;
  } finally {
    client.close();
  }
}

/** cmapplyconf-like: what was stored and what changes when, or why nothing was. */
export function renderApply(result: ApplyResult): string {
  if (!result.ok) {
    if (result.reason === "invalid") {
      return `${renderCheck({ ok: false, file: result.file, problems: result.problems })}\nnothing applied`;
    }
    const lines = result.problems.map(
      (p) =>
        `${result.file} ${p.key}${p.value === undefined ? "" : ` (value ${JSON.stringify(p.value)})`}: ${p.message} — ${p.hint}`,
    );
    const current =
      result.revision === undefined ? "nothing applied yet" : `revision ${result.revision} stays applied`;
    return [...lines, `${result.file}: refused, nothing stored (${current})`].join("\n");
  }
  const when = new Date(result.appliedAt).toISOString();
  if (result.unchanged) {
    return `${result.file}: already applied as revision ${result.revision} of cluster ${result.cluster} (${when} by ${result.by}); nothing stored`;
  }
  const head =
    result.previous === undefined
      ? `${result.file}: applied revision ${result.revision} of cluster ${result.cluster} (the first), ${when} by ${result.by}`
      : `${result.file}: applied revision ${result.revision} of cluster ${result.cluster} (replaces ${result.previous}), ${when} by ${result.by}`;
  if (!result.diff) {
    return `${head}\n  running daemons compare it with the configuration they run and change what differs`;
  }
  const { changes, packages, nodes } = result.diff;
  if (changes.length === 0) return `${head}\n  no change in meaning (only the text differs)`;
  const lines = changes.map((c) => `  ${c.subject}: ${c.what} — ${describeEffect(c.effect, c.subject)}`);
  const counts = (what: string, sets: Record<string, string[]>): string[] => {
    const parts = Object.entries(sets)
      .filter(([, names]) => names.length > 0)
      .map(([how, names]) => `${names.length} ${how}`);
    return parts.length === 0 ? [] : [`${what} ${parts.join(", ")}`];
  };
  const totals = [...counts("packages:", packages), ...counts("nodes:", nodes)];
  const restart = changes.some((c) => c.effect === "daemon-restart")
    ? [
        "  changes marked 'when each daemon restarts' are stored now and used by each daemon from its next start",
      ]
    : [];
  return [head, ...lines, ...(totals.length > 0 ? [`  ${totals.join("; ")}`] : []), ...restart].join("\n");
}
