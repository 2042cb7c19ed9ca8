import { describe, expect, it } from "vitest";
import {
  type AddressCheck,
  PROBE_INTERVAL_MS,
  waitForAddressesFree,
} from "../../src/cluster/agent/address-check.js";
import type { ProbeRound } from "../../src/cluster/executor/address-probe.js";

const HELD: ProbeRound = {
  inUse: [{ address: "198.18.1.50", nic: "lan0", mac: "02:50:0c:02:00:01" }],
  unknown: [],
};
const FREE: ProbeRound = { inUse: [], unknown: [] };

/** A check whose probes answer `rounds` in turn (the last one for ever); each probe takes `probeMs`. */
function scripted(
  rounds: ProbeRound[],
  options: { waitMs?: number; probeMs?: number; stopped?: boolean } = {},
) {
  let clock = 0;
  let probes = 0;
  const logs: string[] = [];
  const check: AddressCheck = {
    probe: () => {
      clock += options.probeMs ?? 55;
      return Promise.resolve(rounds[Math.min(probes++, rounds.length - 1)]!);
    },
    waitMs: options.waitMs ?? 250,
    now: () => clock,
    sleep: (ms) => {
      clock += ms;
      return Promise.resolve();
    },
    stopped: () => options.stopped ?? false,
    log: (event, message) => logs.push(`${event}: ${message}`),
  };
  return { check, logs, probes: () => probes, clock: () => clock };
}

describe("address check before a start (address_in_use_wait)", () => {
  it("goes at once when nothing answers: one probe, nothing logged", async () => {
    const s = scripted([FREE]);
    expect(await waitForAddressesFree(s.check)).toEqual({ go: true });
    expect(s.probes()).toBe(1);
    expect(s.logs).toEqual([]);
  });

  it("waits while the old holder still answers, and goes once it fell silent", async () => {
    const s = scripted([HELD, HELD, FREE]);
    expect(await waitForAddressesFree(s.check)).toEqual({ go: true });
    expect(s.probes()).toBe(3);
    expect(s.clock()).toBe(3 * 55 + 2 * PROBE_INTERVAL_MS);
    expect(s.logs).toEqual([
      "address-in-use: 198.18.1.50 (from 02:50:0c:02:00:01 on lan0) still answers ARP; waiting up to 250 ms for its holder to drop it (timing.address_in_use_wait)",
      "address-free: its addresses answer no more (3 probes, 205 ms)",
    ]);
  });

  it("fails the start when the address still answers after the wait, naming who answers", async () => {
    const s = scripted([HELD]);
    const result = await waitForAddressesFree(s.check);
    expect(result).toEqual({
      go: false,
      problem:
        "address in use: 198.18.1.50 (from 02:50:0c:02:00:01 on lan0) still answers ARP after 280 ms " +
        "(timing.address_in_use_wait 250 ms); find that host and remove the address from it",
    });
    // Probed until the wait was over, and not a probe longer.
    expect(s.probes()).toBe(4);
  });

  it("gives up without a verdict when the node is stopping", async () => {
    const s = scripted([HELD], { stopped: true });
    expect(await waitForAddressesFree(s.check)).toEqual({ go: false });
    expect(s.probes()).toBe(1);
  });

  it("says which address it could not probe, and goes on with the others", async () => {
    const s = scripted([
      { inUse: [], unknown: [{ address: "198.18.1.51", problem: "arping exited with status 2" }] },
    ]);
    expect(await waitForAddressesFree(s.check)).toEqual({ go: true });
    expect(s.logs).toEqual(["problem: cannot check that 198.18.1.51 is free: arping exited with status 2"]);
  });
});
