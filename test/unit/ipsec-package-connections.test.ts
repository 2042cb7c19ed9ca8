import { describe, expect, it } from "vitest";
import {
  contactSourceAddress,
  exposedToOthers,
  packageConnectionName,
  packageConnections,
  remoteAllowed,
  secretFilesOf,
  splitPackageConnection,
} from "../../src/ipsec/host/package-connections.js";
import { packageIpsecFixture } from "../support/cluster-fixtures.js";

// A package's ipsec: section as the connections of the node that runs it (design §3, §5).

const ipsec = packageIpsecFixture();
const web = {
  name: "web",
  addresses: [
    { address: "198.18.1.50", subnet: "public" },
    { address: "198.18.1.51", subnet: "public" },
  ],
  ipsec,
};

describe("package connections", () => {
  it("names each connection <package>/<connection>, and splits such names back", () => {
    const [clients] = packageConnections(web);
    expect(clients?.config.name).toBe("web/clients");
    expect(packageConnectionName("web", "clients")).toBe("web/clients");
    expect(splitPackageConnection("web/clients")).toEqual({ package: "web", connection: "clients" });
    expect(splitPackageConnection("c1")).toBeUndefined();
    expect(splitPackageConnection("/x")).toBeUndefined();
  });

  it("listens on every package address when local_addrs is empty, with the package's own side", () => {
    const [clients] = packageConnections(web);
    expect(clients?.config.localAddrs).toEqual(["198.18.1.50", "198.18.1.51"]);
    expect(clients?.config.local).toBe(ipsec.local);
    expect(clients?.config.sendInitialContact).toBe(true);
    expect(clients?.config.encap).toBe(true);
    expect(clients?.initiate).toBe(true);
  });

  it("initiates from the address that is the package identity, else from the first address", () => {
    const [clients] = packageConnections(web);
    // identity web.pavise.test (an FQDN): the first address.
    expect(contactSourceAddress(clients!.config)).toBe("198.18.1.50");
    const byAddress = {
      ...clients!.config,
      local: { ...clients!.config.local, id: { kind: "ipv4" as const, value: "198.18.1.51" } },
    };
    expect(contactSourceAddress(byAddress)).toBe("198.18.1.51");
  });

  it("allows initiating only inside remote_addrs (addresses and prefixes; empty: anyone)", () => {
    const [clients] = packageConnections(web);
    expect(remoteAllowed(clients!.config, "198.18.1.101")).toBe(true);
    expect(remoteAllowed(clients!.config, "198.18.2.11")).toBe(false);
    expect(remoteAllowed({ ...clients!.config, remoteAddrs: ["198.18.1.7"] }, "198.18.1.7")).toBe(true);
    expect(remoteAllowed({ ...clients!.config, remoteAddrs: [] }, "203.0.113.9")).toBe(true);
  });

  it("finds the secret files and whether their mode exposes them", () => {
    expect(secretFilesOf(ipsec)).toEqual(["/etc/pavise/ipsec/web/web.key"]);
    expect(exposedToOthers(0o100600)).toBe(false);
    expect(exposedToOthers(0o100400)).toBe(false);
    expect(exposedToOthers(0o100640)).toBe(true);
    expect(exposedToOthers(0o100604)).toBe(true);
  });
});
