import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ClusterReader } from "../../src/api/view/cluster-read.js";
import { encodeAppliedConfig } from "../../src/cluster/config/applied-config.js";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { IPSEC_CLUSTER_YAML } from "../support/cluster-fixtures.js";
import { MemoryEtcd } from "../support/memory-etcd.js";

/**
 * The view cache's reader takes the configuration in force as `pavise status` does (the applied
 * record, else the file) and parses the record only when it changed.
 */
describe("cluster reader", () => {
  const fileText = readFileSync(new URL("../../examples/cluster.yaml", import.meta.url), "utf8");
  const file = parseClusterConfig(fileText, "examples/cluster.yaml");
  const keys = new ClusterKeys(file.etcd.prefix);

  it("reads the file's configuration until one is applied, then the applied one, parsed once per record", async () => {
    const etcd = new MemoryEtcd();
    const reader = new ClusterReader({
      file: "examples/cluster.yaml",
      config: file,
      client: etcd.asClient(),
      keys,
    });
    const before = await reader.read();
    expect(before.config).toBe(file);
    expect(before.config.packages.map((p) => p.name)).toEqual(file.packages.map((p) => p.name));

    await etcd.put(
      keys.config,
      encodeAppliedConfig({ revision: 1, text: IPSEC_CLUSTER_YAML, appliedAt: 1, by: "op@h" }),
    );
    const applied = await reader.read();
    expect(applied.config.packages.map((p) => p.name)).toEqual(["web"]);
    // etcd's settings stay the file's: that is how this node reached etcd.
    expect(applied.config.etcd).toEqual(file.etcd);
    expect(applied.state.packages.web).toBeDefined();
    // An unrelated change: the same parsed configuration, not a new parse.
    await etcd.put(keys.node("n1"), JSON.stringify({ status: "up", since: 1 }));
    const again = await reader.read();
    expect(again.config).toBe(applied.config);
    expect(again.snapshot.revision).toBeGreaterThan(applied.snapshot.revision);

    await etcd.put(
      keys.config,
      encodeAppliedConfig({ revision: 2, text: fileText, appliedAt: 2, by: "op@h" }),
    );
    const next = await reader.read();
    expect(next.config).not.toBe(applied.config);
    expect(next.config.packages.map((p) => p.name)).toEqual(file.packages.map((p) => p.name));
  });
});
