import { describe, expect, it } from "vitest";
import { etcdErrorFromGateway } from "../../src/cluster/etcd/errors.js";
import {
  decodeError,
  decodeKeyValue,
  decodeTxn,
  decodeWatchEvents,
  encodeCompare,
  encodeRange,
  encodeTxn,
  prefixEnd,
  type Txn,
  type WireTxnResponse,
  type WireWatchResponse,
} from "../../src/cluster/etcd/wire.js";

const b64 = (text: string): string => Buffer.from(text).toString("base64");

// Answers captured from etcd 3.4.23's gateway in the lab (curl -X POST …/v3/…).
const CAPTURED = {
  range: `{"header":{"cluster_id":"15004381248113610868","member_id":"8769906823343706296","revision":"2","raft_term":"2"},"kvs":[{"key":"L2EveA==","create_revision":"2","mod_revision":"2","version":"1","value":"aGVsbG8="}],"count":"1"}`,
  txnWon: `{"header":{"cluster_id":"15004381248113610868","member_id":"8769906823343706296","revision":"4764","raft_term":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"4764"}}}]}`,
  txnLost: `{"header":{"cluster_id":"15004381248113610868","member_id":"8769906823343706296","revision":"4764","raft_term":"2"},"responses":[{"response_range":{"header":{"revision":"4764"},"kvs":[{"key":"L28vcC9uMQ==","create_revision":"4764","mod_revision":"4764","version":"1","value":"bjE="}],"count":"1"}}]}`,
  watchCompacted: `{"result":{"header":{"cluster_id":"15004381248113610868","member_id":"8769906823343706296","raft_term":"2"},"canceled":true,"compact_revision":"4"}}`,
  watchEvents: `{"result":{"header":{"cluster_id":"15004381248113610868","member_id":"8769906823343706296","revision":"3","raft_term":"2"},"events":[{"kv":{"key":"L2EveA==","create_revision":"2","mod_revision":"2","version":"1","value":"aGVsbG8="}},{"kv":{"key":"L2EveQ==","create_revision":"3","mod_revision":"3","version":"1","value":"dg=="}}]}}`,
  unaryError: `{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}`,
  streamError: `{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}`,
};

describe("etcd wire: keys and ranges", () => {
  it("a prefix ranges to its last byte plus one (clientv3.GetPrefixRangeEnd)", () => {
    expect(Buffer.from(prefixEnd("/pavise/c1/owners/")).toString()).toBe("/pavise/c1/owners0");
    expect(Buffer.from(prefixEnd("a\u00ff"))).toEqual(Buffer.from([0x61, 0xc3, 0xc0]));
    expect(prefixEnd("")).toEqual(Uint8Array.of(0));
  });

  it("skips trailing 0xff bytes, and an all-0xff prefix ranges to the end", () => {
    // "\u{10FFFF}" is f4 8f bf bf in UTF-8: nothing to strip, the last byte is incremented.
    expect(Buffer.from(prefixEnd("\u{10ffff}"))).toEqual(Buffer.from([0xf4, 0x8f, 0xbf, 0xc0]));
  });

  it("encodes a prefix range with base64 key and range_end, revisions as strings", () => {
    expect(encodeRange("/a/", { prefix: true, revision: 7, serializable: true })).toEqual({
      key: b64("/a/"),
      range_end: b64("/a0"),
      revision: "7",
      serializable: true,
    });
    expect(encodeRange("/a/x")).toEqual({ key: b64("/a/x") });
  });

  it("encodes a bounded range of a log: newest keys first, or only keys changed after a revision", () => {
    // rpc.proto RangeRequest: sort_target/sort_order as enum names, min_mod_revision as int64 text.
    expect(
      encodeRange("/e/", { prefix: true, limit: 1000, sort: { target: "KEY", order: "DESCEND" } }),
    ).toEqual({
      key: b64("/e/"),
      range_end: b64("/e0"),
      limit: "1000",
      sort_target: "KEY",
      sort_order: "DESCEND",
    });
    expect(
      encodeRange("/e/", { prefix: true, minModRevision: 42, sort: { target: "MOD", order: "ASCEND" } }),
    ).toEqual({
      key: b64("/e/"),
      range_end: b64("/e0"),
      min_mod_revision: "42",
      sort_target: "MOD",
      sort_order: "ASCEND",
    });
  });

  it("decodes a captured range answer", () => {
    const body = JSON.parse(CAPTURED.range) as { kvs: object[] };
    expect(decodeKeyValue(body.kvs[0]!)).toEqual({
      key: "/a/x",
      value: "hello",
      createRevision: 2,
      modRevision: 2,
      version: 1,
      lease: "0",
    });
  });

  it("refuses integers beyond 2^53 rather than round them", () => {
    expect(() => decodeKeyValue({ create_revision: "9223372036854775807" })).toThrow(/integer/);
  });
});

describe("etcd wire: transactions", () => {
  const acquire: Txn = {
    compare: [{ key: "/o/p/", prefix: true, target: "create", op: "==", value: 0 }],
    success: [{ op: "put", key: "/o/p/n1", value: "n1", lease: "1204891146175578632" }],
    failure: [{ op: "get", key: "/o/p/", prefix: true }],
  };

  it("encodes the ownership transaction exactly as etcd 3.4 accepts it", () => {
    expect(encodeTxn(acquire)).toEqual({
      compare: [
        {
          key: b64("/o/p/"),
          range_end: b64("/o/p0"),
          target: "CREATE",
          result: "EQUAL",
          create_revision: "0",
        },
      ],
      success: [{ request_put: { key: b64("/o/p/n1"), value: b64("n1"), lease: "1204891146175578632" } }],
      failure: [{ request_range: { key: b64("/o/p/"), range_end: b64("/o/p0") } }],
    });
  });

  it("encodes every comparison target and operator", () => {
    expect(encodeCompare({ key: "k", target: "version", op: ">", value: 3 })).toEqual({
      key: b64("k"),
      target: "VERSION",
      result: "GREATER",
      version: "3",
    });
    expect(encodeCompare({ key: "k", target: "mod", op: "<", value: 9 })).toMatchObject({
      result: "LESS",
      mod_revision: "9",
    });
    expect(encodeCompare({ key: "k", target: "value", op: "!=", value: "x" })).toMatchObject({
      target: "VALUE",
      result: "NOT_EQUAL",
      value: b64("x"),
    });
    expect(encodeCompare({ key: "k", target: "lease", op: "==", value: "42" })).toMatchObject({
      target: "LEASE",
      lease: "42",
    });
  });

  it("names the bad value of a comparison", () => {
    expect(() => encodeCompare({ key: "k", target: "create", op: "==", value: "0" })).toThrow(
      /compare.value/,
    );
    expect(() => encodeCompare({ key: "k", target: "lease", op: "==", value: "12a" })).toThrow(/lease ID/);
  });

  it("decodes a won and a lost acquisition (captured)", () => {
    expect(decodeTxn(acquire, JSON.parse(CAPTURED.txnWon) as WireTxnResponse)).toEqual({
      succeeded: true,
      revision: 4764,
      results: [{ op: "put", revision: 4764 }],
    });
    const lost = decodeTxn(acquire, JSON.parse(CAPTURED.txnLost) as WireTxnResponse);
    expect(lost.succeeded).toBe(false);
    expect(lost.results[0]).toMatchObject({
      op: "get",
      count: 1,
      kvs: [{ key: "/o/p/n1", value: "n1", createRevision: 4764 }],
    });
  });

  it("decodes delete results", () => {
    const txn: Txn = { compare: [], success: [{ op: "delete", key: "k" }], failure: [] };
    expect(
      decodeTxn(txn, { succeeded: true, responses: [{ response_delete_range: { deleted: "1" } }] }).results,
    ).toEqual([{ op: "delete", deleted: 1 }]);
  });
});

describe("etcd wire: watch and errors", () => {
  it("decodes watch events in order (captured)", () => {
    const events = decodeWatchEvents(
      (JSON.parse(CAPTURED.watchEvents) as { result: WireWatchResponse }).result,
    );
    expect(events.map((e) => [e.type, e.kv.key, e.kv.modRevision, e.kv.value])).toEqual([
      ["put", "/a/x", 2, "hello"],
      ["put", "/a/y", 3, "v"],
    ]);
  });

  it("sees a compaction in a cancelled watch (captured)", () => {
    const response = (JSON.parse(CAPTURED.watchCompacted) as { result: WireWatchResponse }).result;
    expect(response.canceled).toBe(true);
    expect(response.compact_revision).toBe("4");
    expect(decodeWatchEvents(response)).toEqual([]);
  });

  it("reads both error shapes of the gateway (captured)", () => {
    expect(decodeError(JSON.parse(CAPTURED.unaryError))).toEqual({
      message: "etcdserver: requested lease not found",
      grpcCode: 5,
    });
    expect(decodeError(JSON.parse(CAPTURED.streamError))).toEqual({
      message: "etcdserver: no leader",
      grpcCode: 14,
    });
    expect(decodeError(JSON.parse(CAPTURED.range))).toBeUndefined();
  });

  it("classifies etcd's errors by what the caller may do next", () => {
    const code = (message: string, grpc: number): string => etcdErrorFromGateway(message, grpc, "e").code;
    expect(code("etcdserver: requested lease not found", 5)).toBe("ETCD_LEASE_NOT_FOUND");
    expect(code("etcdserver: mvcc: required revision has been compacted", 11)).toBe("ETCD_COMPACTED");
    // Refused before anything was proposed: safe to send elsewhere.
    expect(code("etcdserver: no leader", 14)).toBe("ETCD_NO_LEADER");
    expect(code("etcdserver: too many requests", 14)).toBe("ETCD_NO_LEADER");
    // Proposed, maybe applied.
    expect(code("etcdserver: request timed out", 14)).toBe("ETCD_OUTCOME_UNKNOWN");
    expect(code("etcdserver: leader changed", 14)).toBe("ETCD_OUTCOME_UNKNOWN");
    expect(code("context deadline exceeded", 2)).toBe("ETCD_OUTCOME_UNKNOWN");
    expect(code("etcdserver: duplicate key given in txn request", 3)).toBe("ETCD_REQUEST_FAILED");
    expect(etcdErrorFromGateway("etcdserver: no leader", 14, "e").retryable).toBe(true);
    expect(etcdErrorFromGateway("etcdserver: request timed out", 14, "e").retryable).toBe(false);
  });
});
