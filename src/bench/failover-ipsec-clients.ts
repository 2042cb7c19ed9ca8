/**
 * The IPsec client of a bench:failover run (--ipsec, issue #6, docs/ipsec-packages-design.md
 * §9 and §16) on c1, with a host-to-host tunnel to web's relocatable address, so the probe's
 * requests and the echo's answers are ESP:
 *
 * - strongswan: charon with strongSwan's defaults (no DPD); the adoptive node contacts it with
 *   INITIAL_CONTACT and charon drops its stale SA (kind 2).
 * - strongswan-dpd: the package's connection has `initiate: no`, so charon comes back by its
 *   own DPD alone (kind 3): dpd_delay 1s, dpd_action restart, keyingtries 0, and strongswan.conf
 *   retransmit_timeout 0.5, retransmit_base 1.5, retransmit_tries 2 (death declared 2.4 s after
 *   an unanswered DPD).
 * - pavise: `pavise ipsec serve` as the client (kind 1): dpd_delay 1s, dpd_action restart,
 *   retransmit 500ms/1.5/2, as design §9 recommends; it honours the adoptive node's
 *   INITIAL_CONTACT as responder.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { LabProcess } from "../lab/host-runtime.js";
import {
  CLIENT_ADDRESS,
  fastDpdClient,
  paviseClientConfig,
  startStrongswanClient,
  writeLabPsk,
} from "../lab/ipsec-package.js";
import type { Lab } from "../lab/lab.js";
import { startPaviseIpsec } from "../lab/pavise-ipsec.js";
import { PaviseError } from "../util/errors.js";
import type { FailoverIpsecClient } from "./failover-ipsec-summary.js";

/** What the bench asks of the client during a run. */
export interface RunningIpsecClient {
  kind: FailoverIpsecClient;
  /** The client's IKE SA with the package now (ESTABLISHED, with an installed Child SA), if any. */
  current(): Promise<{ id: string; packetsIn: number } | undefined>;
  /** Where to look when something went wrong. */
  logPath: string;
  stop(): Promise<void>;
}

/** The package side of a run: web's `ipsec:` section (and the PSK the client needs). */
export function ipsecPackageFor(
  kind: FailoverIpsecClient,
  dir: string,
): { section: { pskFile: string; initiate: boolean }; psk: string } {
  const written = writeLabPsk(dir);
  return { section: { pskFile: written.file, initiate: kind !== "strongswan-dpd" }, psk: written.psk };
}

/** Starts the client on c1 and sets up its SA with the package (on n1 now). */
export async function startIpsecClient(
  lab: Lab,
  kind: FailoverIpsecClient,
  psk: string,
): Promise<RunningIpsecClient> {
  if (kind === "pavise") {
    const pavise = await startPaviseIpsec(
      lab.runtime,
      "c1",
      paviseClientConfig({ psk, initiateAtStart: false }),
    );
    try {
      await pavise.initiate("web");
    } catch (error) {
      await pavise.stop().catch(() => undefined);
      throw error;
    }
    return {
      kind,
      logPath: pavise.process.log,
      current: async () => {
        const sas = (await pavise.sas()).filter(
          (sa) => sa.connection === "web" && sa.state === "ESTABLISHED" && sa.children.length > 0,
        );
        const newest = sas.sort((a, b) => a.ageSeconds - b.ageSeconds)[0];
        return newest
          ? {
              id: `${newest.spiI}:${newest.spiR}`,
              packetsIn: newest.children.reduce((sum, c) => sum + (c.counters?.packetsIn ?? 0), 0),
            }
          : undefined;
      },
      stop: () => pavise.stop(),
    };
  }
  const dpd = kind === "strongswan-dpd";
  const charon = await startStrongswanClient(lab, dpd ? fastDpdClient(psk) : { psk });
  try {
    await charon.initiate({ child: "web" });
  } catch (error) {
    await charon.stop().catch(() => undefined);
    throw error;
  }
  return {
    kind,
    logPath: charon.logPath,
    current: async () => {
      const sas = (await charon.listSas()).filter(
        (sa) =>
          sa.name === "web" && sa.state === "ESTABLISHED" && sa.childSas.some((c) => c.state === "INSTALLED"),
      );
      const newest = sas.sort((a, b) => b.uniqueId - a.uniqueId)[0];
      return newest
        ? {
            id: String(newest.uniqueId),
            packetsIn: newest.childSas
              .filter((c) => c.state === "INSTALLED")
              .reduce((sum, c) => sum + c.packetsIn, 0),
          }
        : undefined;
    },
    stop: () => charon.stop(),
  };
}

/**
 * Waits until a daemon's log has a line matching `line` (its text format: "time node event:
 * message"), e.g. the owner's `ipsec-peer-recorded` for the client: without the record the
 * adoptive node would have no one to contact.
 */
export async function untilDaemonLogged(
  daemon: LabProcess,
  what: string,
  line: RegExp,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let log = "";
    try {
      log = readFileSync(daemon.log, "utf8");
    } catch {
      // Not written yet.
    }
    if (line.test(log)) return;
    if (Date.now() > deadline) {
      throw new PaviseError("BENCH_TIMEOUT", `${what} did not happen within ${timeoutMs} ms`, {
        hint: `read ${daemon.log}`,
      });
    }
    await sleep(50);
  }
}

/** The owner's log line that says it recorded the client as a peer of web. */
export const CLIENT_RECORDED = new RegExp(
  ` ipsec-peer-recorded: .*peer ${CLIENT_ADDRESS.replaceAll(".", "\\.")} `,
);
/** The owner's log line that says web's IPsec listens on its address. */
export const IPSEC_LISTENS = / ipsec: IPsec of web listens on /;
