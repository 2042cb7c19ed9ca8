import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultLabSpec, parseLabSpec, validateLabSpec } from "../../src/lab/spec.js";
import { PaviseError, describeError } from "../../src/util/errors.js";

function problemsOf(text: string): { key: string; value?: unknown; message: string }[] {
  try {
    parseLabSpec(text, "lab.yaml");
  } catch (err) {
    if (err instanceof PaviseError && err.code === "LAB_CONFIG_INVALID") return err.problems;
    throw err;
  }
  throw new Error("expected LAB_CONFIG_INVALID");
}

describe("lab spec", () => {
  it("labs/default.yaml is the default topology", () => {
    const text = readFileSync(new URL("../../labs/default.yaml", import.meta.url), "utf8");
    expect(parseLabSpec(text, "labs/default.yaml")).toEqual(defaultLabSpec());
  });

  it("labs/separate-etcd.yaml is the default topology with etcd on q1–q3", () => {
    const text = readFileSync(new URL("../../labs/separate-etcd.yaml", import.meta.url), "utf8");
    const spec = parseLabSpec(text, "labs/separate-etcd.yaml");
    expect(spec).toEqual(defaultLabSpec({ etcdPlacement: "separate" }));
    expect(spec.etcd.members).toEqual(["q1", "q2", "q3"]);
  });

  it("etcd.pre_vote is read, and must be true or false", () => {
    expect(parseLabSpec("etcd: { pre_vote: false }").etcd.preVote).toBe(false);
    expect(parseLabSpec("").etcd.preVote).toBe(true);
    expect(problemsOf("etcd: { pre_vote: 1 }")).toEqual([
      expect.objectContaining({ key: "etcd.pre_vote", message: "must be true or false" }),
    ]);
  });

  it("etcd.auth is read, must be true or false, and needs tls", () => {
    const spec = parseLabSpec("etcd: { tls: true, auth: true }");
    expect(spec.etcd).toMatchObject({ tls: true, auth: true });
    expect(parseLabSpec("etcd: { tls: true }").etcd.auth).toBe(false);
    expect(problemsOf("etcd: { tls: true, auth: 1 }").map((p) => p.key)).toEqual(["etcd.auth"]);
    const [noTls] = problemsOf("etcd: { auth: true }");
    expect(noTls?.key).toBe("etcd.auth");
    expect(noTls?.message).toMatch(/needs tls: true/);
    expect(defaultLabSpec({ etcdTls: true, etcdAuth: true }).etcd).toMatchObject({ tls: true, auth: true });
  });

  it("an empty file means the default lab", () => {
    expect(parseLabSpec("", "empty.yaml")).toEqual(defaultLabSpec());
  });

  it("the default spec is valid: 3 nodes, 2 clients, 3 etcd members", () => {
    const spec = defaultLabSpec();
    expect(validateLabSpec(spec)).toEqual([]);
    expect(spec.nodes).toHaveLength(3);
    expect(spec.clients).toHaveLength(2);
    expect(spec.etcd.members).toEqual(spec.nodes);
  });

  it("reports every problem at once, with key, value and a fix", () => {
    const problems = problemsOf(`
name: Bad-Name
subnets:
  - name: public
    cidr: 10.0.0.0/24
  - name: public
    cidr: 198.18.1.0/24
    colour: blue
nodes: [n1, n1, toolongname1]
etcd:
  members: [n9]
  heartbeat_interval_ms: 100
  election_timeout_ms: 200
`);
    const keys = problems.map((p) => p.key);
    expect(keys).toEqual(
      expect.arrayContaining([
        "name",
        "subnets[0].cidr",
        "subnets[1].name",
        "subnets[1].colour",
        "nodes[1]",
        "nodes[2]",
        "etcd.members[0]",
        "etcd.election_timeout_ms",
      ]),
    );
    expect(problems.find((p) => p.key === "subnets[0].cidr")?.message).toMatch(/outside 198\.18\.0\.0\/15/);
    for (const problem of problems) expect(problem).toMatchObject({ file: "lab.yaml" });
  });

  it("refuses overlapping subnets and subnets too small for the address plan", () => {
    const problems = problemsOf(`
subnets:
  - { name: a, cidr: 198.18.0.0/16 }
  - { name: b, cidr: 198.18.4.0/24 }
  - { name: c, cidr: 198.19.0.0/26 }
`);
    expect(problems.map((p) => [p.key, p.message])).toEqual([
      ["subnets[1].cidr", "overlaps subnets[0] (a)"],
      ["subnets[2].cidr", "is too small: nodes get .11 upwards and clients .101 upwards"],
    ]);
  });

  it("refuses a lab without a data subnet", () => {
    const problems = problemsOf(`subnets: [{ name: hb, cidr: 198.18.2.0/24, heartbeat: true }]`);
    expect(problems.map((p) => p.key)).toEqual(["subnets"]);
  });

  it("wrong types get a clear message, not a crash", () => {
    const problems = problemsOf(`
nodes: n1
clients: [1, 2]
etcd: { tls: "yes", heartbeat_interval_ms: -5 }
`);
    expect(problems.map((p) => p.key)).toEqual(
      expect.arrayContaining(["nodes", "clients", "etcd.tls", "etcd.heartbeat_interval_ms"]),
    );
  });

  it("bad YAML names the file", () => {
    try {
      parseLabSpec("nodes: [n1\n", "broken.yaml");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PaviseError);
      const error = err as PaviseError;
      expect(error.code).toBe("LAB_CONFIG_INVALID");
      expect(describeError(error)).toContain("broken.yaml");
    }
  });

  it("a list where a mapping belongs is reported", () => {
    expect(() => parseLabSpec("- a\n- b\n", "list.yaml")).toThrow(/must be a YAML mapping/);
  });

  it("the rendered error shows each problem and its fix", () => {
    try {
      parseLabSpec("name: X\n", "x.yaml");
      expect.unreachable();
    } catch (err) {
      const text = describeError(err as PaviseError);
      expect(text).toContain("error[LAB_CONFIG_INVALID]");
      expect(text).toContain('x.yaml: name (value "X")');
      expect(text).toContain("fix: e.g. name: pavise");
    }
  });
});

describe("lab spec regressions", () => {
  it("bug: an alias without its anchor threw a ReferenceError (found by the fuzz test)", () => {
    expect(() => parseLabSpec("nodes: [*an2, n3]\n", "alias.yaml")).toThrow(PaviseError);
  });

  it("bug: unknown tags and duplicate keys were only warnings on stderr", () => {
    expect(() => parseLabSpec("nodes: !!foo [n1]\n", "tag.yaml")).toThrow(/not valid YAML/);
    expect(() => parseLabSpec("name: a\nname: b\n", "dup.yaml")).toThrow(/unique/);
  });

  it("an alias bomb is refused, not expanded", () => {
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${"bcdefghij"[i]}: &${"bcdefghij"[i]} [${Array(10).fill(`*${"abcdefghij"[i]}`).join(", ")}]`,
      );
    expect(() => parseLabSpec(bomb.join("\n") + "\n", "bomb.yaml")).toThrow(PaviseError);
  });
});
