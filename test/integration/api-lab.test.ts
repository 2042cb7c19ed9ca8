import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Agent } from "node:https";
import { cpus, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { API_ERROR_CODES } from "../../src/api/http/api-errors.js";
import { DaemonApi } from "../../src/api/http/daemon-api.js";
import { hashPassword } from "../../src/api/auth/password-hash.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { etcdctlArgs } from "../../src/lab/etcd.js";
import { LAB_API_PORT } from "../../src/lab/api-credentials.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { apiCall, type ApiAnswer } from "../support/api-client.js";
import { fuzzRequest } from "../support/api-fuzz-requests.js";
import {
  arpHosts,
  clusterEvents,
  linkedHolders,
  sampleArp,
  startClientTraffic,
} from "../support/cluster-observe.js";
import { NODES, VIP, daemonClusterFile, nodesServing } from "../support/daemon-cluster.js";
import { useDaemonLab } from "../support/daemon-lab.js";
import { testLabName } from "../support/fresh-lab.js";
import { parsePrometheusText, sampleValue } from "../support/prometheus-text.js";
import { cpuSeconds } from "../support/process-cpu.js";
import { seededRandom } from "../support/seeded-random.js";
import { ApiSchemaValidator } from "../support/api-schema-validator.js";
import type { OpenApiDocument } from "../../src/api/openapi/openapi-document.js";
import { until } from "../support/until.js";
import { distPath } from "../../src/util/package-paths.js";

// The daemon's HTTPS API on the lab's three nodes (design §5, §10): curl from a client namespace
// (c1) against the nodes' addresses with the lab's API CA, and once over the unix socket.
// Health, the 401 challenge, a monitor token (metrics yes, writes no: the intent key untouched),
// a password login and its cookie (and the CSRF Origin rule), a package admin's certificate
// moving web to n3 (never two holders: address watch and ARP; the client's gap; the event log
// names the user, via api and the serving node), refusals (role, body, unknown name, size),
// the login delay and lockout, and 2,000 seeded fuzzed requests: no 5xx, no dropped connection,
// no fence. Needs root, curl and a build.
const root = process.getuid?.() === 0;
const LAB = testLabName("asapi");
const UDP_PORT = 7451;
const FUZZ_SEED = 7_2026;
const FUZZ_REQUESTS = 2_000;

interface Curl extends Omit<ApiAnswer, "headers"> {
  headers: Record<string, string>;
  /** curl's time_total, ms. */
  ms: number;
}

/** The part of an OpenAPI response object the schema check reads. */
interface JsonAnswer {
  content?: Record<string, { schema?: { $ref?: string } } | undefined>;
}

describe.skipIf(!root)("the HTTPS API of pavise daemon in a lab", () => {
  const t = useDaemonLab(LAB, {
    api: true,
    clusterFile: (lab, dir, api) => {
      // A hook on operator actions: the node that serves an action through the API runs it once.
      const hook = join(dir, "operator-hook.sh");
      writeFileSync(
        hook,
        `#!/bin/sh\nenv | grep ^PAVISE_ > "${dir}/hook-$PAVISE_EVENT_NODE-$PAVISE_EVENT_SEQUENCE.env"\n`,
        {
          mode: 0o755,
        },
      );
      return daemonClusterFile(lab, {
        name: LAB,
        service: { echoPort: UDP_PORT },
        resources: ["disk"],
        api,
        topLevel: `hooks:\n  - name: operator-record\n    command: ${hook}\n    events: [operator]\n`,
      });
    },
    watchFromStart: true,
    start: NODES,
    ready: async (lab) => {
      await until(
        "web on n1 only",
        () => linkedHolders(lab.lab, VIP),
        (h) => h.length === 1 && h[0] === "n1",
        20_000,
      );
      await lab.cluster.untilApiServing();
    },
  });

  const hookRuns = (): string[] =>
    readdirSync(t.dir)
      .filter((f) => f.startsWith("hook-") && f.endsWith(".env"))
      .map((f) => readFileSync(join(t.dir, f), "utf8"));

  const nodeUrl = (node: string): string => {
    const nic = t.lab.host(node).nics.find((n) => n.subnet === "public" && n.address !== undefined)!;
    return `https://${nic.address}:${LAB_API_PORT}`;
  };
  const clientCert = (user: string): string[] => [
    "--cert",
    t.api.clients[user]!.cert,
    "--key",
    t.api.clients[user]!.key,
  ];
  const jsonBody = (body: string): string[] => [
    "-H",
    "Content-Type: application/json",
    "--data-binary",
    body,
  ];

  /** curl inside c1 (or with --unix-socket), the answer parsed from -i output. */
  async function curl(method: string, url: string, args: string[] = []): Promise<Curl> {
    const r = await t.lab.exec(
      "c1",
      [
        "curl",
        "-sS",
        "-i",
        "--max-time",
        "30",
        "--cacert",
        t.api.caCert,
        "-X",
        method,
        ...args,
        "-w",
        "\n@@%{time_total}",
        url,
      ],
      { allowFailure: true },
    );
    if (r.code !== 0) throw new Error(`curl ${method} ${url} failed (${r.code}): ${r.stderr}`);
    const at = r.stdout.lastIndexOf("\n@@");
    const ms = Number(r.stdout.slice(at + 3)) * 1000;
    const raw = r.stdout.slice(0, at);
    const split = raw.indexOf("\r\n\r\n");
    const head = raw.slice(0, split).split("\r\n");
    const text = raw.slice(split + 4);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    let json: ApiAnswer["json"];
    try {
      json = JSON.parse(text) as ApiAnswer["json"];
    } catch {
      json = { error: { code: "", message: `not JSON: ${text.slice(0, 200)}` } };
    }
    return { status: Number(head[0]!.split(" ")[1]), headers, text, json, ms };
  }

  /** The intent key of web (admin/packages/web): its mod_revision, or "absent". */
  async function intentRevision(): Promise<number | "absent"> {
    const key = new ClusterKeys(`/pavise/${LAB}/`).adminPackage("web");
    const urls = t.lab.plan.etcd.members.map((m) => m.clientUrl);
    const r = await t.lab.exec("n1", [
      ...etcdctlArgs(t.lab.runtime, t.lab.plan.etcd, urls),
      "get",
      key,
      "-w",
      "json",
    ]);
    const kvs = (JSON.parse(r.stdout) as { kvs?: { mod_revision: number }[] }).kvs;
    return kvs?.[0]?.mod_revision ?? "absent";
  }

  /**
   * n1's event-loop lag (the largest since it started, the histogram's cumulative buckets) and
   * the API connections it accepted so far.
   */
  async function loopLag(
    socketPath: string,
    ca: Buffer,
  ): Promise<{ max: number; buckets: Map<string, number>; connections: number }> {
    const metrics = await apiCall({ socketPath }, "GET", "/metrics", {
      ca,
      headers: { authorization: `Bearer ${t.api.token}` },
    });
    const families = parsePrometheusText(metrics.text);
    const buckets = new Map<string, number>();
    for (const s of families.get("pavise_event_loop_lag_seconds")?.samples ?? [])
      if (s.name.endsWith("_bucket")) buckets.set(s.labels.le!, s.value);
    return {
      max: sampleValue(families, "pavise_event_loop_lag_max_seconds", {}),
      buckets,
      connections: sampleValue(families, "pavise_api_connections_total", { outcome: "accepted" }),
    };
  }

  /** Ticks between two readings, and how many of them ran later than each bound. */
  function lagDelta(before: Map<string, number>, after: Map<string, number>): string {
    const delta = (le: string): number => (after.get(le) ?? 0) - (before.get(le) ?? 0);
    const ticks = delta("+Inf");
    return `${ticks} ticks, ${ticks - delta("0.005")} later than 5 ms, ${ticks - delta("0.025")} later than 25 ms, ${ticks - delta("0.1")} later than 100 ms`;
  }

  const token = (): string[] => ["-H", `Authorization: Bearer ${t.api.token}`];
  let adminCookie = "";
  let monitorCookie = "";

  it("GET /v1/health over TCP and over the unix socket: a member, open to all", async () => {
    const tcp = await curl("GET", `${nodeUrl("n2")}/v1/health`);
    expect(tcp.status).toBe(200);
    expect(tcp.json).toMatchObject({ node: "n2", member: true, fenced: false, api: "ok" });
    expect(tcp.headers["x-content-type-options"]).toBe("nosniff");
    const socket = DaemonApi.socketPath(t.cluster.controlSocket("n1"), "n1");
    const unix = await curl("GET", "https://127.0.0.1/v1/health", ["--unix-socket", socket]);
    expect(unix.json).toMatchObject({ node: "n1", member: true, api: "ok" });
    const leaders = [];
    for (const node of NODES) leaders.push((await curl("GET", `${nodeUrl(node)}/v1/health`)).json.leader);
    expect(leaders.filter((l) => l === true)).toHaveLength(1);
  });

  it("no credentials: 401 with WWW-Authenticate; the monitor token reads /metrics and may not write", async () => {
    const none = await curl("GET", `${nodeUrl("n1")}/metrics`);
    expect([none.status, none.json.error.code]).toEqual([401, "API_UNAUTHENTICATED"]);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer realm=/);
    const metrics = await curl("GET", `${nodeUrl("n1")}/metrics`, token());
    expect(metrics.status).toBe(200);
    const families = parsePrometheusText(metrics.text);
    expect(sampleValue(families, "pavise_node_member", {})).toBe(1);
    expect(families.has("pavise_api_requests_total")).toBe(true);
    const before = await intentRevision();
    const write = await curl("POST", `${nodeUrl("n1")}/v1/packages/web/halt`, [
      ...token(),
      ...jsonBody("{}"),
    ]);
    expect([write.status, write.json.error.code]).toEqual([403, "API_FORBIDDEN"]);
    expect(write.json.error.message).toContain("prometheus may not run, halt, move or switch package web");
    await sleep(300);
    expect(await intentRevision()).toEqual(before);
    expect(await linkedHolders(t.lab, VIP)).toEqual(["n1"]);
  });

  it("password login: a Secure HttpOnly SameSite=Strict cookie; GET /v1/session; a cookie write needs the Origin", async () => {
    const login = await curl("POST", `${nodeUrl("n1")}/v1/session`, [
      ...jsonBody(JSON.stringify({ user: "admin", password: t.api.passwords.admin })),
    ]);
    expect(login.status).toBe(204);
    expect(login.headers["set-cookie"]).toMatch(
      /^pavise_session=[^;]+; Secure; HttpOnly; SameSite=Strict; Path=\//,
    );
    adminCookie = login.headers["set-cookie"]!.split(";")[0]!;
    // The same key on every node: the session is good on n3 too.
    const who = await curl("GET", `${nodeUrl("n3")}/v1/session`, ["-H", `Cookie: ${adminCookie}`]);
    expect(who.json).toEqual({ user: "admin", role: "full_admin", packages: "all", auth: "password" });
    const before = await intentRevision();
    const noOrigin = await curl("POST", `${nodeUrl("n1")}/v1/packages/web/halt`, [
      "-H",
      `Cookie: ${adminCookie}`,
      ...jsonBody("{}"),
    ]);
    expect([noOrigin.status, noOrigin.json.error.code]).toEqual([403, "API_FORBIDDEN"]);
    const crossSite = await curl("POST", `${nodeUrl("n1")}/v1/packages/web/halt`, [
      "-H",
      `Cookie: ${adminCookie}`,
      "-H",
      "Origin: https://evil.example",
      ...jsonBody("{}"),
    ]);
    expect(crossSite.status).toBe(403);
    expect(await intentRevision()).toEqual(before);
    const monitor = await curl("POST", `${nodeUrl("n2")}/v1/session`, [
      ...jsonBody(JSON.stringify({ user: "monitor", password: t.api.passwords.monitor })),
    ]);
    expect(monitor.status).toBe(204);
    monitorCookie = monitor.headers["set-cookie"]!.split(";")[0]!;
  });

  it("pkgadmin's certificate moves web to n3: 200 ok, never two holders, the event log says who", async () => {
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    const arp = sampleArp(t.lab, [VIP]);
    await sleep(500);
    const move = await curl("POST", `${nodeUrl("n1")}/v1/packages/web/move`, [
      ...clientCert("pkgadmin"),
      ...jsonBody('{"node": "n3"}'),
    ]);
    await sleep(500);
    const report = await traffic.stop();
    const arpSamples = (await arp.stop()).get(VIP)!;
    console.log(`POST /v1/packages/web/move -> ${move.status} in ${Math.round(move.ms)} ms: ${move.text}`);
    expect(move.status).toBe(200);
    expect(move.json).toMatchObject({ ok: true, waited: true, state: "web: up on n3" });
    expect(await linkedHolders(t.lab, VIP)).toEqual(["n3"]);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n3"]);
    expect(await nodesServing(t.lab, UDP_PORT)).toEqual(["n3"]);
    // Each ARP round during the move: one answer at most (never two owners).
    expect(arpSamples.filter((sample) => sample.hosts.length > 1)).toEqual([]);
    expect(arpSamples.length).toBeGreaterThan(0);
    console.log(
      `API move web n1 -> n3: answered in ${Math.round(move.ms)} ms; client's longest gap ${Math.round(report.maxGapMs)} ms, ` +
        `${report.received}/${report.sent} answered; ${arpSamples.length} ARP rounds, each answered by one node at most`,
    );
    expect(report.received).toBeGreaterThan(0);
    expect(report.maxGapMs).toBeLessThan(1500);
    const c1 = t.lab.host("c1").nics[0]!.address;
    const events = await clusterEvents(t.lab, "n1", t.configFile);
    const moved = events.find(
      (e) => e.kind === "operator" && (e as Record<string, unknown>).action === "pkg-move",
    );
    expect(moved).toMatchObject({
      user: "pkgadmin",
      via: "api",
      auth: "certificate",
      servedBy: "n1",
      host: c1,
    });
    console.log(`event: ${JSON.stringify(moved)}`);
    // Its hook ran once, on n1, which served the action.
    const runs = await until(
      "the operator hook's run",
      () => Promise.resolve(hookRuns().filter((env) => env.includes('"action":"pkg-move"'))),
      (found) => found.length > 0,
      5_000,
    );
    await sleep(500);
    expect(hookRuns().filter((env) => env.includes('"action":"pkg-move"'))).toHaveLength(1);
    expect(runs[0]).toContain("PAVISE_EVENT_KIND=operator");
    expect(runs[0]).toContain("PAVISE_EVENT_NODE=n1");
    expect(runs[0]).toContain("PAVISE_EVENT_BY=pkgadmin");
  });

  it("every read answers as the daemon's own OpenAPI document says (ajv 2020 against its schemas)", async () => {
    const bearer = ["-H", `Authorization: Bearer ${t.api.token}`];
    const doc = await curl("GET", `${nodeUrl("n2")}/v1/openapi.json`);
    expect(doc.status).toBe(200);
    const document = doc.json as unknown as OpenApiDocument & {
      paths: Record<string, { get?: { responses: Record<string, JsonAnswer | undefined> } }>;
    };
    const validator = new ApiSchemaValidator(document.components.schemas);
    const params: Record<string, string> = { pkg: "web", node: "n2" };
    const checked: string[] = [];
    for (const [pattern, item] of Object.entries(document.paths)) {
      const ref = item.get?.responses["200"]?.content?.["application/json"]?.schema?.$ref;
      // Reads with a JSON answer; the node-to-node paths need a node's certificate.
      if (ref === undefined || pattern.endsWith("/local") || pattern === "/v1/openapi.json") continue;
      const path = pattern.replace(/\{(\w+)\}/g, (_, name: string) => params[name]!);
      // A log tail needs package_admin; every other read is the monitor token's.
      const who = path.endsWith("/log") ? clientCert("pkgadmin") : bearer;
      const answer = await curl("GET", `${nodeUrl("n2")}${path}`, who);
      if (path.endsWith("/ipsec")) {
        // web has no ipsec: in this lab: a 404 in the error shape (the IPsec labs read SAs).
        expect([path, answer.status, validator.problems("ErrorBody", answer.json)]).toEqual([
          path,
          404,
          undefined,
        ]);
        checked.push(`${path} (404 ErrorBody: ${answer.json.error.code})`);
        continue;
      }
      const schema = ref.replace("#/components/schemas/", "");
      expect([path, answer.status], answer.text).toEqual([path, 200]);
      expect([path, validator.problems(schema, answer.json)]).toEqual([path, undefined]);
      checked.push(`${path} (${schema})`);
    }
    console.log(`answers valid against /v1/openapi.json: ${checked.join(", ")}`);
    expect(checked.length).toBeGreaterThanOrEqual(9);
  });

  it("refusals: node halt needs full_admin, a bad body names the key, an unknown package has a did-you-mean, 20 KiB is too large", async () => {
    const before = await intentRevision();
    const halt = await curl("POST", `${nodeUrl("n2")}/v1/nodes/n2/halt`, [
      ...clientCert("pkgadmin"),
      ...jsonBody("{}"),
    ]);
    expect([halt.status, halt.json.error.message]).toEqual([
      403,
      "pkgadmin may not halt or run a node: this needs full_admin",
    ]);
    const bad = await curl("POST", `${nodeUrl("n2")}/v1/packages/web/move`, [
      ...clientCert("pkgadmin"),
      ...jsonBody('{"node": 5}'),
    ]);
    expect([bad.status, bad.json.error.code, bad.json.error.where?.key]).toEqual([
      400,
      "API_BAD_REQUEST",
      "/node",
    ]);
    const unknown = await curl("POST", `${nodeUrl("n2")}/v1/packages/wbe/run`, [
      ...clientCert("pkgadmin"),
      ...jsonBody("{}"),
    ]);
    expect([unknown.status, unknown.json.error.code]).toEqual([404, "NO_SUCH_PACKAGE"]);
    expect(unknown.json.error.message).toContain('(did you mean "web"?)');
    const big = await curl("POST", `${nodeUrl("n2")}/v1/packages/web/move`, [
      ...clientCert("pkgadmin"),
      ...jsonBody(JSON.stringify({ node: "x".repeat(20 * 1024) })),
    ]);
    expect([big.status, big.json.error.code]).toEqual([413, "API_BODY_TOO_LARGE"]);
    for (const r of [halt, bad, unknown, big]) expect(r.text).not.toMatch(/\.[jt]s:\d+/);
    expect(await intentRevision()).toEqual(before);
  });

  it("a generic resource set down over the API makes n2 ineligible: moving web there is 409 OPERATOR_REFUSED", async () => {
    const down = await curl("POST", `${nodeUrl("n2")}/v1/packages/web/resources/disk`, [
      ...clientCert("pkgadmin"),
      ...jsonBody('{"status": "down", "node": "n2"}'),
    ]);
    expect([down.status, down.json.ok]).toEqual([200, true]);
    expect(down.json.command).toBe("pavise resource set web disk down --node n2");
    const before = await intentRevision();
    const refused = await curl("POST", `${nodeUrl("n2")}/v1/packages/web/move`, [
      ...clientCert("pkgadmin"),
      ...jsonBody('{"node": "n2"}'),
    ]);
    expect([refused.status, refused.json.error.code]).toEqual([409, "OPERATOR_REFUSED"]);
    expect(refused.json.error.message).toMatch(/^web cannot run on n2: .*disk/);
    expect(await intentRevision()).toEqual(before);
    const unknownNode = await curl("POST", `${nodeUrl("n2")}/v1/packages/web/move`, [
      ...clientCert("pkgadmin"),
      ...jsonBody('{"node": "n4"}'),
    ]);
    expect([unknownNode.status, unknownNode.json.error.code]).toEqual([404, "NO_SUCH_NODE"]);
    const up = await curl("POST", `${nodeUrl("n2")}/v1/packages/web/resources/disk`, [
      ...clientCert("pkgadmin"),
      ...jsonBody('{"status": "up", "node": "n2"}'),
    ]);
    expect(up.status).toBe(200);
    expect(await linkedHolders(t.lab, VIP)).toEqual(["n3"]);
  });

  it("wrong passwords: each answered after the delay; 10 lock the user (429 + Retry-After), even with the right one", async () => {
    const wrong = (): Promise<Curl> =>
      curl("POST", `${nodeUrl("n2")}/v1/session`, [
        ...jsonBody(JSON.stringify({ user: "monitor", password: "nope" })),
      ]);
    const answers: Curl[] = [];
    for (let round = 0; round < 2; round++) answers.push(...(await Promise.all([1, 2, 3, 4, 5].map(wrong))));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(401));
    const delays = answers.map((a) => a.ms).sort((a, b) => a - b);
    console.log(
      `failed logins answered after ${Math.round(delays[0]!)}–${Math.round(delays.at(-1)!)} ms (delay 1000 ms)`,
    );
    expect(delays[0]).toBeGreaterThanOrEqual(990);
    const locked = await curl("POST", `${nodeUrl("n2")}/v1/session`, [
      ...jsonBody(JSON.stringify({ user: "monitor", password: t.api.passwords.monitor })),
    ]);
    expect([locked.status, locked.json.error.code]).toEqual([429, "API_RATE_LIMITED"]);
    expect(Number(locked.headers["retry-after"])).toBeGreaterThan(30);
    console.log(
      `locked: ${locked.json.error.message} (Retry-After ${locked.headers["retry-after"]} s, ${Math.round(locked.ms)} ms)`,
    );
    // Per node: n1 has not counted these failures, and another user is not locked on n2.
    const admin = await curl("POST", `${nodeUrl("n2")}/v1/session`, [
      ...jsonBody(JSON.stringify({ user: "admin", password: t.api.passwords.admin })),
    ]);
    expect(admin.status).toBe(204);
  });

  it(
    `${FUZZ_REQUESTS} seeded fuzzed requests: no 5xx, no dropped connection, GETs stay fast, no fence`,
    { timeout: 600_000 },
    async () => {
      const socketPath = DaemonApi.socketPath(t.cluster.controlSocket("n1"), "n1");
      const ca = readFileSync(t.api.caCert);
      const random = seededRandom(FUZZ_SEED);
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      const before = await intentRevision();
      // A quiet window first, to compare the fuzz's lag with the loaded machine's own.
      const quietStart = await loopLag(socketPath, ca);
      await sleep(5_000);
      const lagBefore = await loopLag(socketPath, ca);
      const daemonPid = t.cluster.daemons.get("n1")!.pid;
      const cpuBefore = cpuSeconds(daemonPid);
      const pkgadmin = {
        cert: readFileSync(t.api.clients.pkgadmin!.cert),
        key: readFileSync(t.api.clients.pkgadmin!.key),
      };
      const statuses = new Map<number, number>();
      const problems: string[] = [];
      let next = 0;
      const requests = Array.from({ length: FUZZ_REQUESTS }, () =>
        fuzzRequest(random, { monitorToken: t.api.token, monitorCookie }),
      );
      let fuzzing = true;
      const latencies: number[] = [];
      const probe = (async () => {
        while (fuzzing) {
          const started = performance.now();
          const r = await apiCall({ socketPath }, "GET", "/v1/health", { ca });
          latencies.push(performance.now() - started);
          if (r.status !== 200) problems.push(`health probe: ${r.status}`);
          await sleep(20);
        }
      })();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < requests.length) {
            const i = next++;
            const q = requests[i]!;
            try {
              const r = await apiCall({ socketPath }, q.method, q.path, {
                ca,
                agent,
                headers: q.headers,
                ...(q.pkgadminCert ? { cert: pkgadmin } : {}),
                ...(q.body !== undefined ? { body: q.body } : {}),
              });
              statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
              if (r.status >= 500) problems.push(`#${i} ${q.method} ${q.path}: ${r.status} ${r.text}`);
              const errorBody = r.status >= 400 && q.method !== "HEAD";
              if (errorBody && !API_ERROR_CODES.includes(r.json.error?.code as never))
                problems.push(
                  `#${i} ${q.method} ${q.path}: ${r.status} without an error code: ${r.text.slice(0, 200)}`,
                );
              if (/\.[jt]s:\d+/.test(r.text)) problems.push(`#${i}: a stack trace: ${r.text.slice(0, 200)}`);
            } catch (err) {
              problems.push(`#${i} ${q.method} ${q.path.slice(0, 80)}: ${(err as Error).message}`);
            }
          }
        }),
      );
      const fuzzMs = performance.now() - started;
      const daemonCpu = cpuSeconds(daemonPid) - cpuBefore;
      fuzzing = false;
      await probe;
      agent.destroy();
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!;
      const lagAfter = await loopLag(socketPath, ca);
      console.log(
        `fuzz: ${FUZZ_REQUESTS} requests (seed ${FUZZ_SEED}) in ${Math.round(fuzzMs)} ms; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ` +
          `GET /v1/health under the fuzz: ${latencies.length} probes, p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms, ` +
          `p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms; n1 event loop during the fuzz: ${lagDelta(lagBefore.buckets, lagAfter.buckets)} ` +
          `(quiet 5 s before: ${lagDelta(quietStart.buckets, lagBefore.buckets)}); ` +
          `lag max since start ${(lagBefore.max * 1000).toFixed(1)} ms before, ${(lagAfter.max * 1000).toFixed(1)} ms after; ` +
          `${lagAfter.connections - lagBefore.connections} TLS connections accepted; n1's daemon used ${daemonCpu.toFixed(2)} s of CPU in the ${(fuzzMs / 1000).toFixed(1)} s (load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs)`,
      );
      expect(problems.slice(0, 20)).toEqual([]);
      expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
      expect(p99).toBeLessThan(1000);
      expect(await intentRevision()).toEqual(before);
      expect(await linkedHolders(t.lab, VIP)).toEqual(["n3"]);
      for (const node of NODES) expect(t.cluster.logged(node, "fenced"), `${node} fenced`).toBe(false);
      const timeline = await t.stopWatch();
      expect(overlaps(timeline, VIP)).toEqual([]);
    },
  );
  it("a user added by pavise config apply, with a password file, signs in on every node at once (no restart)", async () => {
    const passwordFile = join(t.dir, "dave.scrypt");
    writeFileSync(passwordFile, `${await hashPassword("dave-password")}\n`, { mode: 0o600 });
    const withDave = readFileSync(t.configFile, "utf8").replace(
      /^ {2}users:\n/m,
      (users) =>
        `${users}    - { name: dave, role: monitor, password_file: ${JSON.stringify(passwordFile)} }\n`,
    );
    expect(withDave).toContain("name: dave");
    const file = join(t.dir, "with-dave.yaml");
    writeFileSync(file, withDave);
    const applied = await t.lab.exec(
      "n1",
      [process.execPath, distPath("cli/main.js"), "config", "apply", file],
      {
        allowFailure: true,
      },
    );
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain("dave");
    for (const node of NODES) {
      await t.cluster.untilLogged(
        `${node} to read the credential files again`,
        node,
        "api",
        "credential files read again (configuration applied): 4 password(s)",
      );
      const login = await curl("POST", `${nodeUrl(node)}/v1/session`, [
        ...jsonBody(JSON.stringify({ user: "dave", password: "dave-password" })),
      ]);
      expect(login.status, `dave on ${node}`).toBe(204);
    }
  });

  it("SIGHUP reads the credential files again: a new password works on that node at once, without a restart", async () => {
    const file = t.api.passwordFiles.admin!;
    const before = readFileSync(file, "utf8");
    const fresh = "rotated-admin-password";
    writeFileSync(file, `${await hashPassword(fresh)}\n`, { mode: 0o600 });
    try {
      const n2 = t.cluster.daemons.get("n2")!;
      process.kill(n2.pid, "SIGHUP");
      await t.cluster.untilLogged(
        "n2 to read its credentials again",
        "n2",
        "api",
        "credential files read again (SIGHUP)",
      );
      const login = (node: string, password: string) =>
        curl("POST", `${nodeUrl(node)}/v1/session`, [
          ...jsonBody(JSON.stringify({ user: "admin", password })),
        ]);
      expect((await login("n2", fresh)).status).toBe(204);
      // n3 was not told: it still has the old hash, so the reload is what made the difference.
      expect((await login("n3", fresh)).status).toBe(401);
      expect((await login("n3", t.api.passwords.admin!)).status).toBe(204);
      // The daemon is still there and still a member.
      expect((await curl("GET", `${nodeUrl("n2")}/v1/health`)).status).toBe(200);
      expect(t.cluster.logged("n2", "signal", "leaving")).toBe(false);
    } finally {
      writeFileSync(file, before, { mode: 0o600 });
    }
  });
});
