/**
 * The four paths of `npm run bench:esp` between the same two lab hosts, each opened on demand
 * and closed again (charon and `pavise ipsec serve` both want UDP 500/4500, so only one path is
 * open at a time). Inner addresses live on each host's loopback and differ from the outer ones,
 * so a tunnel never carries its own packets; the bare path routes the same inner addresses over
 * the LAN, so every path has the same length.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Lab } from "../lab/lab.js";
import { startPaviseIpsec, type PaviseIpsec } from "../lab/pavise-ipsec.js";
import { startCharon, type Charon } from "../lab/strongswan/charon.js";
import { renderPskTunnel } from "../lab/strongswan/swanctl-config.js";
import { PaviseError } from "../util/errors.js";
import type { PathId } from "./esp-bench-summary.js";

/** The same algorithms on every path: DESIGN.md's reference (AES-128-GCM, X25519). */
export const IKE_PROPOSAL = "aes128gcm16-prfsha256-x25519";
export const ESP_PROPOSAL = "aes128gcm16";

const PSK = "pavise-esp-bench-psk";
const CONNECTION = "bench";
const CHILD = "net";

export interface BenchHost {
  host: string;
  /** Address on the public LAN: IKE and ESP in UDP. */
  outer: string;
  /** Address on lo: what iperf3 talks from and to. */
  inner: string;
}

/** iperf3 runs from sender to receiver; the sender's side initiates the IKE SA. */
export interface BenchTopology {
  sender: BenchHost;
  receiver: BenchHost;
}

/** One IPsec daemon of an open path. */
export interface IpsecEnd {
  host: string;
  software: "charon" | "pavise";
  pid: number;
  /** Bytes its Child SAs have received so far (the proof that traffic took the tunnel). */
  bytesIn(): Promise<number>;
  /** The last lines of its log, for error messages. */
  logTail(lines: number): Promise<string>;
  stop(): Promise<void>;
}

export interface OpenPath {
  id: PathId;
  /** The IPsec daemons; absent on the bare path. */
  sender: IpsecEnd | undefined;
  receiver: IpsecEnd | undefined;
  /** How long it took until a ping went through, in ms. */
  readyMs: number;
  close(): Promise<void>;
}

/** Makes the inner addresses: one per host on lo, as esp-interop.test.ts does. */
export async function addInnerAddresses(lab: Lab, topology: BenchTopology): Promise<void> {
  for (const end of [topology.sender, topology.receiver]) {
    await lab.exec(end.host, ["ip", "addr", "add", `${end.inner}/32`, "dev", "lo"]);
  }
}

function charonEnd(charon: Charon): IpsecEnd {
  return {
    host: charon.host,
    software: "charon",
    pid: charon.labProcess.pid,
    bytesIn: async () =>
      (await charon.listSas()).flatMap((sa) => sa.childSas).reduce((sum, child) => sum + child.bytesIn, 0),
    logTail: (lines) => charon.logTail(lines),
    stop: () => charon.stop(),
  };
}

function paviseEnd(pavise: PaviseIpsec): IpsecEnd {
  return {
    host: pavise.host,
    software: "pavise",
    pid: pavise.process.pid,
    bytesIn: async () =>
      (await pavise.sas())
        .flatMap((sa) => sa.children)
        .reduce((sum, child) => sum + (child.counters?.bytesIn ?? 0), 0),
    logTail: (lines) => Promise.resolve(pavise.log().trimEnd().split("\n").slice(-lines).join("\n")),
    stop: () => pavise.stop(),
  };
}

async function startCharonEnd(lab: Lab, me: BenchHost, peer: BenchHost): Promise<Charon> {
  const charon = await startCharon(lab.runtime, me.host);
  try {
    await charon.loadConfig(
      renderPskTunnel({
        name: CONNECTION,
        child: CHILD,
        localAddress: me.outer,
        remoteAddress: peer.outer,
        psk: PSK,
        proposals: IKE_PROPOSAL,
        espProposals: ESP_PROPOSAL,
        mode: "tunnel",
        localTs: [`${me.inner}/32`],
        remoteTs: [`${peer.inner}/32`],
      }),
    );
  } catch (err) {
    await charon.stop();
    throw err;
  }
  return charon;
}

function paviseConfig(me: BenchHost, peer: BenchHost): string {
  return [
    "connections:",
    `  ${CONNECTION}:`,
    `    local_addrs: [${me.outer}]`,
    `    remote_addrs: [${peer.outer}]`,
    `    proposals: [${IKE_PROPOSAL}]`,
    `    local: { auth: psk, id: ${me.outer} }`,
    `    remote: { auth: psk, id: ${peer.outer} }`,
    "    children:",
    `      ${CHILD}:`,
    "        mode: tunnel",
    `        local_ts: [${me.inner}/32]`,
    `        remote_ts: [${peer.inner}/32]`,
    `        esp_proposals: [${ESP_PROPOSAL}]`,
    "secrets:",
    "  ike:",
    `    - id: [${me.outer}, ${peer.outer}]`,
    `      secret: ${JSON.stringify(PSK)}`,
    "",
  ].join("\n");
}

/** Waits until a ping from the sender's inner address reaches the receiver's. */
async function waitForPath(
  lab: Lab,
  id: PathId,
  topology: BenchTopology,
  ends: readonly (IpsecEnd | undefined)[],
  timeoutMs: number,
): Promise<void> {
  const { sender, receiver } = topology;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ping = await lab.exec(
      sender.host,
      ["ping", "-n", "-c", "1", "-W", "1", "-I", sender.inner, receiver.inner],
      { allowFailure: true },
    );
    if (ping.code === 0) return;
    if (Date.now() > deadline) {
      const logs: string[] = [];
      for (const end of ends) {
        if (end) logs.push(`last lines of ${end.software} on ${end.host}:`, await end.logTail(8));
      }
      throw new PaviseError(
        "BENCH_PATH_DOWN",
        `path (${id}): no ping from ${sender.inner} on ${sender.host} to ${receiver.inner} on ${receiver.host} ` +
          `within ${timeoutMs / 1000} s` +
          (logs.length > 0 ? `\n${logs.join("\n")}` : ""),
        {
          hint:
            "check that the TUN addon is built (npm run build:native) and that strongSwan's " +
            "kernel-libipsec plugin is installed (scripts/setup.sh)",
        },
      );
    }
    await sleep(100);
  }
}

async function stopBoth(ends: readonly (IpsecEnd | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(ends.map((end) => end?.stop() ?? Promise.resolve()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Plain routes between the inner addresses over the LAN, removed again on close. */
async function openBarePath(lab: Lab, topology: BenchTopology): Promise<() => Promise<void>> {
  const routes: [BenchHost, BenchHost][] = [
    [topology.sender, topology.receiver],
    [topology.receiver, topology.sender],
  ];
  const added: { host: string; route: string[] }[] = [];
  const remove = async (): Promise<void> => {
    for (const { host, route } of added.splice(0)) {
      await lab.exec(host, ["ip", "route", "del", ...route], { allowFailure: true });
    }
  };
  try {
    for (const [me, peer] of routes) {
      const route = [`${peer.inner}/32`, "via", peer.outer, "src", me.inner];
      await lab.exec(me.host, ["ip", "route", "add", ...route]);
      added.push({ host: me.host, route });
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return remove;
}

/**
 * Starts what a path needs, brings its tunnel up (the sender's side initiates) and waits until
 * a ping goes through. On failure it stops what it started and rethrows.
 */
export async function openPath(lab: Lab, id: PathId, topology: BenchTopology): Promise<OpenPath> {
  const started = Date.now();
  const { sender: s, receiver: r } = topology;
  let sender: IpsecEnd | undefined;
  let receiver: IpsecEnd | undefined;
  let removeRoutes: (() => Promise<void>) | undefined;
  const close = async (): Promise<void> => {
    await removeRoutes?.();
    await stopBoth([sender, receiver]);
  };
  try {
    if (id === "a") {
      removeRoutes = await openBarePath(lab, topology);
    } else if (id === "b") {
      const left = await startCharonEnd(lab, s, r);
      sender = charonEnd(left);
      receiver = charonEnd(await startCharonEnd(lab, r, s));
      await left.initiate({ child: CHILD, ike: CONNECTION, timeoutMs: 10_000 });
    } else if (id === "c") {
      const left = await startCharonEnd(lab, s, r);
      sender = charonEnd(left);
      receiver = paviseEnd(await startPaviseIpsec(lab.runtime, r.host, paviseConfig(r, s)));
      await left.initiate({ child: CHILD, ike: CONNECTION, timeoutMs: 10_000 });
    } else {
      const left = await startPaviseIpsec(lab.runtime, s.host, paviseConfig(s, r));
      sender = paviseEnd(left);
      receiver = paviseEnd(await startPaviseIpsec(lab.runtime, r.host, paviseConfig(r, s)));
      await left.initiate(CONNECTION);
    }
    // Pavise adds its routes just after the Child SA is up: wait for the first packet through.
    await waitForPath(lab, id, topology, [sender, receiver], 10_000);
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  return { id, sender, receiver, readyMs: Date.now() - started, close };
}
