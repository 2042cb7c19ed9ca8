/**
 * etcd's v3 API as its JSON gateway speaks it (etcd 3.4: POST /v3/kv/range and friends, the
 * gRPC messages of rpc.proto in JSON): keys and values are base64, 64-bit integers are decimal
 * strings, fields that are zero are left out. This file turns our values into those messages and
 * back, and does nothing else (no I/O), so it is tested on its own.
 *
 * Keys and values are UTF-8 strings on our side: Pavise writes its own keys and JSON values.
 * Revisions are numbers (a revision fits in 2^53 for ages); lease IDs stay decimal strings
 * because they use all 64 bits.
 */

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  /** The lease the key is bound to, "0" for none. */
  lease: string;
}

export interface WatchEvent {
  type: "put" | "delete";
  /** For a delete: the key and the revision of the deletion (modRevision), empty value. */
  kv: KeyValue;
  prevKv: KeyValue | undefined;
}

/**
 * One comparison of a transaction (rpc.proto Compare). With `prefix`, every key under `key`
 * must satisfy it (etcd ≥ 3.3 compares a range; an empty range compares as one key that does
 * not exist, so `create == 0` over an empty prefix holds).
 */
export interface Compare {
  key: string;
  prefix?: boolean;
  target: "version" | "create" | "mod" | "value" | "lease";
  op: "==" | "!=" | ">" | "<";
  /** A number for version/create/mod, a string for value, a lease ID ("0": none) for lease. */
  value: number | string;
}

export type TxnOp =
  | { op: "put"; key: string; value: string; lease?: string }
  | { op: "get"; key: string; prefix?: boolean }
  | { op: "delete"; key: string; prefix?: boolean };

export interface Txn {
  compare: Compare[];
  success: TxnOp[];
  failure: TxnOp[];
}

export type TxnOpResult =
  | { op: "put"; revision: number }
  | { op: "get"; kvs: KeyValue[]; count: number }
  | { op: "delete"; deleted: number };

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (the revision of its writes if it wrote). */
  revision: number;
  /** Results of the branch that ran, in order. */
  results: TxnOpResult[];
}

// ---- wire messages (only the fields we use)

export interface WireHeader {
  revision?: string;
  member_id?: string;
  raft_term?: string;
}

export interface WireKeyValue {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

export interface WireRangeResponse {
  header?: WireHeader;
  kvs?: WireKeyValue[];
  count?: string;
  more?: boolean;
}

export interface WireTxnResponse {
  header?: WireHeader;
  succeeded?: boolean;
  responses?: {
    response_range?: WireRangeResponse;
    response_put?: { header?: WireHeader };
    response_delete_range?: { header?: WireHeader; deleted?: string };
  }[];
}

export interface WireWatchResponse {
  header?: WireHeader;
  watch_id?: string;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: { type?: "PUT" | "DELETE"; kv?: WireKeyValue; prev_kv?: WireKeyValue }[];
}

/** A gateway error: unary calls answer {error, message, code}; streams send {error: {...}} in a line. */
export interface WireError {
  error?: string | { grpc_code?: number; http_code?: number; message?: string; http_status?: string };
  message?: string;
  code?: number;
}

export function encodeKey(key: string | Uint8Array): string {
  return Buffer.from(typeof key === "string" ? Buffer.from(key, "utf8") : key).toString("base64");
}

function decodeText(base64: string | undefined): string {
  return base64 === undefined ? "" : Buffer.from(base64, "base64").toString("utf8");
}

function int(text: string | undefined): number {
  if (text === undefined) return 0;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`etcd sent ${text}, not an integer we can hold`);
  return value;
}

/**
 * The end of the key range that holds every key starting with `prefix` (clientv3.GetPrefixRangeEnd):
 * the prefix with its last byte below 0xff incremented and what follows dropped. A prefix of
 * only 0xff bytes (or an empty one) ranges to the end of the keyspace, "\0".
 */
export function prefixEnd(prefix: string): Uint8Array {
  const bytes = Buffer.from(prefix, "utf8");
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = bytes[i]! + 1;
      return end;
    }
  }
  return Uint8Array.of(0);
}

export function decodeKeyValue(kv: WireKeyValue): KeyValue {
  return {
    key: decodeText(kv.key),
    value: decodeText(kv.value),
    createRevision: int(kv.create_revision),
    modRevision: int(kv.mod_revision),
    version: int(kv.version),
    lease: kv.lease ?? "0",
  };
}

export function headerRevision(header: WireHeader | undefined): number {
  return int(header?.revision);
}

/** A range request for one key, or for every key under a prefix. */
/** rpc.proto RangeRequest sort_target/sort_order (etcd sorts before it applies the limit). */
export interface RangeSort {
  target: "KEY" | "MOD";
  order: "ASCEND" | "DESCEND";
}

export function encodeRange(
  key: string,
  options: {
    prefix?: boolean;
    revision?: number;
    serializable?: boolean;
    limit?: number;
    minModRevision?: number;
    sort?: RangeSort;
  } = {},
): Record<string, unknown> {
  return {
    key: encodeKey(key),
    ...(options.prefix ? { range_end: encodeKey(prefixEnd(key)) } : {}),
    ...(options.revision ? { revision: String(options.revision) } : {}),
    ...(options.serializable ? { serializable: true } : {}),
    ...(options.limit ? { limit: String(options.limit) } : {}),
    ...(options.minModRevision ? { min_mod_revision: String(options.minModRevision) } : {}),
    ...(options.sort ? { sort_target: options.sort.target, sort_order: options.sort.order } : {}),
  };
}

export function encodePut(key: string, value: string, lease?: string): Record<string, unknown> {
  return {
    key: encodeKey(key),
    value: encodeKey(value),
    ...(lease !== undefined && lease !== "0" ? { lease } : {}),
  };
}

export function encodeDelete(key: string, prefix = false): Record<string, unknown> {
  return { key: encodeKey(key), ...(prefix ? { range_end: encodeKey(prefixEnd(key)) } : {}) };
}

const TARGETS = { version: "VERSION", create: "CREATE", mod: "MOD", value: "VALUE", lease: "LEASE" } as const;
const RESULTS = { "==": "EQUAL", "!=": "NOT_EQUAL", ">": "GREATER", "<": "LESS" } as const;

export function encodeCompare(compare: Compare): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    key: encodeKey(compare.key),
    target: TARGETS[compare.target],
    result: RESULTS[compare.op],
  };
  if (compare.prefix) wire.range_end = encodeKey(prefixEnd(compare.key));
  switch (compare.target) {
    case "version":
    case "create":
    case "mod":
      if (typeof compare.value !== "number" || !Number.isSafeInteger(compare.value)) {
        throw new TypeError(
          `compare.value: ${compare.target} compares an integer, not ${String(compare.value)}`,
        );
      }
      wire[compare.target === "version" ? "version" : `${compare.target}_revision`] = String(compare.value);
      break;
    case "value":
      wire.value = encodeKey(String(compare.value));
      break;
    case "lease":
      if (!/^\d+$/.test(String(compare.value))) {
        throw new TypeError(`compare.value: a lease ID is a decimal integer, not ${String(compare.value)}`);
      }
      wire.lease = String(compare.value);
      break;
  }
  return wire;
}

export function encodeOp(op: TxnOp): Record<string, unknown> {
  switch (op.op) {
    case "put":
      return { request_put: encodePut(op.key, op.value, op.lease) };
    case "get":
      return { request_range: encodeRange(op.key, { prefix: op.prefix ?? false }) };
    case "delete":
      return { request_delete_range: encodeDelete(op.key, op.prefix ?? false) };
  }
}

export function encodeTxn(txn: Txn): Record<string, unknown> {
  return {
    compare: txn.compare.map(encodeCompare),
    success: txn.success.map(encodeOp),
    failure: txn.failure.map(encodeOp),
  };
}

/** Decodes a transaction answer; `txn` tells which branch ran and so what each result is. */
export function decodeTxn(txn: Txn, response: WireTxnResponse): TxnResult {
  const succeeded = response.succeeded === true;
  const ops = succeeded ? txn.success : txn.failure;
  const wire = response.responses ?? [];
  const results = ops.map((op, i): TxnOpResult => {
    const r = wire[i] ?? {};
    switch (op.op) {
      case "put":
        return { op: "put", revision: headerRevision(r.response_put?.header) };
      case "get": {
        const range = r.response_range ?? {};
        return { op: "get", kvs: (range.kvs ?? []).map(decodeKeyValue), count: int(range.count) };
      }
      case "delete":
        return { op: "delete", deleted: int(r.response_delete_range?.deleted) };
    }
  });
  return { succeeded, revision: headerRevision(response.header), results };
}

export function decodeWatchEvents(response: WireWatchResponse): WatchEvent[] {
  return (response.events ?? []).map((e) => ({
    type: e.type === "DELETE" ? "delete" : "put",
    kv: decodeKeyValue(e.kv ?? {}),
    prevKv: e.prev_kv ? decodeKeyValue(e.prev_kv) : undefined,
  }));
}

/** The message and gRPC code of a gateway error body, if it is one. */
export function decodeError(body: unknown): { message: string; grpcCode: number } | undefined {
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined;
  const error = (body as WireError).error;
  if (typeof error === "string") {
    return { message: (body as WireError).message ?? error, grpcCode: (body as WireError).code ?? 2 };
  }
  if (typeof error === "object" && error !== null) {
    return { message: error.message ?? "unknown error", grpcCode: error.grpc_code ?? 2 };
  }
  return undefined;
}

/** Integer fields of small answers (lease grant, keep-alive, time-to-live, status). */
export function wireInt(text: string | number | undefined): number {
  return typeof text === "number" ? text : int(text);
}
