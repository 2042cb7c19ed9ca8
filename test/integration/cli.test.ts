import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.js";
import type { LabStatus } from "../../src/lab/lab.js";
import { distPath } from "../../src/util/package-paths.js";
import { machineSnapshot } from "../support/machine-snapshot.js";

/** Runs the built `pavise` executable as a user would. */
function pavise(...args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [distPath("cli/main.js"), ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe("pavise lab (CLI)", () => {
  const name = "tcli";
  const scratch = mkdtempSync(join(tmpdir(), "pavise-cli-"));
  afterAll(async () => {
    await Lab.down(name);
    rmSync(scratch, { recursive: true, force: true });
  });

  it("lab up, then lab status shows 3 nodes, 2 clients and a healthy etcd within 30 s; lab down restores the machine", async () => {
    await Lab.down(name);
    const before = await machineSnapshot(name);
    const started = Date.now();
    const up = pavise("lab", "up", "labs/default.yaml", "--name", name);
    expect(up.stderr).toContain("etcd: 3 members healthy");
    expect(up.code).toBe(0);

    const status = pavise("lab", "status", "--lab", name, "--json");
    const elapsed = Date.now() - started;
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as LabStatus;
    expect(parsed.hosts.filter((h) => h.kind === "node" && h.present)).toHaveLength(3);
    expect(parsed.hosts.filter((h) => h.kind === "client" && h.present)).toHaveLength(2);
    expect(parsed.etcd.filter((m) => m.healthy)).toHaveLength(3);
    expect(elapsed).toBeLessThan(30_000);
    console.log(`pavise lab up + status: ${elapsed} ms`);

    const human = pavise("lab", "status", "--lab", name);
    expect(human.stdout).toMatch(/etcd: 3\/3 members healthy/);
    expect(human.stdout).toMatch(/n1\s+node\s+lan0\s+public\s+primary\s+up\s+198\.18\.1\.11\/24/);

    const exec = pavise(
      "lab",
      "exec",
      "--lab",
      name,
      "c1",
      "--",
      "ping",
      "-c",
      "1",
      "-W",
      "1",
      "198.18.1.13",
    );
    expect(exec.code).toBe(0);
    const failing = pavise("lab", "exec", "--lab", name, "c1", "--", "sh", "-c", "exit 7");
    expect(failing.code).toBe(7);

    const list = JSON.parse(pavise("lab", "list", "--json").stdout) as { name: string }[];
    expect(list.map((l) => l.name)).toContain(name);

    const down = pavise("lab", "down", name, "--json");
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout)).toMatchObject([
      { name, namespacesRemoved: expect.any(Array) as unknown },
    ]);
    expect(await machineSnapshot(name)).toEqual(before);
  });

  it("faults and probes from the command line", async () => {
    await Lab.down("tclif");
    const up = pavise("lab", "up", "--name", "tclif");
    expect(up.code).toBe(0);
    try {
      const fault = (...args: string[]) => pavise("lab", "fault", ...args, "--lab", "tclif");
      const probe = (...args: string[]) => pavise("lab", "probe", ...args, "--lab", "tclif");
      const ping = (to: string) =>
        pavise("lab", "exec", "--lab", "tclif", "c1", "--", "ping", "-c1", "-W1", to).code;

      expect(JSON.parse(probe("arp", "public", "198.18.1.12", "--json").stdout)).toEqual([
        { mac: "02:50:0a:02:00:01", host: "n2", nic: "lan0" },
      ]);
      expect(probe("holders", "198.18.1.12").stdout).toMatch(/n2\s+lan0\s+up/);

      expect(fault("cut", "n2", "--lan", "public").code).toBe(0);
      expect(ping("198.18.1.12")).not.toBe(0);
      expect(fault("heal").code).toBe(0);
      expect(ping("198.18.1.12")).toBe(0);

      const killed = JSON.parse(fault("kill", "etcd-n2", "--json").stdout) as { pid: number; host: string };
      expect(killed.host).toBe("n2");
      const status = JSON.parse(pavise("lab", "status", "--lab", "tclif", "--json").stdout) as LabStatus;
      expect(status.etcd.find((m) => m.name === "n2")?.healthy).toBe(false);
      expect(pavise("lab", "status", "--lab", "tclif").code).toBe(1); // unhealthy lab: non-zero

      const missing = fault("kill", "etcd-n2");
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("error[LAB_NO_SUCH_PROCESS]");
      expect(missing.stderr).toContain("etcd-n1");

      expect(fault("crash", "n3").code).toBe(0);
      expect(ping("198.18.1.13")).not.toBe(0);
      expect(fault("power-on", "n3").code).toBe(0);
      expect(fault("nic-down", "n1", "lan0").code).toBe(0);
      expect(ping("198.18.1.11")).not.toBe(0);
      expect(fault("nic-up", "n1", "lan0").code).toBe(0);
      // A pulled cable: the NIC stays up on the node but has no carrier.
      expect(fault("carrier-down", "n1", "lan0").code).toBe(0);
      const noCarrier = spawnSync("ip", ["-n", "tclif-n1", "-o", "link", "show", "lan0"], {
        encoding: "utf8",
      });
      expect(noCarrier.stdout).toContain("NO-CARRIER");
      expect(ping("198.18.1.11")).not.toBe(0);
      expect(fault("carrier-up", "n1", "lan0").code).toBe(0);

      const bad = fault("nic-down", "n1", "eth9");
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("error[LAB_UNKNOWN_NIC]");
      expect(bad.stderr).toContain("lan0, lan1, hb0");
      expect(fault("explode").code).toBe(2);
    } finally {
      await Lab.down("tclif");
    }
  });

  it("a bad lab file is reported with file, key, value and fix, and no stack trace", () => {
    const file = join(scratch, "bad.yaml");
    writeFileSync(
      file,
      "name: pv\nsubnets:\n  - { name: public, cidr: 10.1.0.0/24 }\nnodes: [n1]\nclients: []\n",
    );
    const result = pavise("lab", "up", file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("error[LAB_CONFIG_INVALID]");
    expect(result.stderr).toContain(`${file}: subnets[0].cidr (value "10.1.0.0/24")`);
    expect(result.stderr).toContain("fix: pick a subnet inside 198.18.0.0/15");
    expect(result.stderr).not.toMatch(/\n\s+at /);

    const json = pavise("lab", "up", file, "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: "LAB_CONFIG_INVALID" } });
  });

  it("a missing file, an unknown command and a wrong option get clear errors", () => {
    const missing = pavise("lab", "up", join(scratch, "nope.yaml"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("error[LAB_FILE_UNREADABLE]");

    const unknown = pavise("lab", "explode");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown lab command 'explode'");
    expect(unknown.stderr).toContain("pavise lab up");

    const option = pavise("lab", "status", "--colour");
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("--colour");

    const notUp = pavise("lab", "status", "--lab", "tnothere");
    expect(notUp.code).toBe(1);
    expect(notUp.stderr).toContain("error[LAB_NOT_FOUND]");
    expect(notUp.stderr).toContain("fix:");
  });
});

describe("pavise resource set (CLI)", () => {
  const scratch = mkdtempSync(join(tmpdir(), "pavise-cli-res-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("refuses a resource that its monitor command sets, before talking to etcd", () => {
    const file = join(scratch, "cluster.yaml");
    // etcd on a closed loopback port: the refusal must not need it.
    writeFileSync(
      file,
      `cluster_name: tres
etcd: { endpoints: [http://127.0.0.1:9] }
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
nodes:
  - name: n1
    interfaces: [{ subnet: public, primary: lan0 }]
packages:
  - name: web
    node_name: [n1]
    generic_resources:
      - name: uplink
        monitor: { command: "ping -c1 -W1 198.18.1.1", interval: 5s }
      - name: tape
`,
    );
    const monitored = pavise("resource", "set", "web", "uplink", "down", "--node", "n1", "--config", file);
    expect(monitored.code).toBe(2);
    expect(monitored.stderr).toContain(
      "generic resource uplink of package web is set by its monitor command",
    );
    expect(monitored.stderr).not.toMatch(/\n\s+at /);
    const unknown = pavise("resource", "set", "web", "tap", "down", "--node", "n1", "--config", file);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('did you mean "tape"');
  });
});
