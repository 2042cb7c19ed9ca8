import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../util/errors.js";
import type { HostRuntime, LabProcess } from "./host-runtime.js";
import { createLabCa, issueCertificate } from "./lab-ca.js";
import type { PlannedEtcd, PlannedEtcdMember } from "./plan.js";

/** Where the etcd client certificate of the lab lives (for etcdctl and, later, Pavise nodes). */
export interface EtcdClientTls {
  caCert: string;
  cert: string;
  key: string;
}

export interface EtcdMemberHealth {
  name: string;
  host: string;
  endpoint: string;
  healthy: boolean;
  leader: boolean;
  error?: string;
}

function caDir(runtime: HostRuntime): string {
  return join(runtime.labDir, "ca");
}

export function etcdClientTls(runtime: HostRuntime): EtcdClientTls {
  const dir = caDir(runtime);
  return { caCert: join(dir, "ca.crt"), cert: join(dir, "client.crt"), key: join(dir, "client.key") };
}

function memberArgs(
  runtime: HostRuntime,
  etcd: PlannedEtcd,
  member: PlannedEtcdMember,
  dataDir: string,
): string[] {
  const scheme = etcd.tls ? "https" : "http";
  const args = [
    "etcd",
    "--name",
    member.name,
    "--data-dir",
    dataDir,
    "--listen-peer-urls",
    member.peerUrl,
    "--initial-advertise-peer-urls",
    member.peerUrl,
    // Loopback too, so a node's own daemon can reach its local member without the LAN.
    "--listen-client-urls",
    `${member.clientUrl},${scheme}://127.0.0.1:2379`,
    "--advertise-client-urls",
    member.clientUrl,
    "--initial-cluster",
    etcd.members.map((m) => `${m.name}=${m.peerUrl}`).join(","),
    "--initial-cluster-token",
    `pavise-lab-${runtime.labName}`,
    "--initial-cluster-state",
    "new",
    "--heartbeat-interval",
    String(etcd.heartbeatIntervalMs),
    "--election-timeout",
    String(etcd.electionTimeoutMs),
    // Raft pre-vote (off by default in etcd 3.4): a member cut off from the others asks first
    // whether it could win and raises its term only then. Without it, its campaigns raise the
    // term and its return forces the healthy leader to step down — an election that, with 1 s
    // leases, fences every node (test/integration/bug-heartbeat-heal-forces-etcd-election.test.ts).
    "--pre-vote",
    "--logger",
    "zap",
    "--log-outputs",
    "stderr",
  ];
  if (etcd.tls) {
    const dir = caDir(runtime);
    const caCert = join(dir, "ca.crt");
    const cert = join(dir, `etcd-${member.name}.crt`);
    const key = join(dir, `etcd-${member.name}.key`);
    args.push(
      "--cert-file",
      cert,
      "--key-file",
      key,
      "--trusted-ca-file",
      caCert,
      "--client-cert-auth",
      "--peer-cert-file",
      cert,
      "--peer-key-file",
      key,
      "--peer-trusted-ca-file",
      caCert,
      "--peer-client-cert-auth",
    );
  }
  return args;
}

/** Starts every member (one per node, as a real deployment would run them). */
export async function startEtcd(runtime: HostRuntime, etcd: PlannedEtcd): Promise<LabProcess[]> {
  if (etcd.tls) {
    const ca = await createLabCa(caDir(runtime), runtime.labName);
    for (const member of etcd.members) {
      await issueCertificate(ca, `etcd-${member.name}`, [member.address, "127.0.0.1"]);
    }
    await issueCertificate(ca, "client", []);
  }
  const processes: LabProcess[] = [];
  for (const member of etcd.members) processes.push(await startEtcdMember(runtime, etcd, member));
  return processes;
}

/**
 * Starts one member. After a crash it restarts from its data directory and rejoins the
 * cluster (etcd ignores the --initial-cluster flags once it has data).
 */
export async function startEtcdMember(
  runtime: HostRuntime,
  etcd: PlannedEtcd,
  member: PlannedEtcdMember,
): Promise<LabProcess> {
  const dataDir = join(runtime.labDir, "etcd", member.name);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new PaviseError(
      "LAB_DIR_UNWRITABLE",
      `cannot make etcd's data directory: ${(err as Error).message}`,
      {
        where: { file: dataDir },
        hint: `make sure ${runtime.labDir} is a writable directory (PAVISE_LAB_ROOT sets where labs live)`,
      },
    );
  }
  return runtime.spawn(member.host, memberArgs(runtime, etcd, member, dataDir), {
    role: `etcd-${member.name}`,
    log: join(runtime.labDir, "logs", `etcd-${member.name}.log`),
  });
}

/** etcdctl arguments that reach the given endpoints, with the lab's client certificate if TLS is on. */
export function etcdctlArgs(runtime: HostRuntime, etcd: PlannedEtcd, endpoints: readonly string[]): string[] {
  const args = ["etcdctl", `--endpoints=${endpoints.join(",")}`, "--dial-timeout=1s", "--command-timeout=2s"];
  if (etcd.tls) {
    const tls = etcdClientTls(runtime);
    args.push(`--cacert=${tls.caCert}`, `--cert=${tls.cert}`, `--key=${tls.key}`);
  }
  return args;
}

interface StatusLine {
  Endpoint: string;
  Status?: { header?: { member_id?: number }; leader?: number };
}
interface HealthLine {
  endpoint: string;
  health: boolean;
  error?: string;
}

/**
 * Health of each member, asked from inside a node that runs a member (the lab's LANs are not
 * reachable from the machine's own namespace). A member is healthy when it answers a
 * linearizable read, which needs a quorum.
 */
export async function etcdHealth(
  runtime: HostRuntime,
  etcd: PlannedEtcd,
  fromHost?: string,
): Promise<EtcdMemberHealth[]> {
  if (etcd.members.length === 0) return [];
  const endpoints = etcd.members.map((m) => m.clientUrl);
  const host = fromHost ?? etcd.members[0]?.host ?? "";
  const health = await runtime.exec(
    host,
    [...etcdctlArgs(runtime, etcd, endpoints), "endpoint", "health", "-w", "json"],
    {
      allowFailure: true,
      timeoutMs: 10_000,
    },
  );
  const status = await runtime.exec(
    host,
    [...etcdctlArgs(runtime, etcd, endpoints), "endpoint", "status", "-w", "json"],
    {
      allowFailure: true,
      timeoutMs: 10_000,
    },
  );
  const healthLines = parseJsonArray<HealthLine>(health.stdout);
  const statusLines = parseJsonArray<StatusLine>(status.stdout);
  return etcd.members.map((member): EtcdMemberHealth => {
    const h = healthLines.find((line) => line.endpoint === member.clientUrl);
    const s = statusLines.find((line) => line.Endpoint === member.clientUrl);
    const leader =
      s?.Status?.header?.member_id !== undefined && s.Status.header.member_id === s.Status.leader;
    return {
      name: member.name,
      host: member.host,
      endpoint: member.clientUrl,
      healthy: h?.health === true,
      leader,
      ...(h?.health === true ? {} : { error: h?.error ?? "no answer" }),
    };
  });
}

function parseJsonArray<T>(text: string): T[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
}

/** Waits until every member is healthy, or throws ETCD_NOT_READY naming the ones that are not. */
export async function waitForEtcd(
  runtime: HostRuntime,
  etcd: PlannedEtcd,
  timeoutMs: number,
): Promise<EtcdMemberHealth[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const members = await etcdHealth(runtime, etcd);
    if (members.every((m) => m.healthy)) return members;
    if (Date.now() > deadline) {
      const sick = members.filter((m) => !m.healthy).map((m) => `${m.name} (${m.error ?? "unhealthy"})`);
      throw new PaviseError(
        "ETCD_NOT_READY",
        `etcd members not healthy after ${timeoutMs} ms: ${sick.join(", ")}`,
        {
          hint: `read the member logs in ${join(runtime.labDir, "logs")}`,
        },
      );
    }
    await sleep(200);
  }
}
