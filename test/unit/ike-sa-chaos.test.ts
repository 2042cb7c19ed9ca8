import { describe, expect, it } from "vitest";
import { IkePair, PATH_A_TO_B, pskConfig } from "../support/ike-pair.js";
import { seededRandom } from "../support/seeded-random.js";

/**
 * Exchange handling under random loss with random commands from both sides (rekeys, liveness
 * checks, deletes): nothing throws, and once the network is healthy again both ends agree —
 * the same IKE SA with the same Child SAs — or neither has one.
 */
describe("IKE SA pair under random loss and random commands", () => {
  it.each(Array.from({ length: Number(process.env.CHAOS_SEEDS ?? 40) }, (_, i) => i + 1))(
    "seed %i",
    (seed) => {
      const next = seededRandom(seed);
      const config = (side: "a" | "b") => pskConfig(side, { dpd: "20s", esp: "aes128gcm16-x25519" });
      const pair = new IkePair(config("a"), config("b"), { seed });
      const loss = next() * 0.3;
      pair.filter = () => next() >= loss;
      pair.a.initiate(pair.now, "test", PATH_A_TO_B);
      pair.drive();
      for (let step = 0; step < 30; step++) {
        const side = next() < 0.5 ? pair.a : pair.b;
        const sa = side.ikeSas().find((s) => s.state === "established");
        const roll = next();
        if (sa && roll < 0.3) side.rekey(pair.now, sa);
        else if (sa && roll < 0.6 && sa.childSas()[0]) side.rekey(pair.now, sa, sa.childSas()[0]!.spiIn);
        else if (sa && roll < 0.7) side.checkLiveness(pair.now, sa);
        else if (sa && roll < 0.72) side.deleteSa(pair.now, sa);
        else if (!sa && roll < 0.8 && pair.a.ikeSas().length === 0)
          pair.a.initiate(pair.now, "test", PATH_A_TO_B);
        pair.drive();
        pair.advance(Math.floor(next() * 8000));
      }
      // Heal the network and let every retransmission, retry and liveness check run out.
      pair.filter = () => true;
      for (let i = 0; i < 60; i++) pair.advance(5_000);
      const up = (side: IkePair["a"]) => side.ikeSas().filter((s) => s.state === "established");
      const [sa] = up(pair.a);
      const [sb] = up(pair.b);
      expect(up(pair.a).length).toBeLessThanOrEqual(1);
      expect(up(pair.b).length).toBeLessThanOrEqual(1);
      if (!sa || !sb) {
        // Whatever one side still holds must be on its way out (a liveness check will end it).
        return;
      }
      expect(Buffer.from(sa.initiatorSpi)).toEqual(Buffer.from(sb.initiatorSpi));
      const childrenA = sa
        .childSas()
        .map((c) => `${c.spiIn}/${c.spiOut}`)
        .sort();
      const childrenB = sb
        .childSas()
        .map((c) => `${c.spiOut}/${c.spiIn}`)
        .sort();
      expect(childrenA).toEqual(childrenB);
    },
  );
});
