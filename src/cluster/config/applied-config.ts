/**
 * The applied cluster configuration in etcd (`pavise config apply`, cmapplyconf): one record at
 * `<prefix>config` — the revision number, the file's exact text, when and by whom — and a copy
 * of every revision under `<prefix>config-history/` for `pavise config get --revision`.
 *
 * A new revision is written with one transaction that holds only if `<prefix>config` still has
 * the mod revision the writer read: of two applies at once, one wins and the other is told to
 * read again (Serviceguard lets one cmapplyconf run at a time; etcd gives us the same for free).
 */

import type { EtcdClient } from "../etcd/client.js";
import type { ClusterKeys } from "../membership/layout.js";
import { PaviseError } from "../../util/errors.js";

export const CONFIG_RECORD_INVALID = "CONFIG_RECORD_INVALID";

export interface AppliedConfig {
  /** 1 for the first apply, then one more each time. */
  revision: number;
  /** The file as it was applied, byte for byte (UTF-8). */
  text: string;
  /** When it was applied (ms since the epoch, the applying host's wall clock). */
  appliedAt: number;
  /** Who applied it: SUDO_USER or USER, @ the host name. */
  by: string;
}

/** A record as read back, with the etcd mod revision a next write must find unchanged. */
export interface StoredConfig {
  record: AppliedConfig;
  modRevision: number;
}

export function encodeAppliedConfig(record: AppliedConfig): string {
  return JSON.stringify({
    revision: record.revision,
    appliedAt: record.appliedAt,
    by: record.by,
    text: record.text,
  });
}

/** Parses a stored record; anything else is CONFIG_RECORD_INVALID naming the key. */
export function decodeAppliedConfig(value: string, key: string): AppliedConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const r = parsed as Partial<Record<keyof AppliedConfig, unknown>> | undefined;
  if (
    typeof r !== "object" ||
    r === null ||
    typeof r.revision !== "number" ||
    !Number.isSafeInteger(r.revision) ||
    r.revision < 1 ||
    typeof r.text !== "string" ||
    typeof r.appliedAt !== "number" ||
    typeof r.by !== "string"
  ) {
    throw new PaviseError(
      CONFIG_RECORD_INVALID,
      `the applied configuration at ${key} is not a Pavise record`,
      {
        where: { key, value: value.length > 80 ? `${value.slice(0, 77)}…` : value },
        hint: "it was written by something else than pavise config apply: apply the cluster file again",
      },
    );
  }
  return { revision: r.revision, text: r.text, appliedAt: r.appliedAt, by: r.by };
}

/** The applied configuration (the latest, or one revision of it); undefined when none is. */
export async function readAppliedConfig(
  client: EtcdClient,
  keys: ClusterKeys,
  options: { revision?: number } = {},
): Promise<StoredConfig | undefined> {
  const key = options.revision === undefined ? keys.config : keys.configRevision(options.revision);
  const kv = await client.get(key);
  if (!kv) return undefined;
  return { record: decodeAppliedConfig(kv.value, key), modRevision: kv.modRevision };
}

export type WriteOutcome =
  | { stored: true; etcdRevision: number }
  /** Someone applied another revision since `previous` was read. */
  | { stored: false };

/**
 * Stores `record` as the latest revision and in the history, only if the latest is still the
 * one read (`previousModRevision`; 0 when nothing was applied: etcd compares a missing key's
 * mod revision as 0).
 */
export async function writeAppliedConfig(
  client: EtcdClient,
  keys: ClusterKeys,
  record: AppliedConfig,
  previousModRevision: number,
): Promise<WriteOutcome> {
  const value = encodeAppliedConfig(record);
  const result = await client.txn({
    compare: [{ key: keys.config, target: "mod", op: "==", value: previousModRevision }],
    success: [
      { op: "put", key: keys.config, value },
      { op: "put", key: keys.configRevision(record.revision), value },
    ],
    failure: [],
  });
  return result.succeeded ? { stored: true, etcdRevision: result.revision } : { stored: false };
}
