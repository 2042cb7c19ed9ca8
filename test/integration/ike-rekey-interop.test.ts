import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import { startPaviseIpsec, type PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import { startCharon, type Charon, type IkeSaInfo } from "../../src/lab/strongswan/charon.js";
import { renderPskTunnel } from "../../src/lab/strongswan/swanctl-config.js";
import type { IkeSaStatus } from "../../src/ipsec/sa-status.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// Rekeying against strongSwan 5.9 at short lifetimes, started by either side: the IKE SA
// (new SPIs, same Child SA) and the Child SA (new SPIs, the old one deleted), with PFS.

const PSK = "pavise-rekey-psk";
const C1 = "198.18.1.101";
const N1 = "198.18.1.11";

function paviseConfig(options: { ikeRekey?: string; childRekey?: string } = {}): string {
  return `
connections:
  c1:
    local_addrs: [${N1}]
    remote_addrs: [${C1}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: ${N1} }
    remote: { auth: psk, id: ${C1} }
    rekey_time: ${options.ikeRekey ?? "4h"}
    children:
      net:
        local_ts: [dynamic]
        remote_ts: [dynamic]
        esp_proposals: [aes128gcm16-x25519]
        rekey_time: ${options.childRekey ?? "1h"}
secrets:
  ike:
    - id: [${N1}, ${C1}]
      secret: "${PSK}"
`;
}

function charonConfig(
  options: { rekeyTime?: string; overTime?: string; childRekeyTime?: string } = {},
): string {
  return renderPskTunnel({
    name: "n1",
    localAddress: C1,
    remoteAddress: N1,
    psk: PSK,
    proposals: "aes128gcm16-prfsha256-x25519",
    espProposals: "aes128gcm16-x25519",
    ...options,
  });
}

/** Both sides agree: one IKE SA with the same SPIs, one installed Child SA with crossed SPIs. */
function agree(ours: IkeSaStatus[], theirs: IkeSaInfo[]): boolean {
  if (ours.length !== 1 || theirs.length !== 1) return false;
  const [o] = ours as [IkeSaStatus];
  const [t] = theirs as [IkeSaInfo];
  const child = t.childSas.filter((c) => c.state === "INSTALLED");
  return (
    o.children.length === 1 &&
    child.length === 1 &&
    child[0]!.spiIn === o.children[0]!.spiOut &&
    child[0]!.spiOut === o.children[0]!.spiIn &&
    t.raw["initiator-spi"] === o.spiI &&
    t.raw["responder-spi"] === o.spiR
  );
}

describe("rekeying with strongSwan 5.9", () => {
  let lab: Lab;
  let charon: Charon;
  let pavise: PaviseIpsec | undefined;

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("trekey"));
    charon = await startCharon(lab.runtime, "c1");
  });

  afterAll(async () => {
    await pavise?.stop().catch(() => undefined);
    await charon?.stop().catch(() => undefined);
    await lab?.down();
  });

  /** Waits until both sides show the same IKE SA and Child SA (see agree), and returns both views. */
  function bothAgree() {
    return until(
      "both sides to agree",
      async () => [await pavise!.sas(), await charon.listSas()] as const,
      ([o, t]) => agree(o, t),
      20_000,
    );
  }

  async function setUp(
    paviseOptions: Parameters<typeof paviseConfig>[0],
    charonOptions: Parameters<typeof charonConfig>[0],
  ) {
    await pavise?.stop();
    pavise = await startPaviseIpsec(lab.runtime, "n1", paviseConfig(paviseOptions));
    await charon.loadConfig(charonConfig(charonOptions));
    await charon.initiate({ child: "n1", ike: "n1", timeoutMs: 10_000 });
    const ours = await pavise.sas();
    const theirs = await charon.listSas();
    expect(agree(ours, theirs)).toBe(true);
    return { ours: ours[0]!, theirs: theirs[0]! };
  }

  it("strongSwan rekeys the Child SA (with PFS): new SPIs on both sides, still one Child SA", async () => {
    const before = await setUp({}, { childRekeyTime: "3s" });
    const [after] = await until(
      "a Child SA rekey",
      () => pavise!.sas(),
      (sas) => sas[0]?.children.length === 1 && sas[0].children[0]!.spiIn !== before.ours.children[0]!.spiIn,
      20_000,
    );
    await bothAgree();
    expect(after!.spiI).toBe(before.ours.spiI); // the IKE SA itself is unchanged
    await charon.terminate({ ike: "n1" });
  });

  it("strongSwan rekeys the IKE SA: new IKE SPIs, the Child SA carries on", async () => {
    // A long over_time: with charon's default (10 % of 3 s) its hard lifetime ends the SA
    // while the rekey is still under way, and charon deletes the new one as well.
    const before = await setUp({}, { rekeyTime: "3s", overTime: "60s" });
    const [after] = await until(
      "an IKE SA rekey",
      () => pavise!.sas(),
      (sas) => sas.length === 1 && sas[0]!.spiI !== before.ours.spiI,
      20_000,
    );
    await bothAgree();
    expect(after!.children[0]!.spiIn).toBe(before.ours.children[0]!.spiIn);
    await charon.terminate({ ike: "n1" });
  });

  it("Pavise rekeys the Child SA (with PFS)", async () => {
    const before = await setUp({ childRekey: "3s" }, {});
    await until(
      "a Child SA rekey",
      () => pavise!.sas(),
      (sas) => sas[0]?.children.length === 1 && sas[0].children[0]!.spiIn !== before.ours.children[0]!.spiIn,
      20_000,
    );
    await bothAgree();
    await charon.terminate({ ike: "n1" });
  });

  it("Pavise rekeys the IKE SA", async () => {
    const before = await setUp({ ikeRekey: "3s" }, {});
    await until(
      "an IKE SA rekey",
      () => pavise!.sas(),
      (sas) => sas.length === 1 && sas[0]!.spiI !== before.ours.spiI,
      20_000,
    );
    const [ours, theirs] = await bothAgree();
    expect(ours[0]!.children[0]!.spiIn).toBe(before.ours.children[0]!.spiIn);
    expect(theirs[0]!.state).toBe("ESTABLISHED");
    await charon.terminate({ ike: "n1" });
  });
});
