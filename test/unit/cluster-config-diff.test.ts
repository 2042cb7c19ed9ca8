import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import { diffClusterConfig, diffPackage } from "../../src/cluster/config/config-diff.js";
import type { PackageConfig, ServiceConfig, SubnetConfig } from "../../src/cluster/config/model.js";
import { describeChangeStep, packageChangeSteps } from "../../src/cluster/executor/package-change-steps.js";
import { packageConfig } from "../support/cluster-fixtures.js";

const example = readFileSync(new URL("../../examples/cluster.yaml", import.meta.url), "utf8");
const base = parseClusterConfig(example, "examples/cluster.yaml");

/** The example with `from` replaced by `to` (the text must contain `from` once). */
function edited(from: string, to: string): ReturnType<typeof parseClusterConfig> {
  expect(example.split(from).length - 1).toBe(1);
  return parseClusterConfig(example.replace(from, to), "edited.yaml");
}

const subnets: SubnetConfig[] = [
  { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
  { name: "backup", cidr: "198.18.3.0/24", heartbeat: false },
];

function service(name: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    name,
    command: `run ${name}`,
    restarts: 0,
    restartDelayMs: 1000,
    haltTimeoutMs: 10_000,
    failFast: false,
    ...overrides,
  };
}

describe("what a configuration change does to a running package (pure steps)", () => {
  const web = packageConfig("web", {
    addresses: [{ address: "198.18.1.50", subnet: "public" }],
    services: [service("db"), service("http")],
  });

  it("the same package: nothing to do", () => {
    expect(packageChangeSteps(web, { ...web }, subnets)).toEqual([]);
  });

  it("an added address is added, and nothing else is touched (services keep running)", () => {
    const next = { ...web, addresses: [...web.addresses, { address: "198.18.1.51", subnet: "public" }] };
    expect(packageChangeSteps(web, next, subnets).map(describeChangeStep)).toEqual([
      "adding address 198.18.1.51/24",
    ]);
  });

  it("a removed address is removed; one moved to another subnet is removed, then added there", () => {
    const removed = { ...web, addresses: [] };
    expect(packageChangeSteps(web, removed, subnets).map(describeChangeStep)).toEqual([
      "removing address 198.18.1.50/24",
    ]);
    const moved = { ...web, addresses: [{ address: "198.18.3.50", subnet: "backup" }] };
    expect(packageChangeSteps(web, moved, subnets).map(describeChangeStep)).toEqual([
      "removing address 198.18.1.50/24",
      "adding address 198.18.3.50/24",
    ]);
  });

  it("only the added, removed and re-commanded services are started or halted, halts before starts", () => {
    const next = {
      ...web,
      services: [service("db", { command: "run db --fast" }), service("cache")],
      addresses: [{ address: "198.18.1.52", subnet: "public" }],
    };
    expect(packageChangeSteps(web, next, subnets).map(describeChangeStep)).toEqual([
      "halting service http (removed)",
      "halting service db (changed)",
      "removing address 198.18.1.50/24",
      "adding address 198.18.1.52/24",
      "starting service db (changed)",
      "starting service cache (added)",
    ]);
  });

  it("timeouts, restart counts, scripts and policies are not steps: they are read at the next start", () => {
    const next: PackageConfig = {
      ...web,
      services: [
        service("db", { haltTimeoutMs: 2000, restarts: "unlimited" }),
        service("http", { failFast: true }),
      ],
      startScript: { command: "prepare", timeoutMs: 5000 },
      haltScript: { command: "tidy", timeoutMs: 5000 },
      priority: 3,
      nodes: ["n2", "n1"],
    };
    expect(packageChangeSteps(web, next, subnets)).toEqual([]);
  });
});

describe("the cluster configuration diff (what config apply prints, and when each change takes effect)", () => {
  it("the same configuration: no change, no refusal", () => {
    const diff = diffClusterConfig(base, parseClusterConfig(example));
    expect(diff).toEqual({
      changes: [],
      refusals: [],
      packages: { added: [], removed: [], changed: [] },
      nodes: { added: [], removed: [], changed: [] },
    });
  });

  it("a new cluster name or etcd prefix is refused, with the key and what to keep", () => {
    const renamed = diffClusterConfig(base, edited("cluster_name: pavise #", "cluster_name: other #"));
    expect(renamed.refusals.map((r) => [r.key, r.value])).toEqual([["cluster_name", "other"]]);
    expect(renamed.refusals[0]?.hint).toMatch(/keep cluster_name: pavise/);
    const moved = diffClusterConfig(base, edited("prefix: /pavise/pavise/", "prefix: /pavise/elsewhere/"));
    expect(moved.refusals.map((r) => r.key)).toEqual(["etcd.prefix"]);
  });

  it("timing and etcd endpoints are stored but take effect when each daemon restarts", () => {
    const next = edited("member_timeout: 2s #", "member_timeout: 3s #");
    const diff = diffClusterConfig(base, next);
    expect(diff.refusals).toEqual([]);
    expect(diff.changes).toContainEqual({
      subject: "timing",
      what: "member_timeout 2s → 3s",
      effect: "daemon-restart",
    });
    const endpoints = diffClusterConfig(base, edited(", http://198.18.2.13:2379]", "]"));
    expect(endpoints.changes.map((c) => [c.subject, c.effect])).toEqual([["etcd", "daemon-restart"]]);
  });

  it("a package added and one removed are online changes; a node's interfaces wait for its daemon", () => {
    const withoutExporter = example.slice(0, example.indexOf("  # A multi_node package"));
    const next = parseClusterConfig(
      `${withoutExporter}  - name: api\n    node_name: [n3]\n`.replace(
        "      - { subnet: heartbeat, primary: hb0 }\n  - name: n3",
        "      - { subnet: heartbeat, primary: hb0, standby: [hb1] }\n  - name: n3",
      ),
    );
    const diff = diffClusterConfig(base, next);
    expect(diff.packages).toEqual({ added: ["api"], removed: ["exporter"], changed: [] });
    expect(diff.nodes).toEqual({ added: [], removed: [], changed: ["n2"] });
    expect(diff.changes.map((c) => `${c.subject}: ${c.effect}`)).toEqual([
      "node n2: daemon-restart",
      "package api: online",
      "package exporter: online",
    ]);
  });

  it("a package change is listed field by field with when it takes effect", () => {
    const db = base.packages.find((p) => p.name === "db")!;
    const next = {
      ...db,
      priority: 5,
      addresses: [...db.addresses, { address: "198.18.1.61", subnet: "public" }],
      services: [{ ...db.services[0]!, haltTimeoutMs: 3000 }, service("backup")],
      haltScript: { command: "sync", timeoutMs: 1000 },
    };
    expect(diffPackage(db, next).map((c) => `${c.what} [${c.effect}]`)).toEqual([
      "priority 20 → 5 [scheduler]",
      "address 198.18.1.61 (public) added (on the node that runs it, with gratuitous ARP) [online]",
      "service kv halt_timeout 10s → 3s [next-start]",
      "service backup added (started where the package runs; other services keep running) [online]",
      "halt_script changed [next-start]",
    ]);
  });
});
