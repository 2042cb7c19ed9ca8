import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigFollower } from "../../src/cluster/agent/config-follower.js";
import { type AppliedConfig, encodeAppliedConfig } from "../../src/cluster/config/applied-config.js";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import type { ClusterConfig } from "../../src/cluster/config/model.js";
import type { EtcdClient } from "../../src/cluster/etcd/client.js";
import type { WatchBatch } from "../../src/cluster/etcd/watch.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { until } from "../support/until.js";

const example = readFileSync(new URL("../../examples/cluster.yaml", import.meta.url), "utf8");
const keys = new ClusterKeys("/pavise/pavise/");

/** A client whose one watch delivers the batches a test pushes; nothing is stored. */
function watchedClient(): { client: EtcdClient; push: (record: AppliedConfig) => void } {
  const queue: WatchBatch[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  let modRevision = 10;
  const watch = {
    ready: Promise.resolve(1),
    close: () => {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator](): AsyncGenerator<WatchBatch> {
      while (!closed) {
        const batch = queue.shift();
        if (batch) yield batch;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  const client = { watch: () => watch, get: () => Promise.resolve(undefined) } as unknown as EtcdClient;
  const push = (record: AppliedConfig): void => {
    modRevision += 1;
    const kv = {
      key: keys.config,
      value: encodeAppliedConfig(record),
      createRevision: 10,
      modRevision,
      version: 1,
      lease: "0",
    };
    queue.push({ kind: "events", events: [{ type: "put", kv, prevKv: undefined }] });
    wake?.();
  };
  return { client, push };
}

function record(revision: number, text: string): AppliedConfig {
  return { revision, text, appliedAt: 1_790_000_000_000, by: "ops@admin1" };
}

describe("a daemon following the applied configuration", () => {
  it("switches to each newer revision in order, logs every change and when it takes effect, and skips what it cannot run", async () => {
    const { client, push } = watchedClient();
    const applied: ClusterConfig[] = [];
    const lines: string[] = [];
    const local = parseClusterConfig(example);
    const follower = ConfigFollower.start({
      client,
      keys,
      node: "n2",
      running: { config: local, revision: 1 },
      apply: (next) => {
        applied.push(next);
        return Promise.resolve(new Map([["web", { done: ["adding address 198.18.1.52/24"], problems: [] }]]));
      },
      log: (event, message) => lines.push(`${event}: ${message}`),
    });
    // This node's own interfaces change, web gets an address; an older revision comes late.
    const two = example
      .replace(
        "  - name: n2\n    interfaces:\n      - { subnet: public, primary: lan0, standby: [lan1] }",
        "  - name: n2\n    interfaces:\n      - { subnet: public, primary: lan0, standby: [lan1, lan2] }",
      )
      .replace(
        "      - { address: 198.18.1.50, subnet: public }",
        "      - { address: 198.18.1.50, subnet: public }\n      - { address: 198.18.1.52, subnet: public }",
      );
    push(record(2, two));
    push(record(1, example));
    await until(
      "revision 2",
      () => Promise.resolve(follower.revision),
      (r) => r === 2,
    );
    // A revision without this node is logged and not run.
    push(
      record(
        3,
        example
          .replace("node_name: [n2, n3, n1]", "node_name: [n3, n1]")
          .replace("node_name: [n1, n2, n3]", "node_name: [n1, n3]")
          .replace(/ {2}- name: n2\n {4}interfaces:\n.*\n.*\n/, ""),
      ),
    );
    await until(
      "revision 3 seen",
      () => Promise.resolve(follower.revision),
      (r) => r === 3,
    );
    await follower.stop();
    expect(applied).toHaveLength(1);
    expect(applied[0]?.packages.find((p) => p.name === "web")?.addresses.map((a) => a.address)).toEqual([
      "198.18.1.50",
      "198.18.1.52",
    ]);
    expect(lines).toEqual([
      "config: switching to revision 2 (by ops@admin1): 2 change(s)",
      "config-change: node n2: interfaces changed — this node's daemon cannot change them while it runs: at its next start",
      "config-change: package web: address 198.18.1.52 (public) added (on the node that runs it, with gratuitous ARP) — now",
      "config-applied: package web: adding address 198.18.1.52/24",
      "config: running revision 2",
      "problem: applied revision 3 has no node n2: this daemon keeps the configuration it runs; stop it (the node was removed from the cluster)",
    ]);
  });
});
