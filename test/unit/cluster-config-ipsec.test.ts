import { describe, expect, it } from "vitest";
import {
  CLUSTER_CONFIG_INVALID,
  type ClusterConfigProblem,
  parseClusterConfig,
  validateClusterConfig,
} from "../../src/cluster/config/cluster-config.js";
import { diffClusterConfig } from "../../src/cluster/config/config-diff.js";
import { parseIpsecConfig } from "../../src/ike/config/ipsec-config.js";
import { PaviseError } from "../../src/util/errors.js";
import { IPSEC_CLUSTER_YAML } from "../support/cluster-fixtures.js";

/**
 * A package's ipsec: section (docs/ipsec-packages-design.md §3, §4), read from real YAML text:
 * every rule with the problem it reports — file, line, key, value, message and fix.
 */

const BASE = IPSEC_CLUSTER_YAML;

/** BASE with each [from, to] replaced; a `from` that is not in the text is a broken test. */
function edit(...changes: [string, string][]): string {
  let text = BASE;
  for (const [from, to] of changes) {
    if (!text.includes(from)) throw new Error(`not in the base file: ${from}`);
    text = text.replace(from, to);
  }
  return text;
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

/** The 1-based line of the first line of `text` that contains `marker`. */
function lineWith(text: string, marker: string): number {
  const index = text.split("\n").findIndex((line) => line.includes(marker));
  if (index < 0) throw new Error(`no line with ${marker}`);
  return index + 1;
}

/** The single problem at `key`, with its file and line checked against the line of `marker`. */
function problemAt(text: string, key: string, marker: string): ClusterConfigProblem {
  const problems = problemsOf(text);
  const found = problems.filter((p) => p.key === key);
  expect(found, JSON.stringify(problems, null, 1)).toHaveLength(1);
  const problem = found[0]!;
  expect(problem.file).toBe("cluster.yaml");
  expect(problem.line).toBe(lineWith(text, marker));
  return problem;
}

const CONNECTION = "packages[0].ipsec.connections.clients";

describe("a package's ipsec: section", () => {
  it("reads identity, credentials, contact defaults and the connection with swanctl's defaults", () => {
    const ipsec = parseClusterConfig(BASE, "cluster.yaml").packages[0]?.ipsec;
    expect(ipsec?.local).toEqual({
      auth: "pubkey",
      id: { kind: "fqdn", value: "web.pavise.test" },
      certs: ["/etc/pavise/ipsec/web/web.crt"],
      cacerts: [],
      key: "/etc/pavise/ipsec/web/web.key",
      rsaPss: false,
    });
    expect(ipsec?.contact).toEqual({ retryMs: 1_000, retryMaxMs: 60_000, giveUpMs: 600_000, parallel: 32 });
    expect(ipsec?.peersRetentionMs).toBe(86_400_000);
    const [clients] = ipsec?.connections ?? [];
    expect(clients?.initiate).toBe(true);
    expect(clients?.pskFile).toBeUndefined();
    // Empty: all the package's addresses, filled in when it starts.
    expect(clients?.connection.localAddrs).toEqual([]);
    expect(clients?.connection.local).toEqual(ipsec?.local);
    expect(clients?.connection.remoteAddrs).toEqual(["198.18.1.0/24"]);
    expect(clients?.connection.sendInitialContact).toBe(true);
    expect(clients?.connection.encap).toBe(true);
    expect(clients?.connection.children.map((c) => c.name)).toEqual(["net"]);
  });

  it("a package without ipsec: has none in its model", () => {
    const text = BASE.slice(0, BASE.indexOf("    ipsec:"));
    expect(parseClusterConfig(text).packages[0]?.ipsec).toBeUndefined();
  });

  it("the identity defaults to the package's first address", () => {
    const ipsec = parseClusterConfig(edit(["      identity: web.pavise.test\n", ""])).packages[0]?.ipsec;
    expect(ipsec?.local.id).toEqual({ kind: "ipv4", value: "198.18.1.50" });
  });

  it("reads connections exactly as pavise ipsec serve does: one shared reader", () => {
    const connection = `
          remote_addrs: [198.18.1.0/24]
          remote: { auth: pubkey, id: "C=CH, O=Pavise, CN=client", cacerts: [/etc/pavise/ipsec/ca.crt] }
          proposals: [aes256gcm16-prfsha384-ecp384]
          dpd_delay: 5s
          rekey_time: 2h
          retransmit: { timeout: 2s, tries: 3 }
          children:
            net:
              local_ts: ["198.18.1.50/32[tcp/443]"]
              remote_ts: [198.18.1.0/25]
              esp_proposals: [aes256gcm16]
              rekey_time: 20m
              life_bytes: 1G
              mode: tunnel
`;
    const cluster = parseClusterConfig(
      edit([
        `
          remote_addrs: [198.18.1.0/24]
          remote: { auth: pubkey, cacerts: [/etc/pavise/ipsec/clients-ca.crt] }
          children:
            net: { local_ts: [dynamic], remote_ts: [dynamic] }
`,
        connection,
      ]),
    );
    const serve = parseIpsecConfig(
      `connections:\n  clients:${connection.replace(/^ {8}/gm, "  ")}`,
      "/etc/pavise/ipsec.yaml",
    );
    const inPackage = cluster.packages[0]?.ipsec?.connections[0]?.connection;
    const [inServe] = serve.connections;
    // The package's own side is ipsec.identity + ipsec.credentials; everything else is the same.
    expect({ ...inPackage, local: undefined }).toEqual({ ...inServe, local: undefined });
    expect(inPackage?.children[0]?.rekeyTimeMs).toBe(1_200_000);
  });

  it("a change to ipsec: takes effect at the package's next start; a new address is not one", () => {
    const before = parseClusterConfig(BASE);
    const after = parseClusterConfig(
      edit(["remote_addrs: [198.18.1.0/24]", "remote_addrs: [198.18.1.0/25]"]),
    );
    expect(diffClusterConfig(before, after).changes).toEqual([
      { subject: "package web", what: "ipsec changed", effect: "next-start" },
    ]);
    const moreAddresses = parseClusterConfig(
      edit([
        "ip_address: [{ address: 198.18.1.50, subnet: public }]",
        "ip_address: [{ address: 198.18.1.50, subnet: public }, { address: 198.18.1.52, subnet: public }]",
      ]),
    );
    expect(diffClusterConfig(before, moreAddresses).changes.map((c) => c.what)).toEqual([
      "address 198.18.1.52 (public) added (on the node that runs it, with gratuitous ARP)",
    ]);
  });
});

describe("ipsec: problems, each with file, line, key, value and fix", () => {
  it("refuses ipsec: on a multi_node package (RFC 7296 §2.4)", () => {
    const text = edit(
      ["    node_name: [n1, n2]\n", "    package_type: multi_node\n    node_name: [n1, n2]\n"],
      ["    ip_address: [{ address: 198.18.1.50, subnet: public }]\n", ""],
    );
    const problem = problemAt(text, "packages[0].ipsec", "    ipsec:");
    expect(problem.message).toMatch(/multi_node package runs on several nodes at once/);
    expect(problem.message).toMatch(/RFC 7296 §2.4: INITIAL_CONTACT must not be sent by a replicated entity/);
    expect(problem.hint).toBe("remove ipsec, or use package_type: failover");
  });

  it("needs an ip_address to run IKE on", () => {
    const text = edit(["    ip_address: [{ address: 198.18.1.50, subnet: public }]\n", ""]);
    const problem = problemAt(text, "packages[0].ipsec", "    ipsec:");
    expect(problem.message).toMatch(/needs an ip_address/);
    expect(problem.hint).toMatch(/add ip_address/);
  });

  it("an address identity must be one of the package's ip_address entries", () => {
    const text = edit(["identity: web.pavise.test", "identity: 198.18.1.60"]);
    const problem = problemAt(text, "packages[0].ipsec.identity", "identity:");
    expect(problem.value).toBe("198.18.1.60");
    expect(problem.message).toMatch(/not one of the package's ip_address entries \(198.18.1.50\)/);
    expect(problem.hint).toBe("write identity: 198.18.1.50, or a name such as identity: web.example.org");
  });

  it("the identity is accepted when it is one of the addresses", () => {
    expect(() =>
      parseClusterConfig(edit(["identity: web.pavise.test", "identity: 198.18.1.50"])),
    ).not.toThrow();
  });

  it("a distinguished-name identity must be one IKE can send", () => {
    const text = edit(["identity: web.pavise.test", 'identity: "C=CH, ZZ=web"']);
    const problem = problemAt(text, "packages[0].ipsec.identity", "identity:");
    expect(problem.message).toMatch(/unknown attribute type "ZZ"/);
    expect(() =>
      parseClusterConfig(edit(["identity: web.pavise.test", 'identity: "C=CH, O=Pavise, CN=web"'])),
    ).not.toThrow();
  });

  it("the package's identity cannot be %any", () => {
    const text = edit(["identity: web.pavise.test", 'identity: "%any"']);
    const problem = problemAt(text, "packages[0].ipsec.identity", "identity:");
    expect(problem.message).toBe("the package's own identity cannot be %any");
  });

  it("refuses an inline secret without echoing it, and says to use a file", () => {
    const text = edit([
      "          remote_addrs: [198.18.1.0/24]\n",
      "          remote_addrs: [198.18.1.0/24]\n          secret: hunter2-very-secret\n",
    ]);
    const problem = problemAt(text, `${CONNECTION}.secret`, "secret:");
    expect(problem.value).toBe("(hidden)");
    expect(problem.message).toMatch(
      /secrets are not allowed in the cluster file: pavise config apply stores it in etcd/,
    );
    expect(problem.hint).toMatch(/psk_file: \/etc\/pavise\/ipsec\/web\/peer\.psk/);
    expect(JSON.stringify(problemsOf(text))).not.toContain("hunter2");
    // Refused once, not also as an unknown key.
    expect(problemsOf(text)).toHaveLength(1);
  });

  it("refuses swanctl's secrets: section and a psk in credentials too", () => {
    const text = edit(
      [
        "      connections:\n",
        "      secrets: { ike: [{ id: [a, b], secret: s3cr3t-value }] }\n      connections:\n",
      ],
      ["        auth: pubkey\n", "        auth: pubkey\n        psk: s3cr3t-value\n"],
    );
    expect(problemAt(text, "packages[0].ipsec.secrets", "secrets:").value).toBe("(hidden)");
    expect(problemAt(text, "packages[0].ipsec.credentials.psk", "psk:").value).toBe("(hidden)");
    expect(JSON.stringify(problemsOf(text))).not.toContain("s3cr3t");
  });

  it("a misspelt secret key is refused as a secret, so its value is never printed", () => {
    const text = edit([
      "remote: { auth: pubkey, cacerts: [/etc/pavise/ipsec/clients-ca.crt] }",
      "remote: { auth: pubkey, secert: typo-secret-value, cacerts: [/etc/pavise/ipsec/clients-ca.crt] }",
    ]);
    const problem = problemAt(text, `${CONNECTION}.remote.secert`, "remote:");
    expect(problem.value).toBe("(hidden)");
    expect(JSON.stringify(problemsOf(text))).not.toContain("typo-secret-value");
  });

  it("credential paths must be absolute: each node reads its own copy", () => {
    const text = edit(["key: /etc/pavise/ipsec/web/web.key", "key: web.key"]);
    const problem = problemAt(text, "packages[0].ipsec.credentials.key", "key: web.key");
    expect(problem.value).toBe("web.key");
    expect(problem.message).toBe("must be an absolute path: it names a file on every node of node_name");
    expect(problem.hint).toBe("write e.g. /etc/pavise/ipsec/web.key");
  });

  it("certificate and CA paths in the connection must be absolute too", () => {
    const text = edit(
      ["certs: [/etc/pavise/ipsec/web/web.crt]", "certs: [certs/web.crt]"],
      ["cacerts: [/etc/pavise/ipsec/clients-ca.crt]", "cacerts: [./ca.crt]"],
    );
    expect(problemAt(text, "packages[0].ipsec.credentials.certs[0]", "certs: [certs/web.crt]").hint).toBe(
      "write e.g. /etc/pavise/ipsec/certs/web.crt",
    );
    expect(problemAt(text, `${CONNECTION}.remote.cacerts[0]`, "remote:").hint).toBe(
      "write e.g. /etc/pavise/ipsec/ca.crt",
    );
  });

  it("a pubkey peer needs a trust anchor", () => {
    const text = edit([
      "remote: { auth: pubkey, cacerts: [/etc/pavise/ipsec/clients-ca.crt] }",
      "remote: { auth: pubkey }",
    ]);
    const problem = problemAt(text, `${CONNECTION}.remote.cacerts`, "remote:");
    expect(problem.message).toBe("certificate authentication needs a trust anchor");
    expect(problem.hint).toMatch(/give cacerts: \[/);
  });

  it("pubkey credentials need certs and key", () => {
    const text = edit(["        key: /etc/pavise/ipsec/web/web.key\n", ""]);
    const problem = problemAt(text, "packages[0].ipsec.credentials", "credentials:");
    expect(problem.message).toBe("pubkey authentication needs certs and key");
    expect(problem.hint).toMatch(/key: \/etc\/pavise\/ipsec\/web.key/);
  });

  it("credentials are required", () => {
    const text = edit([
      "      credentials:\n        auth: pubkey\n        certs: [/etc/pavise/ipsec/web/web.crt]\n        key: /etc/pavise/ipsec/web/web.key\n",
      "",
    ]);
    // A missing key is placed on the line of the section that should hold it.
    const problem = problemAt(text, "packages[0].ipsec.credentials", "    ipsec:");
    expect(problem.message).toBe("is missing");
  });

  it("psk authentication needs a psk_file, with an absolute path", () => {
    const psk = edit([
      "remote: { auth: pubkey, cacerts: [/etc/pavise/ipsec/clients-ca.crt] }",
      "remote: { auth: psk, id: c1.pavise.test }",
    ]);
    const missing = problemAt(psk, `${CONNECTION}.psk_file`, "        clients:");
    expect(missing.message).toBe("is missing: remote uses auth psk");
    expect(missing.hint).toMatch(/at least 32 random bytes, root 0600, on every node of node_name/);

    const relative = psk.replace(
      "remote: { auth: psk, id: c1.pavise.test }",
      "remote: { auth: psk, id: c1.pavise.test }\n          psk_file: c1.psk",
    );
    expect(problemAt(relative, `${CONNECTION}.psk_file`, "psk_file:").message).toMatch(/absolute path/);

    const fine = relative.replace("psk_file: c1.psk", "psk_file: /etc/pavise/ipsec/web/c1.psk");
    expect(parseClusterConfig(fine).packages[0]?.ipsec?.connections[0]?.pskFile).toBe(
      "/etc/pavise/ipsec/web/c1.psk",
    );
  });

  it("a psk_file that no side uses is a mistake", () => {
    const text = edit([
      "          remote_addrs: [198.18.1.0/24]\n",
      "          remote_addrs: [198.18.1.0/24]\n          psk_file: /etc/pavise/ipsec/web/x.psk\n",
    ]);
    expect(problemAt(text, `${CONNECTION}.psk_file`, "psk_file:").message).toBe(
      "is given, but neither side uses auth psk",
    );
  });

  it("unknown keys get a did-you-mean, at every level of the section", () => {
    const text = edit(
      ["identity: web.pavise.test", "identiy: web.pavise.test"],
      ["certs: [/etc/pavise/ipsec/web/web.crt]", "cert: [/etc/pavise/ipsec/web/web.crt]"],
      ["remote_addrs: [198.18.1.0/24]", "remote_adrs: [198.18.1.0/24]"],
      ["net: { local_ts: [dynamic]", "net: { local_tss: [dynamic]"],
    );
    const cases: [string, string, string][] = [
      ["packages[0].ipsec.identiy", "identiy:", "identity"],
      ["packages[0].ipsec.credentials.cert", "cert:", "certs"],
      [`${CONNECTION}.remote_adrs`, "remote_adrs:", "remote_addrs"],
      [`${CONNECTION}.children.net.local_tss`, "            net:", "local_ts"],
    ];
    for (const [key, marker, guess] of cases) {
      const problem = problemAt(text, key, marker);
      expect(problem.message).toBe(`unknown key (did you mean "${guess}"?)`);
      expect(problem.hint).toBe(`rename it to ${guess}`);
    }
  });

  it("a connection cannot have its own local side", () => {
    const text = edit([
      "          remote_addrs: [198.18.1.0/24]\n",
      "          remote_addrs: [198.18.1.0/24]\n          local: { auth: pubkey, id: other.pavise.test }\n",
    ]);
    const problem = problemAt(text, `${CONNECTION}.local`, "local:");
    expect(problem.message).toMatch(
      /one own side for all its connections: ipsec.identity and ipsec.credentials/,
    );
    expect(problem.hint).toMatch(/move id to ipsec.identity/);
  });

  it("local_addrs may name only the package's addresses", () => {
    const text = edit([
      "          remote_addrs: [198.18.1.0/24]\n",
      "          remote_addrs: [198.18.1.0/24]\n          local_addrs: [198.18.1.50, 198.18.1.11]\n",
    ]);
    const problem = problemAt(text, `${CONNECTION}.local_addrs[1]`, "local_addrs:");
    expect(problem.value).toBe("198.18.1.11");
    expect(problem.message).toMatch(/not one of the package's ip_address entries/);
    expect(problem.hint).toMatch(/remove local_addrs/);
  });

  it("local_ts must stay inside the package's subnets", () => {
    const text = edit(["local_ts: [dynamic]", "local_ts: [198.18.1.50/32, 198.18.3.0/24]"]);
    const problem = problemAt(text, `${CONNECTION}.children.net.local_ts[1]`, "            net:");
    expect(problem.value).toBe("198.18.3.0/24");
    expect(problem.message).toMatch(/reaches outside the package's subnets \(public 198.18.1.0\/24\)/);
    expect(problem.hint).toBe("write dynamic (the package's address), or a range inside 198.18.1.0/24");
    expect(() =>
      parseClusterConfig(edit(["local_ts: [dynamic]", 'local_ts: ["198.18.1.48/29[tcp/443]"]'])),
    ).not.toThrow();
  });

  it("no selector may take in the heartbeat subnet or an etcd endpoint", () => {
    const heartbeat = edit(["remote_ts: [dynamic]", "remote_ts: [198.18.0.0/15]"]);
    const problem = problemAt(heartbeat, `${CONNECTION}.children.net.remote_ts[0]`, "            net:");
    expect(problem.value).toBe("198.18.0.0/15");
    expect(problem.message).toBe(
      "takes in heartbeat subnet heartbeat (198.18.2.0/24): cluster traffic must never depend on a package's tunnel",
    );
    const etcd = edit(
      ["endpoints: [http://198.18.2.11:2379]", "endpoints: [http://198.18.1.11:2379]"],
      ["local_ts: [dynamic]", "local_ts: [198.18.1.0/28]"],
    );
    expect(problemAt(etcd, `${CONNECTION}.children.net.local_ts[0]`, "            net:").message).toMatch(
      /takes in an etcd endpoint \(198.18.1.11\)/,
    );
  });

  it("INITIAL_CONTACT and UDP encapsulation cannot be turned off", () => {
    const text = edit([
      "          remote_addrs: [198.18.1.0/24]\n",
      "          remote_addrs: [198.18.1.0/24]\n          send_initial_contact: no\n          encap: no\n",
    ]);
    expect(problemAt(text, `${CONNECTION}.send_initial_contact`, "send_initial_contact:").message).toMatch(
      /RFC 7296 §2.4/,
    );
    expect(problemAt(text, `${CONNECTION}.encap`, "encap:").hint).toBe("remove encap");
  });

  it("start_action: start is refused: contact after a failover replaces it", () => {
    const text = edit(["remote_ts: [dynamic] }", "remote_ts: [dynamic], start_action: start }"]);
    const problem = problemAt(text, `${CONNECTION}.children.net.start_action`, "            net:");
    expect(problem.hint).toMatch(/initiate: yes\|no/);
  });

  it("the client's re-establishing settings are refused: a package never initiates on its own", () => {
    const keying = edit([
      "          remote_addrs: [198.18.1.0/24]\n",
      "          remote_addrs: [198.18.1.0/24]\n          keyingtries: 0\n",
    ]);
    expect(problemAt(keying, `${CONNECTION}.keyingtries`, "keyingtries:").hint).toMatch(/ipsec.contact/);
    const dpd = edit(["remote_ts: [dynamic] }", "remote_ts: [dynamic], dpd_action: restart }"]);
    expect(problemAt(dpd, `${CONNECTION}.children.net.dpd_action`, "            net:").hint).toMatch(
      /client's configuration/,
    );
    const close = edit(["remote_ts: [dynamic] }", "remote_ts: [dynamic], close_action: start }"]);
    expect(problemAt(close, `${CONNECTION}.children.net.close_action`, "            net:").value).toBe(
      "start",
    );
  });

  it("initiate: must be yes or no", () => {
    const text = edit([
      "          remote_addrs: [198.18.1.0/24]\n",
      "          remote_addrs: [198.18.1.0/24]\n          initiate: sometimes\n",
    ]);
    expect(problemAt(text, `${CONNECTION}.initiate`, "initiate:").message).toBe("must be yes or no");
    const no = edit([
      "          remote_addrs: [198.18.1.0/24]\n",
      "          remote_addrs: [198.18.1.0/24]\n          initiate: no\n",
    ]);
    expect(parseClusterConfig(no).packages[0]?.ipsec?.connections[0]?.initiate).toBe(false);
  });

  it("proposals are checked before a failover needs them", () => {
    const text = edit([
      "remote_ts: [dynamic] }",
      "remote_ts: [dynamic], esp_proposals: [aes128gcm16-nosuchthing] }",
    ]);
    const problem = problemAt(text, `${CONNECTION}.children.net.esp_proposals[0]`, "            net:");
    expect(problem.value).toBe("aes128gcm16-nosuchthing");
    expect(problem.message).toMatch(/nosuchthing/);
  });

  it("contact timing must make sense", () => {
    const text = edit([
      "      connections:\n",
      "      contact: { retry: 5s, retry_max: 2s, parallel: 0 }\n      connections:\n",
    ]);
    expect(problemAt(text, "packages[0].ipsec.contact.retry_max", "contact:").message).toMatch(
      /is shorter than retry \(5s\)/,
    );
    expect(problemAt(text, "packages[0].ipsec.contact.parallel", "contact:").message).toBe(
      "must be from 1 to 1024",
    );
  });

  it("a section without connections is reported", () => {
    const text = BASE.slice(0, BASE.indexOf("      connections:"));
    expect(problemAt(text, "packages[0].ipsec.connections", "    ipsec:").message).toBe("is missing");
  });

  it("a model made in code is judged by the same rules", () => {
    const config = parseClusterConfig(BASE);
    const pkg = config.packages[0]!;
    pkg.type = "multi_node";
    pkg.addresses = [];
    expect(validateClusterConfig(config).map((p) => p.key)).toContain("packages[0].ipsec");
  });
});
