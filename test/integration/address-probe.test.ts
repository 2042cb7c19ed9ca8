import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeAddress, PROBE_WINDOW_MS } from "../../src/cluster/executor/address-probe.js";
import { namedNamespace } from "../../src/cluster/executor/node-namespace.js";
import type { Lab } from "../../src/lab/lab.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";

// The ARP probe a takeover sends before it adds an address (address-probe.ts), from n2 of a
// lab: c1's kernel answers for an address c1 holds, nobody for a free one, and a NIC without
// link cannot send at all. Needs root.
const root = process.getuid?.() === 0;
const HELD = "198.18.1.77";
const FREE = "198.18.1.78";

describe.skipIf(!root)("ARP probe before a takeover (arping -D in a lab)", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tprobe"));
    await lab.exec("c1", ["ip", "addr", "add", `${HELD}/24`, "dev", "eth0"]);
  });

  afterAll(async () => {
    await lab?.down();
  });

  const n2 = () => namedNamespace(lab.host("n2").namespace);
  const macOf = async (host: string, nic: string): Promise<string> =>
    (await lab.exec(host, ["cat", `/sys/class/net/${nic}/address`])).stdout.trim();

  it("an address another host holds answers, with that host's MAC", async () => {
    const started = performance.now();
    const result = await probeAddress(n2(), "lan0", HELD);
    const ms = performance.now() - started;
    expect(result).toEqual({ answered: true, mac: await macOf("c1", "eth0") });
    console.log(`probe of ${HELD} (held by c1): answered in ${ms.toFixed(1)} ms`);
  });

  it("a free address is silent, after about the probe window", async () => {
    const started = performance.now();
    const result = await probeAddress(n2(), "lan0", FREE);
    const ms = performance.now() - started;
    expect(result).toEqual({ answered: false });
    expect(ms).toBeGreaterThanOrEqual(PROBE_WINDOW_MS);
    // arping alone would wait a whole second for a reply.
    expect(ms).toBeLessThan(900);
    console.log(`probe of ${FREE} (free): silent after ${ms.toFixed(1)} ms (window ${PROBE_WINDOW_MS} ms)`);
  });

  it("the address dropped by its holder is silent at the next probe", async () => {
    await lab.exec("c1", ["ip", "addr", "del", `${HELD}/24`, "dev", "eth0"]);
    expect(await probeAddress(n2(), "lan0", HELD)).toEqual({ answered: false });
  });

  it("a NIC without link cannot probe: the answer is unknown, with arping's reason", async () => {
    await lab.exec("n2", ["ip", "link", "set", "lan1", "down"]);
    const result = await probeAddress(n2(), "lan1", FREE);
    expect(result.answered).toBeUndefined();
    expect(result.answered === undefined && result.problem.length > 0).toBe(true);
    console.log(`probe out of a NIC without link: ${JSON.stringify(result)}`);
  });
});
