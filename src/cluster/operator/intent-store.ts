/**
 * Operator intent in etcd (admin/, resources/: layout.ts) changes read-modify-write: read the
 * key, apply the change, write it back in a transaction that compares the key's mod_revision
 * with the one read (0: the key did not exist). If another operator wrote in between, the
 * transaction fails and the change is applied again to what that operator wrote, so neither
 * change is lost. Changes are idempotent (they set values), so a write whose answer was lost
 * (ETCD_OUTCOME_UNKNOWN) is simply tried again the same way.
 */

import type { EtcdClient } from "../etcd/client.js";
import { EtcdError } from "../etcd/errors.js";
import { PaviseError } from "../../util/errors.js";

export const INTENT_CONTENDED = "OPERATOR_INTENT_CONTENDED";

/**
 * Applies `change` to the JSON value of `key` (undefined when absent); a change that returns
 * undefined deletes the key, one that returns `current` itself writes nothing. Returns the value
 * written and the revision it was written at.
 */
export async function updateIntent<T extends object>(
  client: EtcdClient,
  key: string,
  change: (current: T | undefined) => T | undefined,
  attempts = 20,
): Promise<{ value: T | undefined; revision: number }> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const kv = await client.get(key);
    const current = kv ? parseObject<T>(kv.value) : undefined;
    const next = change(current);
    if (next === current && (kv === undefined || current !== undefined)) {
      return { value: current, revision: kv?.modRevision ?? 0 };
    }
    try {
      const result = await client.txn({
        compare: [{ key, target: "mod", op: "==", value: kv?.modRevision ?? 0 }],
        success: [
          next === undefined ? { op: "delete", key } : { op: "put", key, value: JSON.stringify(next) },
        ],
        failure: [],
      });
      if (result.succeeded) return { value: next, revision: result.revision };
    } catch (err) {
      if (!(err instanceof EtcdError) || err.code !== "ETCD_OUTCOME_UNKNOWN") throw err;
    }
    // Someone else wrote it (or the answer was lost): read again and re-apply, a little later.
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * attempt)));
  }
  throw new PaviseError(INTENT_CONTENDED, `could not change ${key}: it kept changing under this command`, {
    hint: "another operator or script is changing the same package or node right now; try again",
  });
}

function parseObject<T>(value: string): T | undefined {
  try {
    const parsed = JSON.parse(value) as unknown;
    return parsed && typeof parsed === "object" ? (parsed as T) : undefined;
  } catch {
    return undefined;
  }
}
