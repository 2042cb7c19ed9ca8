import { afterEach, describe, expect, it } from "vitest";
import {
  type MonitoredResource,
  monitoredResources,
  ResourceMonitors,
} from "../../src/cluster/agent/resource-monitors.js";
import { packageConfig } from "../support/cluster-fixtures.js";
import { until } from "../support/until.js";

const sfp = (command: string, intervalMs = 200): MonitoredResource => ({
  name: "sfp",
  command,
  intervalMs,
  initial: "up",
});

describe("monitoredResources", () => {
  it("takes the resources with a monitor of the packages that list the node, each name once", () => {
    const monitor = { command: "check-sfp", intervalMs: 5000 };
    const config = {
      packages: [
        packageConfig("web", {
          nodes: ["n1", "n2"],
          resources: [
            { name: "sfp", monitor, initial: "down" },
            { name: "manual", monitor: undefined, initial: "up" },
          ],
        }),
        packageConfig("db", {
          nodes: ["n2"],
          resources: [{ name: "sfp", monitor: { command: "other", intervalMs: 1 }, initial: "up" }],
        }),
        packageConfig("far", {
          nodes: ["n3"],
          resources: [{ name: "disk", monitor, initial: "up" }],
        }),
      ],
    };
    expect(monitoredResources(config, "n2")).toEqual([
      { name: "sfp", command: "check-sfp", intervalMs: 5000, initial: "down" },
    ]);
    expect(monitoredResources(config, "n3").map((r) => r.name)).toEqual(["disk"]);
    expect(monitoredResources(config, "n4")).toEqual([]);
  });
});

describe("ResourceMonitors with real commands", () => {
  let monitors: ResourceMonitors | undefined;
  afterEach(() => monitors?.stop());

  function watch(resource: MonitoredResource): { changes: string[] } {
    const seen = { changes: [] as string[] };
    monitors = new ResourceMonitors([resource], {
      node: "n1",
      onChange: (name, status, detail) => seen.changes.push(`${name} ${status}: ${detail}`),
    });
    return seen;
  }

  /** Waits (5 s at most) until sfp's status is `status`. */
  function sfpBecomes(status: "up" | "down", what = `sfp ${status}`): Promise<unknown> {
    return until(
      what,
      () => Promise.resolve(monitors!.statuses().sfp),
      (s) => s === status,
      5000,
    );
  }

  it("starts from the initial status and reports a failing check as down, with its output", async () => {
    const seen = watch(sfp("echo no light on port 1; exit 4"));
    expect(monitors!.statuses()).toEqual({ sfp: "up" });
    monitors!.start();
    await sfpBecomes("down");
    expect(seen.changes).toEqual(["sfp down: monitor exited with status 4: no light on port 1"]);
  });

  it("reports a change only when the status changes, and follows the command's environment", async () => {
    const flag = `/tmp/pavise-monitor-${process.pid}`;
    const seen = watch(sfp(`test "$PAVISE_RESOURCE/$PAVISE_NODE" = sfp/n1 && test ! -e ${flag}`, 50));
    monitors!.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen.changes).toEqual([]);
    const { writeFileSync, rmSync } = await import("node:fs");
    writeFileSync(flag, "");
    try {
      await sfpBecomes("down");
    } finally {
      rmSync(flag, { force: true });
    }
    await sfpBecomes("up", "sfp up again");
    expect(seen.changes).toEqual(["sfp down: monitor exited with status 1", "sfp up: monitor exited 0"]);
  });

  it("counts a check that outlives its interval as down and kills it", async () => {
    const seen = watch(sfp("sleep 30", 150));
    monitors!.start();
    await sfpBecomes("down");
    expect(seen.changes).toEqual(["sfp down: monitor did not finish within 150 ms"]);
  });
});

describe("ResourceMonitors.reconfigure (pavise config apply)", () => {
  it("keeps the status of a resource still configured, checks its new command, and drops removed ones", async () => {
    const changes: string[] = [];
    const monitors = new ResourceMonitors([sfp("exit 1", 100)], {
      node: "n1",
      onChange: (name, status) => changes.push(`${name} ${status}`),
    });
    try {
      monitors.start();
      await until(
        "sfp down",
        () => Promise.resolve(monitors.statuses().sfp),
        (s) => s === "down",
        5000,
      );
      monitors.reconfigure([
        sfp("exit 0", 100),
        { name: "disk", command: "exit 1", intervalMs: 100, initial: "up" },
      ]);
      expect(monitors.statuses()).toEqual({ sfp: "down", disk: "up" });
      await until(
        "sfp up, disk down",
        () => Promise.resolve(monitors.statuses()),
        (s) => s.sfp === "up" && s.disk === "down",
        5000,
      );
      monitors.reconfigure([]);
      expect(monitors.statuses()).toEqual({});
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(monitors.statuses()).toEqual({});
      expect(changes).toEqual(["sfp down", "sfp up", "disk down"]);
    } finally {
      monitors.stop();
    }
  });
});
