import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { configCommand } from "../../src/cli/config-command.js";
import { PaviseError } from "../../src/util/errors.js";

describe("pavise config check", () => {
  const scratch = mkdtempSync(join(tmpdir(), "pavise-config-"));
  let stdout: MockInstance<typeof process.stdout.write>;
  const printed = (): string => stdout.mock.calls.map(([chunk]) => String(chunk)).join("");
  beforeEach(() => {
    stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  });
  afterEach(() => stdout.mockRestore());
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  const bad = join(scratch, "bad.yaml");
  writeFileSync(
    bad,
    `cluster_name: demo
etcd: { endpoints: [http://198.18.2.11:2379] }
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
nodes:
  - name: n1
    interfaces: [{ subnet: public, primary: lan0 }]
packages:
  - name: web
    ip_address: [{ address: 198.18.3.50, subnet: public }]
    dependencies: [{ package: db }]
`,
  );

  it("exits 0 with a one-line summary for examples/cluster.yaml", () => {
    expect(configCommand(["check", "examples/cluster.yaml"])).toBe(0);
    expect(printed()).toBe("examples/cluster.yaml: valid — cluster pavise, 3 nodes, 3 packages\n");
  });

  it("exits 1 and prints file:line key (value): problem — fix, one per line, then the count", () => {
    expect(configCommand(["check", bad])).toBe(1);
    expect(printed().split("\n")).toEqual([
      `${bad}:10 packages[0].ip_address[0].address (value "198.18.3.50"): is not inside subnet public (198.18.1.0/24) — use a free address in 198.18.1.0/24, or the subnet this address belongs to`,
      `${bad}:11 packages[0].dependencies[0].package (value "db"): is not a package of this cluster — use one of the packages: web`,
      `${bad}: 2 problems`,
      "",
    ]);
  });

  it("--json prints the problems as an array in one document", () => {
    expect(configCommand(["check", bad, "--json"])).toBe(1);
    const result = JSON.parse(printed()) as { ok: boolean; problems: { line: number; key: string }[] };
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => [p.line, p.key])).toEqual([
      [10, "packages[0].ip_address[0].address"],
      [11, "packages[0].dependencies[0].package"],
    ]);
    stdout.mockClear();
    expect(configCommand(["check", "examples/cluster.yaml", "--json"])).toBe(0);
    expect(JSON.parse(printed())).toEqual({
      ok: true,
      file: "examples/cluster.yaml",
      cluster: "pavise",
      nodes: 3,
      packages: 3,
    });
  });

  it("an unreadable file is an error (exit 1 through the CLI's error path), not a check result", () => {
    expect(() => configCommand(["check", join(scratch, "missing.yaml")])).toThrow(/cannot read/);
    try {
      // check answers at once (a number); only apply and get talk to etcd.
      void configCommand(["check", join(scratch, "missing.yaml")]);
    } catch (err) {
      expect((err as PaviseError).code).toBe("CLUSTER_CONFIG_UNREADABLE");
    }
  });

  it.each([
    [["check"], /check needs a FILE/],
    [["check", "a.yaml", "b.yaml"], /unexpected argument 'b.yaml'/],
    [["check", "a.yaml", "--colour"], /Unknown option '--colour'/],
    [["frobnicate", "a.yaml"], /unknown config command 'frobnicate'/],
    [["apply"], /apply needs a FILE/],
    [["apply", "a.yaml", "b.yaml"], /unexpected argument 'b.yaml'/],
    [["get"], /get needs --config FILE/],
    [["get", "--config", "a.yaml", "--revision", "latest"], /--revision wants a revision number/],
  ])("usage error for %j", async (args, message) => {
    let error: unknown;
    try {
      await configCommand(args);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PaviseError);
    expect((error as PaviseError).code).toBe("CLI_USAGE");
    expect((error as PaviseError).message).toMatch(message);
  });

  it("help prints the usage (exit 0); no subcommand prints it and exits 2", () => {
    expect(configCommand(["help"])).toBe(0);
    expect(printed()).toContain("pavise config check FILE [--json]");
    expect(configCommand([])).toBe(2);
  });
});
