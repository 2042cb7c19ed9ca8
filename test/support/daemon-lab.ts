import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import type { AddressTimeline } from "../../src/lab/probes/address-timeline.js";
import type { AddressWatch } from "../../src/lab/probes/address-watch.js";
import { linkedHolders } from "./cluster-observe.js";
import {
  createLabApiCredentials,
  labApiNodes,
  type LabApiCredentials,
} from "../../src/lab/api-credentials.js";
import {
  DaemonCluster,
  NODES,
  VIP,
  daemonClusterFile,
  nodesServing,
  watchNodeAddresses,
} from "./daemon-cluster.js";
import { freshLab, testLabSpec } from "./fresh-lab.js";
import { until } from "./until.js";

// The scaffolding every daemon-level test shares: a fresh lab with etcd, a temporary directory
// holding cluster.yaml and the daemons' logs, the daemons, an address watch; and the teardown
// (stop the watch, stop every daemon, lab down, print the logs, remove the directory), run even
// when a test failed.

export interface DaemonLabOptions {
  /**
   * cluster.yaml (default: web with an echo service on `echoPort`, or a sleeper without one);
   * `api` is there with the `api` option.
   */
  clusterFile?: (lab: Lab, dir: string, api: LabApiCredentials | undefined) => string;
  /** The HTTP API: lab credentials (api-credentials.ts) under dir/api, and the api: section. */
  api?: boolean;
  /** web's echo service port, for the default cluster file. */
  echoPort?: number;
  /** The lab's etcd with client and peer TLS, and with users and roles (lab-ca.ts, etcd-auth.ts). */
  etcd?: { tls?: boolean; auth?: boolean };
  /** Daemons started in beforeAll, in this order (none: the test starts them). */
  start?: readonly string[];
  /** Watch n1..n3's addresses from before the daemons start. */
  watchFromStart?: boolean;
  /**
   * Stop the daemons with SIGTERM first and give them 1.5 s, so each halts its packages and its
   * guardian leaves with it, before killing what is left.
   */
  haltFirst?: boolean;
  /** Runs last in beforeAll (e.g. waits until web runs on n1). */
  ready?: (t: DaemonLab) => Promise<void>;
  /** Runs first in afterAll (heal faults, thaw frozen processes, stop traffic). */
  cleanup?: (t: DaemonLab) => Promise<void> | void;
}

export interface DaemonLab {
  /** The lab's name, also the cluster's. */
  readonly name: string;
  readonly lab: Lab;
  /** Holds cluster.yaml and the daemons' logs. */
  readonly dir: string;
  /** dir/cluster.yaml. */
  readonly configFile: string;
  /** The API's lab credentials (with the `api` option). */
  readonly api: LabApiCredentials;
  readonly cluster: DaemonCluster;
  /** The address watch running, if any (stopped in afterAll). */
  readonly watch: AddressWatch | undefined;
  /** Starts watching the hosts' addresses (default n1..n3). */
  startWatch(hosts?: readonly string[]): Promise<AddressWatch>;
  /** Stops the running watch: what it saw. */
  stopWatch(): Promise<AddressTimeline>;
}

/** Registers beforeAll/afterAll for a daemon lab named `name`; its parts are there once beforeAll ran. */
export function useDaemonLab(name: string, options: DaemonLabOptions = {}): DaemonLab {
  let lab: Lab | undefined;
  let dir: string | undefined;
  let cluster: DaemonCluster | undefined;
  let watch: AddressWatch | undefined;
  let api: LabApiCredentials | undefined;
  const need = <T>(part: T | undefined, what: string): T => {
    if (part === undefined) throw new Error(`the daemon lab ${name} has no ${what} yet (before beforeAll?)`);
    return part;
  };

  const t: DaemonLab = {
    name,
    get lab() {
      return need(lab, "lab");
    },
    get dir() {
      return need(dir, "directory");
    },
    get configFile() {
      return join(need(dir, "directory"), "cluster.yaml");
    },
    get cluster() {
      return need(cluster, "daemons");
    },
    get api() {
      return need(api, "API credentials (option api)");
    },
    get watch() {
      return watch;
    },
    async startWatch(hosts) {
      watch = await watchNodeAddresses(t.lab, hosts);
      return watch;
    },
    async stopWatch() {
      const running = need(watch, "address watch running");
      watch = undefined;
      return running.stop();
    },
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `pavise-${name}-`));
    lab = await freshLab(
      testLabSpec(name, { etcd: true, etcdTls: options.etcd?.tls, etcdAuth: options.etcd?.auth }),
    );
    if (options.api) api = await createLabApiCredentials(join(dir, "api"), name, labApiNodes(lab, NODES));
    const file =
      options.clusterFile?.(lab, dir, api) ??
      daemonClusterFile(lab, {
        name,
        service: options.echoPort === undefined ? "sleeper" : { echoPort: options.echoPort },
        api,
      });
    writeFileSync(t.configFile, file);
    cluster = new DaemonCluster(lab, dir);
    if (options.watchFromStart) await t.startWatch();
    for (const node of options.start ?? []) await cluster.startDaemon(node);
    await options.ready?.(t);
  });

  afterAll(async () => {
    if (lab) await options.cleanup?.(t);
    await watch?.stop().catch(() => undefined);
    const daemons = [...(cluster?.daemons.values() ?? [])];
    if (options.haltFirst && daemons.length > 0) {
      for (const proc of daemons) await lab?.runtime.stop(proc, "SIGTERM").catch(() => undefined);
      await sleep(1500);
    }
    for (const proc of cluster?.daemons.values() ?? []) await lab?.runtime.stop(proc).catch(() => undefined);
    await lab?.down();
    cluster?.printLogs();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  return t;
}

/** Waits until web's address (on a NIC with its link up) and its echo service are on `node` only. */
export async function untilWebServedBy(t: DaemonLab, node: string, echoPort: number): Promise<void> {
  await t.cluster.explained(
    node,
    until(
      `web's address on ${node} only`,
      () => linkedHolders(t.lab, VIP),
      (h) => h.length === 1 && h[0] === node,
      15_000,
    ),
  );
  await until(
    `web's service on ${node} only`,
    () => nodesServing(t.lab, echoPort),
    (s) => s.length === 1 && s[0] === node,
    15_000,
  );
}
