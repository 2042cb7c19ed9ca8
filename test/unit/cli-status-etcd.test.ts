import { describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import { EtcdError } from "../../src/cluster/etcd/errors.js";
import { CLUSTER_ETCD_UNREACHABLE, etcdProblem } from "../../src/cli/cluster-etcd.js";
import { eventsCommand } from "../../src/cli/events-command.js";
import { statusCommand } from "../../src/cli/status-command.js";
import { PaviseError, describeError } from "../../src/util/errors.js";

// How pavise status / events report an etcd they cannot use, and how they are called.

const config = parseClusterConfig(`cluster_name: demo
etcd: { endpoints: [http://198.18.2.11:2379, http://198.18.2.12:2379] }
subnets: [{ name: public, cidr: 198.18.1.0/24 }]
nodes: [{ name: n1, interfaces: [{ subnet: public, primary: lan0 }] }]
packages: [{ name: web }]
`);

describe("pavise status: etcd problems", () => {
  it("names the endpoints, the file and the fix when no member answers", () => {
    const err = etcdProblem(
      new EtcdError("ETCD_UNREACHABLE", "no etcd member answered within 3000 ms"),
      "c.yaml",
      config,
    );
    expect(err).toBeInstanceOf(PaviseError);
    const text = describeError(err as PaviseError);
    expect((err as PaviseError).code).toBe(CLUSTER_ETCD_UNREACHABLE);
    expect(text).toContain("http://198.18.2.11:2379, http://198.18.2.12:2379");
    expect(text).toContain("at: c.yaml, key etcd.endpoints");
    expect(text).toContain("fix: check that etcd runs on those endpoints");
  });

  it("says etcd has no quorum when the members answer without a leader", () => {
    const err = etcdProblem(
      new EtcdError("ETCD_NO_LEADER", "198.18.2.11:2379: etcdserver: no leader"),
      "c.yaml",
      config,
    );
    expect((err as PaviseError).message).toMatch(/^etcd has no quorum/);
    expect((err as PaviseError).hint).toMatch(/majority/);
  });

  it("leaves errors that are not etcd's alone (a bug keeps its stack)", () => {
    const bug = new TypeError("x is undefined");
    expect(etcdProblem(bug, "c.yaml", config)).toBe(bug);
  });
});

describe("pavise status / events: usage", () => {
  it("needs --config (exit 2 through CLI_USAGE)", async () => {
    await expect(statusCommand([])).rejects.toMatchObject({ code: "CLI_USAGE" });
    await expect(eventsCommand([])).rejects.toMatchObject({ code: "CLI_USAGE" });
  });

  it("refuses an unknown option, and a --since that is not a duration", async () => {
    await expect(statusCommand(["--config", "c.yaml", "--bogus"])).rejects.toMatchObject({
      code: "CLI_USAGE",
    });
    await expect(eventsCommand(["--config", "c.yaml", "--since", "soon"])).rejects.toMatchObject({
      code: "CLI_USAGE",
      message: expect.stringContaining('"soon" is not a duration') as unknown,
    });
  });
});
