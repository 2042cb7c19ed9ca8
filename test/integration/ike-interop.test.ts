import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import { startPaviseIpsec, type PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import { startCharon, type Charon, type IkeSaInfo } from "../../src/lab/strongswan/charon.js";
import { renderPskTunnel } from "../../src/lab/strongswan/swanctl-config.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// Interop with strongSwan 5.9 (Debian): charon on client c1, Pavise on node n1, PSK, both
// directions, every algorithm family of the IKE issue. Assertions read both sides' own view.

const PSK = "pavise-interop-psk";
const C1 = "198.18.1.101";
const N1 = "198.18.1.11";

interface Family {
  name: string;
  ike: string;
  esp: string;
  /** How charon names the result: encryption, key size, PRF, DH group. */
  expect: { encr: string; keysize?: number; prf: string; dh: string; esp: string };
}

const FAMILIES: Family[] = [
  {
    name: "gcm128x25519",
    ike: "aes128gcm16-prfsha256-x25519",
    esp: "aes128gcm16",
    expect: {
      encr: "AES_GCM_16",
      keysize: 128,
      prf: "PRF_HMAC_SHA2_256",
      dh: "CURVE_25519",
      esp: "AES_GCM_16",
    },
  },
  {
    name: "cbc256modp2048",
    ike: "aes256-sha256-modp2048",
    esp: "aes256-sha256",
    expect: { encr: "AES_CBC", keysize: 256, prf: "PRF_HMAC_SHA2_256", dh: "MODP_2048", esp: "AES_CBC" },
  },
  {
    name: "chachaecp256",
    ike: "chacha20poly1305-prfsha512-ecp256",
    esp: "chacha20poly1305",
    expect: { encr: "CHACHA20_POLY1305", prf: "PRF_HMAC_SHA2_512", dh: "ECP_256", esp: "CHACHA20_POLY1305" },
  },
  {
    name: "gcm256ecp384",
    ike: "aes256gcm16-prfsha384-ecp384",
    esp: "aes256gcm16",
    expect: { encr: "AES_GCM_16", keysize: 256, prf: "PRF_HMAC_SHA2_384", dh: "ECP_384", esp: "AES_GCM_16" },
  },
  {
    name: "cbc128modp3072",
    ike: "aes128-sha384-modp3072",
    esp: "aes128-sha512",
    expect: { encr: "AES_CBC", keysize: 128, prf: "PRF_HMAC_SHA2_384", dh: "MODP_3072", esp: "AES_CBC" },
  },
  {
    name: "gcm256ecp521",
    ike: "aes256gcm16-prfsha512-ecp521",
    esp: "aes256gcm16",
    expect: { encr: "AES_GCM_16", keysize: 256, prf: "PRF_HMAC_SHA2_512", dh: "ECP_521", esp: "AES_GCM_16" },
  },
];

/** Pavise's side: one connection accepting every family, and one per family to initiate with. */
// Transport mode is negotiated between Pavise endpoints (test/unit/ike-sa-pair.test.ts):
// strongSwan's kernel-libipsec cannot install transport-mode SAs ("unable to install inbound
// and outbound IPsec SA (SAD) in kernel"), so it cannot be an interop case here.
function paviseConfig(options: { dpd?: string } = {}): string {
  const connection = (name: string, ike: string[], esp: string[]) => `
  ${name}:
    local_addrs: [${N1}]
    remote_addrs: [${C1}]
    proposals: [${ike.join(", ")}]
    local: { auth: psk, id: ${N1} }
    remote: { auth: psk, id: ${C1} }
    dpd_delay: ${options.dpd ?? "0s"}
    children:
      net:
        local_ts: [dynamic]
        remote_ts: [dynamic]
        esp_proposals: [${esp.join(", ")}]`;
  return [
    "connections:",
    connection(
      "all",
      FAMILIES.map((f) => f.ike),
      FAMILIES.map((f) => f.esp),
    ),
    ...FAMILIES.map((f) => connection(f.name, [f.ike], [f.esp])),
    "secrets:",
    "  ike:",
    `    - id: [${N1}, ${C1}]`,
    `      secret: "${PSK}"`,
    "",
  ].join("\n");
}

/** strongSwan's side: one connection per family, or one that accepts them all. */
function charonConfig(mode: "per-family" | "all", options: { dpdDelay?: string } = {}): string {
  const tunnel = (name: string, proposals: string, espProposals: string) =>
    renderPskTunnel({
      name,
      localAddress: C1,
      remoteAddress: N1,
      psk: PSK,
      proposals,
      espProposals,
      ...(options.dpdDelay ? { dpdDelay: options.dpdDelay } : {}),
    });
  return mode === "all"
    ? tunnel("all", FAMILIES.map((f) => f.ike).join(","), FAMILIES.map((f) => f.esp).join(","))
    : FAMILIES.map((f) => tunnel(f.name, f.ike, f.esp)).join("\n");
}

function onlySa(sas: IkeSaInfo[]): IkeSaInfo {
  expect(sas).toHaveLength(1);
  return sas[0]!;
}

describe("IKEv2 interop with strongSwan 5.9 (PSK)", () => {
  let lab: Lab;
  let charon: Charon;
  let pavise: PaviseIpsec;

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tike"));
    charon = await startCharon(lab.runtime, "c1");
    pavise = await startPaviseIpsec(lab.runtime, "n1", paviseConfig());
  });

  // Every case starts with no SA on either side: a case that fails midway must not fail the
  // next ones too (a leftover SA on charon failed all twelve cases after one in a CI run). A
  // failure prints both sides' logs, which say why.
  afterEach(async (context) => {
    if (context.task.result?.state === "fail") {
      const paviseLog = pavise.log().trimEnd().split("\n").slice(-60).join("\n");
      const charonLog = (await charon.logTail(600))
        .split("\n")
        .filter((line) => !/\[CFG\]|queueing|activating/.test(line))
        .slice(-60)
        .join("\n");
      console.log(`charon.log (end):\n${charonLog}\npavise ipsec serve (end):\n${paviseLog}`);
    }
    for (const sa of await charon.listSas()) {
      await charon.terminate({ ikeId: sa.uniqueId }).catch(() => undefined);
    }
    for (const connection of new Set((await pavise.sas()).map((sa) => sa.connection))) {
      await pavise.terminate(connection).catch(() => undefined);
    }
    await until(
      "no SA left on either side",
      async () => [...(await charon.listSas()), ...(await pavise.sas())],
      (sas) => sas.length === 0,
    );
  });

  afterAll(async () => {
    await pavise?.stop().catch(() => undefined);
    await charon?.stop().catch(() => undefined);
    await lab?.down();
  });

  describe.each(FAMILIES)("$name: $ike / $esp", (family) => {
    it("strongSwan initiates to Pavise", async () => {
      await charon.loadConfig(charonConfig("per-family"));
      await charon.initiate({ child: family.name, ike: family.name, timeoutMs: 10_000 });
      const theirs = onlySa(await charon.listSas());
      expect(theirs).toMatchObject({
        state: "ESTABLISHED",
        encrAlg: family.expect.encr,
        prfAlg: family.expect.prf,
        dhGroup: family.expect.dh,
      });
      if (family.expect.keysize) expect(theirs.encrKeysize).toBe(family.expect.keysize);
      const child = theirs.childSas[0]!;
      expect(child).toMatchObject({
        state: "INSTALLED",
        mode: "TUNNEL",
        encap: true,
        encrAlg: family.expect.esp,
      });
      const [ours] = await pavise.sas();
      expect(ours).toMatchObject({ state: "ESTABLISHED", initiator: false, remoteId: C1 });
      expect(ours?.children[0]).toMatchObject({ spiIn: child.spiOut, spiOut: child.spiIn, encap: true });
      // The datapath knows the SA (no traffic is sent in this test, so its counters are zero).
      expect(ours?.children[0]?.counters).toMatchObject({
        bytesIn: 0,
        packetsIn: 0,
        bytesOut: 0,
        packetsOut: 0,
      });
      // Deleted from strongSwan's side: Pavise forgets it too.
      await charon.terminate({ ike: family.name });
      await until(
        "Pavise to drop the SA",
        () => pavise.sas(),
        (sas) => sas.length === 0,
      );
    });

    it("Pavise initiates to strongSwan", async () => {
      await charon.loadConfig(charonConfig("all"));
      const ours = await pavise.initiate(family.name);
      expect(ours).toMatchObject({ state: "ESTABLISHED", initiator: true });
      const theirs = onlySa(await charon.listSas());
      expect(theirs).toMatchObject({
        state: "ESTABLISHED",
        initiator: false,
        encrAlg: family.expect.encr,
        dhGroup: family.expect.dh,
      });
      expect(theirs.childSas[0]).toMatchObject({
        state: "INSTALLED",
        encap: true,
        spiIn: ours.children[0]?.spiOut,
        spiOut: ours.children[0]?.spiIn,
      });
      // Deleted from Pavise's side: strongSwan forgets it too.
      expect(await pavise.terminate(family.name)).toBe(1);
      await until(
        "strongSwan to drop the SA",
        () => charon.listSas(),
        (sas) => sas.length === 0,
      );
    });
  });

  it("answers strongSwan's liveness checks (DPD every second)", async () => {
    await charon.loadConfig(charonConfig("all", { dpdDelay: "1s" }));
    await charon.initiate({ child: "all", ike: "all", timeoutMs: 10_000 });
    await sleep(3_500);
    expect(onlySa(await charon.listSas()).state).toBe("ESTABLISHED");
    const log = await charon.logTail(400);
    expect(log).toMatch(/sending DPD request|generating INFORMATIONAL request \d+ \[ \]/);
    expect(log).toMatch(/parsed INFORMATIONAL response \d+ \[ \]/);
    await charon.terminate({ ike: "all" });
    await until(
      "Pavise to drop the SA",
      () => pavise.sas(),
      (sas) => sas.length === 0,
    );
  });

  it("sends its own liveness checks, which strongSwan answers", async () => {
    await pavise.stop();
    pavise = await startPaviseIpsec(lab.runtime, "n1", paviseConfig({ dpd: "1s" }));
    await charon.loadConfig(charonConfig("all"));
    await charon.initiate({ child: "all", ike: "all", timeoutMs: 10_000 });
    await sleep(3_500);
    const log = await charon.logTail(400);
    expect(log.match(/parsed INFORMATIONAL request \d+ \[ \]/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(await pavise.sas()).toHaveLength(1);
    await charon.terminate({ ike: "all" });
    await until(
      "Pavise to drop the SA",
      () => pavise.sas(),
      (sas) => sas.length === 0,
    );
  });

  it("rekeys on command (pavise ipsec rekey) and strongSwan follows", async () => {
    await charon.loadConfig(charonConfig("all"));
    await charon.initiate({ child: "all", ike: "all", timeoutMs: 10_000 });
    const [before] = await pavise.sas();
    expect(await pavise.rekey("all", "net")).toBe(1);
    const [after] = await until(
      "a new Child SA",
      () => pavise.sas(),
      (sas) => sas[0]?.children.length === 1 && sas[0].children[0]!.spiIn !== before!.children[0]!.spiIn,
    );
    const theirs = await until(
      "strongSwan to follow",
      () => charon.listSas(),
      (sas) => sas[0]?.childSas.length === 1 && sas[0].childSas[0]!.spiOut === after!.children[0]!.spiIn,
    );
    expect(theirs[0]!.childSas[0]!.state).toBe("INSTALLED");
    expect(await pavise.rekey("all")).toBe(1);
    await until(
      "a new IKE SA",
      () => pavise.sas(),
      (sas) => sas.length === 1 && sas[0]!.spiI !== before!.spiI,
    );
    await charon.terminate({ ike: "all" });
    await until(
      "Pavise to drop the SA",
      () => pavise.sas(),
      (sas) => sas.length === 0,
    );
  });

  it("brings up several Child SAs in one IKE SA (CREATE_CHILD_SA, PFS on the second), either side starting", async () => {
    const multi = (side: "pavise" | "charon") =>
      side === "charon"
        ? renderPskTunnel({
            name: "multi",
            child: "net",
            localAddress: C1,
            remoteAddress: N1,
            psk: PSK,
            espProposals: "aes128gcm16",
          }) +
          renderPskTunnel({
            name: "multi",
            child: "web",
            localAddress: C1,
            remoteAddress: N1,
            psk: PSK,
            espProposals: "aes256gcm16-ecp256",
            // strongSwan picks a child configuration by its selectors alone: they must differ.
            localTs: [`${C1}/32[tcp]`],
            remoteTs: [`${N1}/32[tcp/80]`],
          })
        : `
connections:
  multi:
    local_addrs: [${N1}]
    remote_addrs: [${C1}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: ${N1} }
    remote: { auth: psk, id: ${C1} }
    children:
      net: { local_ts: [dynamic], remote_ts: [dynamic], esp_proposals: [aes128gcm16] }
      web: { local_ts: ["dynamic[tcp/80]"], remote_ts: ["dynamic[tcp]"], esp_proposals: [aes256gcm16-ecp256] }
secrets:
  ike:
    - id: [${N1}, ${C1}]
      secret: "${PSK}"
`;
    await pavise.stop();
    pavise = await startPaviseIpsec(lab.runtime, "n1", multi("pavise"));
    await charon.loadConfig(multi("charon"));
    // Pavise starts: both children of the connection come up.
    await pavise.initiate("multi");
    const theirs = await until(
      "strongSwan to have both Child SAs",
      () => charon.listSas(),
      (sas) => sas[0]?.childSas.filter((c) => c.state === "INSTALLED").length === 2,
    );
    expect(theirs[0]!.childSas.map((c) => c.encrKeysize).sort()).toEqual([128, 256]);
    await pavise.terminate("multi");
    await until(
      "strongSwan to drop the SA",
      () => charon.listSas(),
      (sas) => sas.length === 0,
    );
    // strongSwan starts the first, then asks for the second in the same IKE SA.
    await charon.initiate({ child: "net", ike: "multi", timeoutMs: 10_000 });
    await charon.initiate({ child: "web", ike: "multi", timeoutMs: 10_000 });
    const ours = await until(
      "Pavise to have both Child SAs",
      () => pavise.sas(),
      (sas) => sas[0]?.children.length === 2,
    );
    expect(ours[0]!.children.map((c) => c.name).sort()).toEqual(["net", "web"]);
    await charon.terminate({ ike: "multi" });
    await until(
      "Pavise to drop the SA",
      () => pavise.sas(),
      (sas) => sas.length === 0,
    );
    await pavise.stop();
    pavise = await startPaviseIpsec(lab.runtime, "n1", paviseConfig());
  });

  it("honours INITIAL_CONTACT from a strongSwan that restarted, and sends it when it restarts itself", async () => {
    await charon.loadConfig(charonConfig("all"));
    await charon.initiate({ child: "all", ike: "all", timeoutMs: 10_000 });
    expect(await pavise.sas()).toHaveLength(1);
    // strongSwan dies without a word; a new instance connects with INITIAL_CONTACT.
    await lab.faults.kill(charon.labProcess);
    charon = await startCharon(lab.runtime, "c1");
    await charon.loadConfig(charonConfig("all"));
    await charon.initiate({ child: "all", ike: "all", timeoutMs: 10_000 });
    const sas = await until(
      "the stale SA to go",
      () => pavise.sas(),
      (list) => list.length === 1,
    );
    expect(sas[0]?.children[0]?.spiOut).toBe(onlySa(await charon.listSas()).childSas[0]?.spiIn);

    // Now Pavise dies without a word and comes back: its INITIAL_CONTACT clears strongSwan's stale SA.
    await lab.faults.kill(pavise.process);
    pavise = await startPaviseIpsec(lab.runtime, "n1", paviseConfig());
    await pavise.initiate("gcm128x25519");
    const theirs = await until(
      "strongSwan to keep only the new SA",
      () => charon.listSas(),
      (list) => list.length === 1,
    );
    expect(theirs[0]?.initiator).toBe(false);
    await pavise.terminate("gcm128x25519");
  });
});
