import { describe, expect, it } from "vitest";
import {
  acceptAnswer,
  answerProposal,
  offerProposals,
  selectProposal,
} from "../../src/ike/core/proposals.js";
import { parseProposalString } from "../../src/ike/crypto/transforms.js";

const IKE = 1;
const ESP = 3;
const none = new Uint8Array(0);
const parse = (protocol: "ike" | "esp", ...texts: string[]) =>
  texts.map((t) => parseProposalString(t, protocol));

describe("proposal selection (RFC 7296 §2.7)", () => {
  it("picks by the responder's preference, one transform of each type, no INTEG with AEAD", () => {
    const offered = offerProposals(
      parse("ike", "aes256-sha256-modp2048", "aes128gcm16-aes256gcm16-prfsha384-prfsha256-ecp256-x25519"),
      IKE,
      none,
    );
    const chosen = selectProposal(
      offered,
      parse("ike", "aes256gcm16-prfsha256-x25519", "aes256-sha256-modp2048"),
      IKE,
    );
    expect(chosen).toMatchObject({
      number: 2,
      encr: { id: 20, keyLength: 256 },
      prf: 5,
      integ: undefined,
      dh: 31,
    });
  });

  it("a key length is part of the algorithm: aes128 does not match aes256", () => {
    const offered = offerProposals(parse("ike", "aes128-sha256-modp2048"), IKE, none);
    expect(selectProposal(offered, parse("ike", "aes256-sha256-modp2048"), IKE)).toBeUndefined();
  });

  it("ESP: ESN is negotiated, DH ignored in IKE_AUTH, the peer's SPI kept", () => {
    const spi = Uint8Array.of(0xc1, 0, 0, 1);
    const offered = offerProposals(parse("esp", "aes128gcm16-x25519-esn-noesn"), ESP, spi);
    const chosen = selectProposal(offered, parse("esp", "aes128gcm16-noesn"), ESP, { withDh: false });
    expect(chosen).toMatchObject({ encr: { id: 20, keyLength: 128 }, dh: undefined, esn: 0, spi });
    const ourSpi = Uint8Array.of(0xc2, 0, 0, 2);
    const answer = answerProposal(chosen!, ourSpi);
    expect(answer.transforms.map((t) => [t.transformType, t.transformId])).toEqual([
      [1, 20],
      [5, 0],
    ]);
    expect(acceptAnswer(offered, [answer], ESP)).toMatchObject({ encr: { id: 20 }, esn: 0, spi: ourSpi });
  });

  it("the initiator refuses answers it did not offer or that choose two of a kind", () => {
    const offered = offerProposals(parse("ike", "aes128gcm16-prfsha256-x25519"), IKE, none);
    const liar = offerProposals(parse("ike", "aes256gcm16-prfsha256-x25519"), IKE, none);
    expect(acceptAnswer(offered, liar, IKE)).toHaveProperty("error");
    const greedy = offerProposals(parse("ike", "aes128gcm16-prfsha256-x25519-ecp256"), IKE, none);
    expect(acceptAnswer(greedy, greedy, IKE)).toHaveProperty("error");
    expect(acceptAnswer(offered, [...offered, ...offered], IKE)).toHaveProperty("error");
    expect(acceptAnswer(offered, offered, IKE)).toMatchObject({
      encr: { id: 20, keyLength: 128 },
      prf: 5,
      dh: 31,
    });
  });
});
