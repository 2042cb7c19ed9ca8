import { describe, expect, it } from "vitest";
import { accessPolicyOf } from "../../src/api/auth/access-rules.js";
import {
  CLUSTER_CONFIG_INVALID,
  type ClusterConfigProblem,
  parseClusterConfig,
} from "../../src/cluster/config/cluster-config.js";
import { parse } from "yaml";
import { clusterConfigFromObject } from "../../src/cluster/config/cluster-config.js";
import { diffClusterConfig } from "../../src/cluster/config/config-diff.js";
import { PaviseError } from "../../src/util/errors.js";
import { randomJson, randomObject } from "../support/random-json.js";
import { seededRandom } from "../support/seeded-random.js";

/**
 * The cluster file's api: section and packages' access: (docs/operator-surfaces-design.md §3),
 * read from real YAML text: each rule with the problem it reports — file, line, key, value, fix.
 */
const NO_API = `cluster_name: c1
etcd:
  endpoints: [http://198.18.2.11:2379]
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
nodes:
  - name: n1
    interfaces: [{ subnet: public, primary: lan0 }]
  - name: n2
    interfaces: [{ subnet: public, primary: lan0 }]
packages:
  - name: web
    node_name: [n1, n2]
    ip_address: [{ address: 198.18.1.50, subnet: public }]
  - name: db
    node_name: [n2, n1]
`;

const API = `api:
  listen: ["0.0.0.0:7443"]
  tls:
    ca: /etc/pavise/api/ca.crt
    cert: /etc/pavise/api/{node}.crt
    key: /etc/pavise/api/{node}.key
  session_key_file: /etc/pavise/api/session.key
  session_ttl: 8h
  users:
    - { name: alice, role: full_admin, password_file: /etc/pavise/api/users/alice.scrypt }
    - { name: bob, role: package_admin }
    - { name: prometheus, role: monitor, token_file: /etc/pavise/api/users/prometheus.sha256 }
    - { name: ops, role: MONITOR, from: [198.18.2.0/24, 198.18.3.7] }
`;

const WITH_API = `${NO_API.replace("    ip_address: [{ address: 198.18.1.50, subnet: public }]\n", "    ip_address: [{ address: 198.18.1.50, subnet: public }]\n    access: [{ user: carol, role: package_admin }]\n")}${API}`;

function edit(text: string, ...changes: [string, string][]): string {
  let out = text;
  for (const [from, to] of changes) {
    if (!out.includes(from)) throw new Error(`not in the base file: ${from}`);
    out = out.replace(from, to);
  }
  return out;
}

function problemsOf(text: string): ClusterConfigProblem[] {
  try {
    parseClusterConfig(text, "cluster.yaml");
  } catch (err) {
    if (err instanceof PaviseError && err.code === CLUSTER_CONFIG_INVALID) return err.problems;
    throw err;
  }
  throw new Error("expected CLUSTER_CONFIG_INVALID");
}

/** The single problem at `key`, on the line that holds `marker`. */
function problemAt(text: string, key: string, marker: string): ClusterConfigProblem {
  const problems = problemsOf(text);
  const found = problems.filter((p) => p.key === key);
  expect(found, JSON.stringify(problems, null, 1)).toHaveLength(1);
  const problem = found[0] as ClusterConfigProblem;
  expect(problem.file).toBe("cluster.yaml");
  expect(problem.line).toBe(text.split("\n").findIndex((line) => line.includes(marker)) + 1);
  expect(problem.hint).not.toBe("");
  return problem;
}

describe("api: section", () => {
  it("absent: no API, and the configuration is as before", () => {
    const config = parseClusterConfig(NO_API, "cluster.yaml");
    expect(config.api).toBeUndefined();
    expect("api" in config).toBe(false);
    expect(config.packages[0]).not.toHaveProperty("access");
    expect(accessPolicyOf(config)).toBeUndefined();
  });

  it("reads listeners, TLS, session, users (USER_ROLE in either case) and package access", () => {
    const config = parseClusterConfig(WITH_API, "cluster.yaml");
    expect(config.api).toEqual({
      listen: ["0.0.0.0:7443"],
      tls: {
        ca: "/etc/pavise/api/ca.crt",
        cert: "/etc/pavise/api/{node}.crt",
        key: "/etc/pavise/api/{node}.key",
      },
      sessionKeyFile: "/etc/pavise/api/session.key",
      sessionTtlMs: 8 * 3_600_000,
      anonymous: "none",
      users: [
        {
          name: "alice",
          role: "full_admin",
          passwordFile: "/etc/pavise/api/users/alice.scrypt",
          tokenFile: undefined,
          from: [],
        },
        { name: "bob", role: "package_admin", passwordFile: undefined, tokenFile: undefined, from: [] },
        {
          name: "prometheus",
          role: "monitor",
          passwordFile: undefined,
          tokenFile: "/etc/pavise/api/users/prometheus.sha256",
          from: [],
        },
        {
          name: "ops",
          role: "monitor",
          passwordFile: undefined,
          tokenFile: undefined,
          from: ["198.18.2.0/24", "198.18.3.7"],
        },
      ],
    });
    expect(config.packages[0]?.access).toEqual([{ user: "carol", role: "package_admin", from: [] }]);
    expect(accessPolicyOf(config)?.rules).toContainEqual({
      user: "carol",
      role: "package_admin",
      package: "web",
      from: [],
    });
    expect(accessPolicyOf(config)?.rules).toHaveLength(5);
  });

  it("defaults: listen 0.0.0.0:7443, 8h sessions, no anonymous access, no users", () => {
    const config = parseClusterConfig(
      `${NO_API}api:\n  tls: { ca: /a/ca.crt, cert: /a/c.crt, key: /a/c.key }\n`,
      "cluster.yaml",
    );
    expect(config.api).toMatchObject({
      listen: ["0.0.0.0:7443"],
      sessionTtlMs: 28_800_000,
      anonymous: "none",
      users: [],
    });
  });

  it("refuses an api: without tls", () => {
    const text = `${NO_API}api:\n  users: []\n`;
    expect(problemAt(text, "api.tls", "api:").message).toMatch(/HTTPS only/);
  });

  it("refuses a secret written into the file, without printing it", () => {
    const text = edit(WITH_API, [
      "{ name: bob, role: package_admin }",
      "{ name: bob, role: package_admin, password: hunter2 }",
    ]);
    const problem = problemAt(text, "api.users[1].password", "name: bob");
    expect(problem.value).toBe("(hidden)");
    expect(JSON.stringify(problemsOf(text))).not.toContain("hunter2");
    expect(problem.hint).toMatch(/password_file/);
  });

  it("refuses a user listed twice (one role per user, as Serviceguard refuses conflicting policies)", () => {
    const text = edit(WITH_API, ["{ name: bob, role: package_admin }", "{ name: alice, role: monitor }"]);
    expect(problemAt(text, "api.users[1].name", "name: alice, role: monitor").message).toMatch(
      /listed twice.*one role/,
    );
  });

  it("refuses package access for a user who has a cluster-wide role", () => {
    const text = edit(WITH_API, ["access: [{ user: carol,", "access: [{ user: bob,"]);
    expect(problemAt(text, "packages[0].access[0].user", "access:").message).toMatch(
      /already has role package_admin/,
    );
  });

  it("refuses monitor or full_admin in a package's access (cluster-wide roles only)", () => {
    const text = edit(WITH_API, [
      "{ user: carol, role: package_admin }",
      "{ user: carol, role: full_admin }",
    ]);
    const problem = problemAt(text, "packages[0].access[0].role", "access:");
    expect(problem.message).toMatch(/cluster-wide role/);
    expect(problem.hint).toMatch(/api.users/);
  });

  it("refuses a user named like a node, or like root", () => {
    const node = edit(WITH_API, ["{ name: bob,", "{ name: n2,"]);
    expect(problemAt(node, "api.users[1].name", "{ name: n2, role").message).toMatch(/pose as that node/);
    const root = edit(WITH_API, ["{ user: carol,", "{ user: root,"]);
    expect(problemAt(root, "packages[0].access[0].user", "access:").message).toMatch(/reserved/);
  });

  it("refuses relative credential paths, a password login without a session key, bad USER_HOST prefixes", () => {
    const relative = edit(WITH_API, [
      "token_file: /etc/pavise/api/users/prometheus.sha256",
      "token_file: users/prometheus.sha256",
    ]);
    expect(problemAt(relative, "api.users[2].token_file", "prometheus").hint).toMatch(
      /^write e\.g\. \/etc\/pavise\/api\//,
    );
    const noKey = edit(WITH_API, ["  session_key_file: /etc/pavise/api/session.key\n", ""]);
    expect(problemAt(noKey, "api.users[0].password_file", "name: alice").message).toMatch(/session_key_file/);
    const badFrom = edit(WITH_API, ["198.18.3.7]", "198.18.3.7/24]"]);
    expect(problemAt(badFrom, "api.users[3].from[1]", "name: ops").message).toMatch(/IPv4 prefix/);
  });

  it("refuses bad listeners, unknown keys (did you mean), an unknown role and a short session", () => {
    const listen = edit(WITH_API, [
      'listen: ["0.0.0.0:7443"]',
      'listen: ["0.0.0.0:7443", "localhost:99999"]',
    ]);
    expect(problemAt(listen, "api.listen[1]", "listen:").hint).toMatch(/0\.0\.0\.0:7443/);
    const typo = edit(WITH_API, ["session_ttl: 8h", "sesion_ttl: 8h"]);
    expect(problemAt(typo, "api.sesion_ttl", "sesion_ttl").hint).toBe("rename it to session_ttl");
    const role = edit(WITH_API, ["role: full_admin, password_file", "role: fulladmin, password_file"]);
    expect(problemAt(role, "api.users[0].role", "name: alice").hint).toBe("write role: full_admin");
    const short = edit(WITH_API, ["session_ttl: 8h", "session_ttl: 10s"]);
    expect(problemAt(short, "api.session_ttl", "session_ttl").message).toMatch(/must be from/);
  });

  it("refuses package access when there is no api: section", () => {
    const text = WITH_API.slice(0, WITH_API.indexOf("api:"));
    expect(problemAt(text, "packages[0].access", "access:").message).toMatch(/no api: section/);
  });
});

describe("api: section under random input", () => {
  it("1,500 random api: sections and access: lists: a checked model or CLUSTER_CONFIG_INVALID with complete problems", () => {
    const seed = 0xa91;
    const random = seededRandom(seed);
    const base = parse(WITH_API) as { api: Record<string, unknown>; packages: Record<string, unknown>[] };
    const near = {
      keys: [
        "listen",
        "tls",
        "ca",
        "cert",
        "key",
        "session_key_file",
        "session_ttl",
        "anonymous",
        "users",
        "name",
        "role",
        "user",
        "password_file",
        "token_file",
        "from",
        "password",
      ],
      values: [
        "0.0.0.0:7443",
        "/etc/pavise/x",
        "x/y",
        "8h",
        "monitor",
        "package_admin",
        "full_admin",
        "alice",
        "n1",
        "root",
        "198.18.2.0/24",
        [],
        {},
      ],
    };
    let accepted = 0;
    for (let i = 0; i < 1500; i++) {
      const raw = structuredClone(base);
      const where = random();
      if (where < 0.3) raw.api = randomObject(random, near);
      else if (where < 0.6)
        raw.api = { ...raw.api, [near.keys[Math.floor(random() * 9)] as string]: randomJson(random, near) };
      else if (where < 0.8)
        raw.api = { ...raw.api, users: [randomObject(random, near), randomObject(random, near)] };
      else
        (raw.packages[0] as Record<string, unknown>).access =
          random() < 0.5 ? [randomObject(random, near)] : randomJson(random, near);
      try {
        clusterConfigFromObject(raw, "fuzz.yaml");
        accepted++;
      } catch (err) {
        const context = `seed ${seed} run ${i}: ${JSON.stringify(raw.api).slice(0, 400)}`;
        if (!(err instanceof PaviseError) || err.code !== CLUSTER_CONFIG_INVALID)
          throw new Error(`threw ${String(err)}: ${context}`);
        for (const p of err.problems) {
          if (!p.key || !p.message || !p.hint)
            throw new Error(`incomplete problem ${JSON.stringify(p)}: ${context}`);
        }
        const secret = err.problems.find((p) => /\.password$/.test(p.key) && p.value !== "(hidden)");
        if (secret)
          throw new Error(`a secret key's value was printed: ${JSON.stringify(secret)}: ${context}`);
      }
    }
    expect(accepted).toBeGreaterThan(10);
  });
});

describe("api: changes in config apply's summary", () => {
  const parsed = (text: string) => parseClusterConfig(text, "cluster.yaml");
  const changesOf = (a: string, b: string) => diffClusterConfig(parsed(a), parsed(b)).changes;

  it("adding or removing the API takes effect when each daemon restarts", () => {
    const noAccess = WITH_API.replace("    access: [{ user: carol, role: package_admin }]\n", "");
    expect(changesOf(NO_API, noAccess)).toEqual([
      { subject: "api", what: "added (listen 0.0.0.0:7443)", effect: "daemon-restart" },
    ]);
    expect(changesOf(noAccess, NO_API)).toEqual([
      { subject: "api", what: "removed (no HTTP API)", effect: "daemon-restart" },
    ]);
  });

  it("users and access apply online; listen and tls at restart", () => {
    const changed = edit(
      WITH_API,
      ['listen: ["0.0.0.0:7443"]', 'listen: ["0.0.0.0:8443"]'],
      ["{ name: bob, role: package_admin }", "{ name: bob, role: full_admin }"],
      ["    - { name: ops, role: MONITOR, from: [198.18.2.0/24, 198.18.3.7] }\n", ""],
      ["access: [{ user: carol, role: package_admin }]", "access: [{ user: dave, role: package_admin }]"],
    );
    expect(changesOf(WITH_API, changed)).toEqual([
      { subject: "api", what: "listen 0.0.0.0:7443 → 0.0.0.0:8443", effect: "daemon-restart" },
      { subject: "api", what: "user bob changed", effect: "online" },
      { subject: "api", what: "user ops removed", effect: "online" },
      { subject: "package web", what: "access dave", effect: "online" },
    ]);
    expect(diffClusterConfig(parsed(WITH_API), parsed(changed)).packages.changed).toEqual([]);
  });

  it("no api: on either side: no change listed", () => {
    expect(changesOf(NO_API, NO_API)).toEqual([]);
  });
});
