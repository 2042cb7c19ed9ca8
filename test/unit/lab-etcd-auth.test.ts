import { describe, expect, it } from "vitest";
import { etcdAuthCommands } from "../../src/lab/etcd-auth.js";

describe("the lab's etcd authentication commands", () => {
  const commands = etcdAuthCommands({ prefix: "/pavise/c1/", nodeUsers: ["n1", "n2"] }, (u) => `pw-${u}`);
  const lines = commands.map((c) => c.join(" "));

  it("root first (auth enable needs it), auth enable last", () => {
    expect(lines.slice(0, 2)).toEqual([
      "user add root:pw-root --interactive=false",
      "user grant-role root root",
    ]);
    expect(lines.at(-1)).toBe("auth enable");
  });

  it("nodes read and write the whole prefix; monitors only read it", () => {
    expect(lines).toContain("role grant-permission pavise-node --prefix=true readwrite /pavise/c1/");
    expect(lines.filter((l) => l.startsWith("role grant-permission pavise-monitor"))).toEqual([
      "role grant-permission pavise-monitor --prefix=true read /pavise/c1/",
    ]);
    expect(lines).toContain("user grant-role n2 pavise-node");
    expect(lines).toContain("user grant-role monitor pavise-monitor");
  });

  it("operators write only what operator commands write: admin/, resources/, events/, the configuration", () => {
    expect(lines.filter((l) => l.startsWith("role grant-permission pavise-operator"))).toEqual([
      "role grant-permission pavise-operator --prefix=true read /pavise/c1/",
      "role grant-permission pavise-operator --prefix=true readwrite /pavise/c1/admin/",
      "role grant-permission pavise-operator --prefix=true readwrite /pavise/c1/resources/",
      "role grant-permission pavise-operator --prefix=true readwrite /pavise/c1/events/",
      // One key, not a prefix: "config" is also how "config-history/" begins.
      "role grant-permission pavise-operator readwrite /pavise/c1/config",
      "role grant-permission pavise-operator --prefix=true readwrite /pavise/c1/config-history/",
    ]);
    expect(lines).toContain("user grant-role operator pavise-operator");
  });
});
