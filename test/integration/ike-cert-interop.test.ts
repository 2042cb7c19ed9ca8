import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import { startPaviseIpsec, type PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import { startCharon, type Charon } from "../../src/lab/strongswan/charon.js";
import { renderCertTunnel } from "../../src/lab/strongswan/swanctl-config.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";

// Certificate authentication against strongSwan 5.9: Pavise on n1 as "moon" (RSA 3072, a DN
// identity), strongSwan on c1 as "sun" (ECDSA P-256, an FQDN identity), both issued by an
// ECDSA intermediate under an RSA root (test/unit/fixtures/pki). The RSA chain does not fit
// 1280 octets, so IKE_AUTH travels in RFC 7383 fragments.

const pki = (name: string) => fileURLToPath(new URL(`../unit/fixtures/pki/${name}`, import.meta.url));
const C1 = "198.18.1.101";
const N1 = "198.18.1.11";
const MOON_DN = "C=CH, O=Pavise Test, CN=moon.pavise.test";

const PAVISE = `
connections:
  sun:
    local_addrs: [${N1}]
    remote_addrs: [${C1}]
    proposals: [aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384]
    local: { auth: pubkey, id: "${MOON_DN}", certs: [${pki("moon.crt")}, ${pki("intermediate.crt")}], key: ${pki("moon.key")} }
    remote: { auth: pubkey, id: sun.pavise.test, cacerts: [${pki("root.crt")}] }
    children:
      net:
        local_ts: [dynamic]
        remote_ts: [dynamic]
        esp_proposals: [aes128gcm16]
`;

describe("IKEv2 interop with strongSwan 5.9: certificates and fragmentation", () => {
  let lab: Lab;
  let charon: Charon;
  let pavise: PaviseIpsec;

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tcert"));
    charon = await startCharon(lab.runtime, "c1");
    charon.installCredentials({
      certs: [pki("sun.crt")],
      keys: [pki("sun.key")],
      cacerts: [pki("root.crt"), pki("intermediate.crt")],
    });
    await charon.loadConfig(
      renderCertTunnel({
        name: "moon",
        localAddress: C1,
        remoteAddress: N1,
        localId: "sun.pavise.test",
        cert: "sun.crt",
        remoteId: MOON_DN,
        cacert: "root.crt",
      }),
    );
    pavise = await startPaviseIpsec(lab.runtime, "n1", PAVISE);
  });

  afterAll(async () => {
    await pavise?.stop().catch(() => undefined);
    await charon?.stop().catch(() => undefined);
    await lab?.down();
  });

  it("strongSwan (ECDSA) authenticates to Pavise (RSA), both chains verified, IKE_AUTH fragmented", async () => {
    await charon.initiate({ child: "moon", ike: "moon", timeoutMs: 10_000 });
    const [theirs] = await charon.listSas();
    expect(theirs).toMatchObject({ state: "ESTABLISHED", remoteId: MOON_DN, localId: "sun.pavise.test" });
    expect(theirs?.childSas[0]?.state).toBe("INSTALLED");
    const [ours] = await pavise.sas();
    expect(ours).toMatchObject({ state: "ESTABLISHED", remoteId: "sun.pavise.test", localId: MOON_DN });
    const log = await charon.logTail(400);
    expect(log).toMatch(
      /authentication of 'C=CH, O=Pavise Test, CN=moon.pavise.test' with RSA_EMSA_PKCS1_SHA2_256 successful|authentication of 'C=CH, O=Pavise Test, CN=moon.pavise.test' with .* successful/,
    );
    expect(log).toMatch(/received fragment #\d+ of \d+/);
    await charon.terminate({ ike: "moon" });
  });

  it("Pavise (RSA) authenticates to strongSwan (ECDSA), with fragments both ways", async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ours = await pavise.initiate("sun");
    expect(ours).toMatchObject({ state: "ESTABLISHED", remoteId: "sun.pavise.test" });
    const [theirs] = await charon.listSas();
    expect(theirs).toMatchObject({ state: "ESTABLISHED", initiator: false, remoteId: MOON_DN });
    const log = await charon.logTail(400);
    expect(log).toMatch(
      /authentication of 'sun.pavise.test' \(myself\) with ECDSA|authentication of 'sun.pavise.test' \(myself\) with .* successful/,
    );
    await pavise.terminate("sun");
  });

  it("signs with RSASSA-PSS when rsa_pss is set, which strongSwan verifies", async () => {
    await pavise.stop();
    pavise = await startPaviseIpsec(
      lab.runtime,
      "n1",
      PAVISE.replace(`key: ${pki("moon.key")} }`, `key: ${pki("moon.key")}, rsa_pss: yes }`),
    );
    await pavise.initiate("sun");
    const [theirs] = await charon.listSas();
    expect(theirs?.state).toBe("ESTABLISHED");
    expect(await charon.logTail(400)).toMatch(
      /authentication of 'C=CH, O=Pavise Test, CN=moon.pavise.test' with RSA_EMSA_PSS\S* successful/,
    );
    await pavise.terminate("sun");
  });
});
