import { describe, expect, it } from "vitest";
import { TakeoverGrace } from "../../src/cluster/agent/takeover-grace.js";
import { decodeWatchEvents, type WireWatchResponse } from "../../src/cluster/etcd/wire.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";

// Captured from etcd 3.4.23's JSON gateway (POST /v3/watch on /pavise/lab/): n3's lease held its
// node key and the owner keys of web and db; n1 released app by deleting its owner key (revision
// 6), then n3's lease was revoked (revision 7: all three keys in one response).
const RELEASED_APP =
  '{"result":{"header":{"cluster_id":"7801232528081817440","member_id":"13458989633860879742","revision":"6","raft_term":"2"},"events":[{"type":"DELETE","kv":{"key":"L3BhdmlzZS9sYWIvb3duZXJzL2FwcC9uMQ==","mod_revision":"6"}}]}}';
const REVOKED_N3 =
  '{"result":{"header":{"cluster_id":"7801232528081817440","member_id":"13458989633860879742","revision":"7","raft_term":"2"},"events":[{"type":"DELETE","kv":{"key":"L3BhdmlzZS9sYWIvbm9kZXMvbjM=","mod_revision":"7"}},{"type":"DELETE","kv":{"key":"L3BhdmlzZS9sYWIvb3duZXJzL2RiL24z","mod_revision":"7"}},{"type":"DELETE","kv":{"key":"L3BhdmlzZS9sYWIvb3duZXJzL3dlYi9uMw==","mod_revision":"7"}}]}}';

const events = (line: string) =>
  decodeWatchEvents((JSON.parse(line) as { result: WireWatchResponse }).result);
const keys = new ClusterKeys("/pavise/lab/");

describe("takeover grace (timing.takeover_grace)", () => {
  it("holds back the packages of a node whose lease ended, for the grace from when it was seen", () => {
    const grace = new TakeoverGrace(keys, 250);
    expect(grace.observe(events(REVOKED_N3), 1_000)).toEqual([{ node: "n3", packages: ["db", "web"] }]);
    expect(grace.remaining("web", 1_000)).toEqual({ ms: 250, from: "n3" });
    expect(grace.remaining("db", 1_100)).toEqual({ ms: 150, from: "n3" });
    expect(grace.remaining("web", 1_250)).toBeUndefined();
    expect(grace.remaining("db", 1_249)).toEqual({ ms: 1, from: "n3" });
  });

  it("does not hold back a package its owner released (owner key deleted alone)", () => {
    const grace = new TakeoverGrace(keys, 250);
    expect(grace.observe(events(RELEASED_APP), 1_000)).toEqual([]);
    expect(grace.remaining("app", 1_000)).toBeUndefined();
  });

  it("counts from the batch that showed the end, and only for that node's packages", () => {
    const grace = new TakeoverGrace(keys, 250);
    grace.observe([...events(RELEASED_APP), ...events(REVOKED_N3)], 5_000);
    expect(grace.remaining("app", 5_000)).toBeUndefined();
    expect(grace.remaining("web", 5_100)?.ms).toBe(150);
  });

  it("waits for nothing with takeover_grace: 0", () => {
    const grace = new TakeoverGrace(keys, 0);
    expect(grace.observe(events(REVOKED_N3), 1_000)).toEqual([]);
    expect(grace.remaining("web", 1_000)).toBeUndefined();
  });
});
