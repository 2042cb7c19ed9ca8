import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../util/errors.js";
import type { HostRuntime, LabProcess } from "./host-runtime.js";
import { enableEtcdAuth, etcdRootTls, issueEtcdUserCredentials } from "./etcd-auth.js";
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
    "--logger",
    "zap",
    "--log-outputs",
    "stderr",
  ];
  // Raft's pre-vote (off by default in etcd 3.4, on in the lab unless pre_vote: false): a member
  // that heard no leader for a while (cut off one way) campaigns without raising its term.
  // Without it, that member's higher term makes the leader step down as soon as the cut heals,
  // and an election of 0.5–1.4 s fences every node holding a 1 s lease
  // (cluster-daemon-one-way.test.ts, bug-heartbeat-heal-forces-etcd-election.test.ts).
  if (etcd.preVote) args.push("--pre-vote");
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
    if (etcd.auth) await issueEtcdUserCredentials(ca, runtime, etcd.auth);
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

/**
 * etcdctl arguments that reach the given endpoints, with the lab's client certificate if TLS is
 * on — root's (CN root) when etcd's authentication is on, so health checks and move-leader
 * (which needs root) still work.
 */
export function etcdctlArgs(runtime: HostRuntime, etcd: PlannedEtcd, endpoints: readonly string[]): string[] {
  const args = ["etcdctl", `--endpoints=${endpoints.join(",")}`, "--dial-timeout=1s", "--command-timeout=2s"];
  if (etcd.tls) {
    const tls = etcdClientTls(runtime);
    const own = etcd.auth ? etcdRootTls(runtime) : tls;
    args.push(`--cacert=${tls.caCert}`, `--cert=${own.cert}`, `--key=${own.key}`);
  }
  return args;
}

/** Turns etcd's authentication on (etcd-auth.ts), once every member is healthy. */
export async function startEtcdAuth(runtime: HostRuntime, etcd: PlannedEtcd): Promise<void> {
  await enableEtcdAuth(
    runtime,
    etcd,
    etcdctlArgs(
      runtime,
      etcd,
      etcd.members.map((m) => m.clientUrl),
    ),
  );
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

/**
 * Makes `toHost`'s member etcd's leader (etcdctl move-leader, asked of the current leader), so a
 * test or bench can choose whether a fault hits the leader. Returns the leader's host afterwards.
 */
export async function moveEtcdLeader(
  runtime: HostRuntime,
  etcd: PlannedEtcd,
  toHost: string,
  fromHost: string,
): Promise<string | undefined> {
  const target = etcd.members.find((m) => m.host === toHost);
  if (!target) {
    throw new PaviseError("LAB_NO_ETCD_MEMBER", `host ${toHost} runs no etcd member`, {
      hint: `pick one of: ${etcd.members.map((m) => m.host).join(", ")}`,
    });
  }
  const endpoints = etcd.members.map((m) => m.clientUrl);
  const status = await runtime.exec(
    fromHost,
    [...etcdctlArgs(runtime, etcd, endpoints), "endpoint", "status", "-w", "json"],
    { allowFailure: true, timeoutMs: 10_000 },
  );
  const lines = parseJsonArray<StatusLine>(status.stdout);
  const leaderLine = lines.find((l) => l.Status?.header?.member_id === l.Status?.leader);
  // Member IDs come as JSON numbers above 2^53: read them exactly from the text, not as numbers.
  const id = rawMemberIds(status.stdout)[lines.findIndex((l) => l.Endpoint === target.clientUrl)];
  if (leaderLine && leaderLine.Endpoint !== target.clientUrl) {
    if (id !== undefined) {
      await runtime.exec(
        fromHost,
        [...etcdctlArgs(runtime, etcd, [leaderLine.Endpoint]), "move-leader", id.toString(16)],
        { allowFailure: true, timeoutMs: 10_000 },
      );
    }
  }
  return (await etcdHealth(runtime, etcd, fromHost)).find((m) => m.leader)?.host;
}

/** The member_id of each line of `etcdctl endpoint status -w json`, exactly (BigInt). */
function rawMemberIds(text: string): bigint[] {
  return [...text.matchAll(/"member_id":(\d+)/g)].map((m) => BigInt(m[1]!));
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
