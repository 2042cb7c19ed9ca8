import { describe, expect, it } from "vitest";
import type { SaCounters } from "../../src/ipsec/datapath.js";
import { PackageTrafficTotals } from "../../src/ipsec/host/package-traffic-totals.js";
import { seededRandom } from "../support/seeded-random.js";

const c = (packetsIn: number, extra: Partial<SaCounters> = {}): SaCounters => ({
  bytesIn: packetsIn * 100,
  packetsIn,
  bytesOut: packetsIn * 50,
  packetsOut: packetsIn,
  ...extra,
});

describe("package traffic totals (design §6, risk §12.7)", () => {
  it("stay monotonic through a rekey: the old SA's final counters are kept, the new SA starts at 0", () => {
    const t = new PackageTrafficTotals();
    t.observe("web", [{ spiIn: "a1", counters: c(10) }]);
    expect(t.totals("web").packetsIn).toBe(10);
    // Rekey: the old SA counted 3 more packets before it went, the new one 2 so far.
    t.retire("web", "a1", c(13, { replayDrops: 1 }));
    t.observe("web", [{ spiIn: "b2", counters: c(2) }]);
    expect(t.totals("web")).toMatchObject({ packetsIn: 15, bytesIn: 1500, packetsOut: 15, replayDrops: 1 });
  });

  it("an SA that vanished between two scrapes is retired with what was last seen of it", () => {
    const t = new PackageTrafficTotals();
    t.observe("web", [
      { spiIn: "a1", counters: c(10, { integrityFailures: 2 }) },
      { spiIn: "a2", counters: c(5) },
    ]);
    t.observe("web", [{ spiIn: "a2", counters: c(6) }]);
    expect(t.totals("web")).toMatchObject({ packetsIn: 16, integrityFailures: 2 });
    // A late delete of a1 with no final counters changes nothing.
    t.retire("web", "a1", undefined);
    expect(t.totals("web").packetsIn).toBe(16);
    t.observe("web", []);
    expect(t.totals("web").packetsIn).toBe(16);
    expect(t.totals("db").packetsIn).toBe(0);
    expect(t.packages()).toEqual(["web"]);
  });

  it("never goes down over a random run of scrapes, rekeys and deletes, and ends at what could be known", () => {
    const random = seededRandom(42);
    const t = new PackageTrafficTotals();
    const live = new Map<string, number>();
    const observed = new Map<string, number>();
    let next = 0;
    // Every packet counted, less those of SAs that went without final counters after their last scrape.
    let knowable = 0;
    let previous = 0;
    for (let step = 0; step < 2000; step++) {
      const r = random();
      if (r < 0.1 || live.size === 0) live.set(`s${next++}`, 0);
      for (const [spi, n] of live) {
        const more = Math.floor(random() * 5);
        live.set(spi, n + more);
        knowable += more;
      }
      const [first] = live.keys();
      if (r > 0.9 && first !== undefined) {
        if (random() < 0.5) t.retire("web", first, c(live.get(first)!));
        else knowable -= live.get(first)! - (observed.get(first) ?? 0);
        live.delete(first);
      }
      if (random() < 0.5) {
        t.observe(
          "web",
          [...live].map(([spiIn, n]) => ({ spiIn, counters: c(n) })),
        );
        for (const [spi, n] of live) observed.set(spi, n);
      }
      const now = t.totals("web").packetsIn;
      expect(now).toBeGreaterThanOrEqual(previous);
      previous = now;
    }
    t.observe(
      "web",
      [...live].map(([spiIn, n]) => ({ spiIn, counters: c(n) })),
    );
    expect(t.totals("web").packetsIn).toBe(knowable);
    expect(knowable).toBeGreaterThan(1000);
  });
});
