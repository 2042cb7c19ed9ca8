import { moveEtcdLeader } from "../../src/lab/etcd.js";
import { ipsecWebPackage, type IpsecWebOptions, writeLabPsk } from "../../src/lab/ipsec-package.js";
import type { IkeSaInfo } from "../../src/lab/strongswan/charon.js";
import { linkedHolders } from "./cluster-observe.js";
import { VIP, daemonClusterFile } from "./daemon-cluster.js";
import { until } from "./until.js";
import { type DaemonLab, type DaemonLabOptions, useDaemonLab } from "./daemon-lab.js";

// What the IPsec package tests share (issue #6): a daemon lab whose package web carries IPsec
// (src/lab/ipsec-package.ts) with a fresh PSK, the clients a test starts (stopped in afterAll,
// even when a test failed), and the usual start: etcd's leader off n1, the three daemons, web
// running on n1.

/** Something a test started that must stop with the lab (a charon, a pavise ipsec serve). */
interface Stoppable {
  stop(): Promise<void>;
}

export interface IpsecPackageLab {
  readonly t: DaemonLab;
  /** The clients' PSK (known once beforeAll ran). */
  readonly psk: string;
  /** Stops `client` when the lab goes down; returns it. */
  track<T extends Stoppable>(client: T): T;
  /**
   * Moves etcd's leadership off n1 (so a crash of n1 costs no etcd election), starts the daemons
   * on n1, n2 and n3 and waits until web has started on n1.
   */
  startWebOnN1(options?: { beforeDaemons?: () => Promise<void> }): Promise<void>;
  /** Crashes n1 and waits until n2 holds web's address (with link): when, and how long it took. */
  crashN1(): Promise<{ crashedAt: number; takenAfter: number }>;
}

export interface IpsecPackageLabOptions extends Omit<IpsecWebOptions, "pskFile"> {
  /** Watch the nodes' addresses from the start (for the never-two-owners check; default yes). */
  watchFromStart?: boolean;
  /** Runs first in afterAll, before the clients stop (heal a cut, put a carrier back…). */
  cleanup?: DaemonLabOptions["cleanup"];
  /** The daemons serve the HTTP API (lab credentials: DaemonLab.api). */
  api?: boolean;
}

export function useIpsecPackageLab(name: string, options: IpsecPackageLabOptions): IpsecPackageLab {
  let psk: string | undefined;
  const clients: Stoppable[] = [];
  const { cleanup, watchFromStart, api, ...web } = options;
  const t = useDaemonLab(name, {
    watchFromStart: watchFromStart ?? true,
    api: api ?? false,
    clusterFile: (lab, dir, credentials) => {
      const written = writeLabPsk(dir);
      psk = written.psk;
      return daemonClusterFile(lab, {
        name,
        packages: ipsecWebPackage({ ...web, pskFile: written.file }),
        api: credentials,
      });
    },
    cleanup: async (lab) => {
      await cleanup?.(lab);
      for (const client of clients) await client.stop().catch(() => undefined);
    },
  });
  return {
    t,
    get psk() {
      if (psk === undefined) throw new Error(`the IPsec lab ${name} has no PSK yet (before beforeAll?)`);
      return psk;
    },
    track(client) {
      clients.push(client);
      return client;
    },
    async startWebOnN1(start = {}) {
      await moveEtcdLeader(t.lab.runtime, t.lab.plan.etcd, "n1", "n2");
      await start.beforeDaemons?.();
      for (const node of ["n1", "n2", "n3"]) await t.cluster.startDaemon(node);
      await t.cluster.untilLogged("web started on n1", "n1", "started", "package web started", 20_000);
    },
    async crashN1() {
      const crashedAt = Date.now();
      await t.lab.faults.crashHost("n1");
      t.cluster.daemons.delete("n1");
      await until(
        "web's address on n2",
        () => linkedHolders(t.lab, VIP),
        (h) => h.includes("n2"),
        20_000,
      );
      return { crashedAt, takenAfter: Date.now() - crashedAt };
    },
  };
}

/** A strongSwan client's IKE SAs of its connection web (the package). */
export function webSas(sas: IkeSaInfo[]): IkeSaInfo[] {
  return sas.filter((sa) => sa.name === "web");
}
