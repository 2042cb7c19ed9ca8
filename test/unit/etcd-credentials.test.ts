import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import {
  ETCD_CREDENTIALS_INVALID,
  etcdForNode,
  etcdForOperator,
} from "../../src/cluster/config/etcd-credentials.js";
import type { EtcdConfig } from "../../src/cluster/config/model.js";
import { PaviseError } from "../../src/util/errors.js";
import { useTempDirs } from "../support/temp-dirs.js";

const tempDirs = useTempDirs("pavise-creds-");

const perNode: EtcdConfig = {
  endpoints: ["https://198.18.2.11:2379"],
  tls: {
    ca: "/etc/pavise/etcd/ca.crt",
    cert: "/etc/pavise/etcd/{node}.crt",
    key: "/etc/pavise/etcd/{node}.key",
    user: "{node}",
    passwordFile: "/etc/pavise/etcd/{node}.password",
  },
  prefix: "/pavise/c1/",
  leaderAwayFromPackages: true,
};

function files(): Record<"cert" | "key" | "password", string> {
  const dir = tempDirs.make();
  const out = { cert: join(dir, "op.crt"), key: join(dir, "op.key"), password: join(dir, "op.password") };
  for (const f of Object.values(out)) writeFileSync(f, "x\n");
  return out;
}

function refusal(f: () => unknown): PaviseError {
  try {
    f();
  } catch (err) {
    if (err instanceof PaviseError && err.code === ETCD_CREDENTIALS_INVALID) return err;
    throw err;
  }
  throw new Error("expected ETCD_CREDENTIALS_INVALID");
}

describe("etcd credentials of a daemon and of an operator command", () => {
  it("a daemon puts its node's name where etcd.tls says {node}", () => {
    expect(etcdForNode(perNode, "n2").tls).toEqual({
      ca: "/etc/pavise/etcd/ca.crt",
      cert: "/etc/pavise/etcd/n2.crt",
      key: "/etc/pavise/etcd/n2.key",
      user: "n2",
      passwordFile: "/etc/pavise/etcd/n2.password",
    });
    const plain = { ...perNode, tls: undefined };
    expect(etcdForNode(plain, "n2")).toBe(plain);
  });

  it("an operator command takes PAVISE_ETCD_* instead of a node's credentials", () => {
    const f = files();
    const env = {
      PAVISE_ETCD_CERT: f.cert,
      PAVISE_ETCD_KEY: f.key,
      PAVISE_ETCD_USER: "operator",
      PAVISE_ETCD_PASSWORD_FILE: f.password,
    };
    expect(etcdForOperator(perNode, "c.yaml", env).tls).toEqual({
      ca: "/etc/pavise/etcd/ca.crt",
      cert: f.cert,
      key: f.key,
      user: "operator",
      passwordFile: f.password,
    });
  });

  it("refuses a node's credentials for an operator command, naming the key and what to set", () => {
    const error = refusal(() => etcdForOperator(perNode, "c.yaml", {}));
    expect(error.message).toMatch(/etcd.tls.cert is a node's/);
    expect(error.where).toMatchObject({ file: "c.yaml", key: "etcd.tls.cert" });
    expect(error.hint).toMatch(/PAVISE_ETCD_CERT and PAVISE_ETCD_KEY/);
    const f = files();
    // The certificate given, the user still a node's.
    const userLeft = refusal(() =>
      etcdForOperator(perNode, "c.yaml", { PAVISE_ETCD_CERT: f.cert, PAVISE_ETCD_KEY: f.key }),
    );
    expect(userLeft.hint).toMatch(/PAVISE_ETCD_USER and PAVISE_ETCD_PASSWORD_FILE/);
  });

  it("refuses half a pair and files that do not exist", () => {
    const f = files();
    expect(refusal(() => etcdForOperator(perNode, "c.yaml", { PAVISE_ETCD_CERT: f.cert })).message).toBe(
      "PAVISE_ETCD_CERT is set but PAVISE_ETCD_KEY is not",
    );
    expect(
      refusal(() => etcdForOperator(perNode, "c.yaml", { PAVISE_ETCD_PASSWORD_FILE: f.password })).message,
    ).toBe("PAVISE_ETCD_PASSWORD_FILE is set but PAVISE_ETCD_USER is not");
    const missing = refusal(() =>
      etcdForOperator(perNode, "c.yaml", { PAVISE_ETCD_CERT: "/nonexistent/op.crt", PAVISE_ETCD_KEY: f.key }),
    );
    expect(missing.message).toBe("PAVISE_ETCD_CERT names /nonexistent/op.crt, which does not exist");
  });

  it("a file without etcd.tls needs no credentials, and refuses them", () => {
    const plain = { ...perNode, endpoints: ["http://198.18.2.11:2379"], tls: undefined };
    expect(etcdForOperator(plain, "c.yaml", {})).toBe(plain);
    const f = files();
    expect(
      refusal(() => etcdForOperator(plain, "c.yaml", { PAVISE_ETCD_CERT: f.cert, PAVISE_ETCD_KEY: f.key }))
        .message,
    ).toMatch(/PAVISE_ETCD_CERT, PAVISE_ETCD_KEY set, but c.yaml has no etcd.tls/);
  });
});

const fileWith = (tls: string): string => `cluster_name: c1
etcd:
  endpoints: [https://198.18.2.11:2379]
  tls: ${tls}
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
  - { name: heartbeat, cidr: 198.18.2.0/24, heartbeat: yes }
nodes:
  - name: n1
    interfaces:
      - { subnet: public, primary: lan0 }
      - { subnet: heartbeat, primary: hb0 }
packages: []
`;

function problems(text: string): { key: string; message: string }[] {
  try {
    parseClusterConfig(text, "cluster.yaml");
  } catch (err) {
    if (err instanceof PaviseError) return err.problems;
    throw err;
  }
  return [];
}

describe("etcd.tls in the cluster file: user and password_file", () => {
  it("reads the user and its password file, {node} kept for the daemon", () => {
    const config = parseClusterConfig(
      fileWith(
        '{ ca: /e/ca.crt, cert: "/e/{node}.crt", key: "/e/{node}.key", user: "{node}", password_file: "/e/{node}.pw" }',
      ),
      "cluster.yaml",
    );
    expect(config.etcd.tls).toEqual({
      ca: "/e/ca.crt",
      cert: "/e/{node}.crt",
      key: "/e/{node}.key",
      user: "{node}",
      passwordFile: "/e/{node}.pw",
    });
    expect(parseClusterConfig(fileWith("{ ca: /e/ca, cert: /e/c, key: /e/k }"), "c.yaml").etcd.tls).toEqual({
      ca: "/e/ca",
      cert: "/e/c",
      key: "/e/k",
    });
  });

  it("refuses a user without a password file and the reverse, and a relative password file", () => {
    const noPassword = problems(fileWith("{ ca: /e/ca, cert: /e/c, key: /e/k, user: n1 }"));
    expect(noPassword.map((p) => p.key)).toEqual(["etcd.tls.password_file"]);
    expect(noPassword[0]?.message).toMatch(/is missing/);
    expect(problems(fileWith("{ ca: /e/ca, cert: /e/c, key: /e/k, password_file: /e/pw }"))).toEqual([
      expect.objectContaining({ key: "etcd.tls.user" }),
    ]);
    const relative = problems(fileWith("{ ca: /e/ca, cert: /e/c, key: /e/k, user: n1, password_file: pw }"));
    expect(relative.map((p) => p.key)).toEqual(["etcd.tls.password_file"]);
    expect(relative[0]?.message).toMatch(/absolute/);
  });
});
