import { describe, expect, it } from "vitest";
import type { ApiHandler, ApiReply } from "../../src/api/http/api-handler.js";
import { Router } from "../../src/api/http/router.js";
import type { Principal } from "../../src/api/auth/principal.js";
import { readRoutes, type ReadRouteDeps } from "../../src/api/routes/read-routes.js";
import type { OwnerReads } from "../../src/api/routes/owner-proxy.js";
import type { EventView } from "../../src/api/schema/view-types.js";
import type { CachedView } from "../../src/api/view/cluster-view-cache.js";
import { EventRing } from "../../src/api/view/event-ring.js";
import { statusView } from "../../src/cli/status-render.js";
import { labLikeRead } from "../support/view-fixture.js";

/**
 * The read routes' handlers over a cluster read as daemons write it (view-fixture.ts), a real
 * event ring, and owner reads that record what they were asked: answers, status codes, the
 * parameter a 400 names, did-you-mean, and who may use the node-to-node log path.
 */
const admin: Principal = {
  user: "alice",
  auth: "password",
  host: "198.18.1.101",
  grants: [{ role: "full_admin" }],
};
const peer: Principal = { user: "n1", auth: "node", host: "198.18.2.11", grants: [{ role: "monitor" }] };

const REVISION = labLikeRead().snapshot.revision;

function event(revision: number, kind: string, pkg?: string): EventView {
  return {
    time: 1_790_000_000_000 + revision,
    node: "n1",
    kind,
    message: kind,
    revision,
    ...(pkg ? { package: pkg } : {}),
  };
}

function setup(options: { started?: boolean; stale?: CachedView["stale"] } = {}) {
  const read = labLikeRead();
  const cached: CachedView = {
    view: statusView({ ...read, etcd: [] }),
    revision: read.snapshot.revision,
    read,
    ...(options.stale ? { stale: options.stale } : {}),
  };
  const ring = new EventRing(3);
  ring.add([event(200, "started", "web"), event(201, "operator", "web"), event(202, "node-failed")]);
  const fromEtcd = [event(150, "started", "db"), ...ring.query()];
  const asked: string[] = [];
  const owner: OwnerReads = {
    sas: (pkg, node) => {
      asked.push(`sas ${pkg} ${node}`);
      return Promise.resolve({ ok: true, value: { node, sas: [] } });
    },
    logTail: (pkg, node, lines) => {
      asked.push(`log ${pkg} ${node} ${lines}`);
      return Promise.resolve({ ok: true, value: { node, file: `/var/log/pavise/${pkg}.log`, lines: ["x"] } });
    },
  };
  const deps: ReadRouteDeps = {
    view: {
      cached: () => (options.started === false ? undefined : cached),
      current: () => (options.started === false ? undefined : cached),
      recentEvents: (filter) => ring.query(filter),
      eventsAfter: (revision) => Promise.resolve(fromEtcd.filter((e) => e.revision > revision)),
      onView: () => () => undefined,
      onEvent: () => () => undefined,
    },
    owner,
  };
  const router = new Router<ApiHandler>(readRoutes(deps));
  const get = async (
    target: string,
    principal: Principal = admin,
  ): Promise<ApiReply & { body?: unknown }> => {
    const match = router.match("GET", target);
    if (!match.ok) return match.failure;
    return match.route.handler({
      params: match.params,
      query: new URL(target, "https://n2").searchParams,
      body: undefined,
      principal,
      servedBy: "n2",
      requestId: "r1",
    });
  };
  return { get, asked, router };
}

describe("read routes", () => {
  it("answers 503 DAEMON_STARTING before the cache's first read", async () => {
    const { get } = setup({ started: false });
    expect(await get("/v1/status")).toMatchObject({
      status: 503,
      body: { error: { code: "DAEMON_STARTING" } },
    });
  });

  it("gives the status view with who served it and the revision, and says when it is stale", async () => {
    const { get } = setup({ stale: { since: 1_790_000_009_000, reason: "etcd has no quorum" } });
    const reply = await get("/v1/status");
    expect(reply).toMatchObject({
      status: 200,
      body: { servedBy: "n2", revision: REVISION, cluster: { revision: REVISION } },
    });
    expect(reply.body).toMatchObject({ stale: { since: 1_790_000_009_000, reason: "etcd has no quorum" } });
    const cluster = await get("/v1/cluster");
    expect(cluster.body).toMatchObject({
      cluster: { leader: "n2" },
      apiNodes: [{ node: "n1", url: "https://198.18.2.11:7443" }],
    });
  });

  it("names a package or node that does not exist with a did-you-mean (404)", async () => {
    const { get } = setup();
    const pkg = await get("/v1/packages/wbe");
    expect(pkg).toMatchObject({ status: 404, body: { error: { code: "NO_SUCH_PACKAGE" } } });
    expect(JSON.stringify(pkg.body)).toContain('(did you mean \\"web\\"?)');
    expect(await get("/v1/nodes/n9")).toMatchObject({
      status: 404,
      body: { error: { code: "NO_SUCH_NODE" } },
    });
    expect(await get("/v1/events?package=wbe")).toMatchObject({ status: 404 });
  });

  it("refuses bad query parameters with 400 naming the parameter", async () => {
    const { get } = setup();
    for (const [target, key] of [
      ["/v1/events?limit=0", "?limit"],
      ["/v1/events?limit=1001", "?limit"],
      ["/v1/events?since=-1", "?since"],
      ["/v1/events?since=1e3", "?since"],
      ["/v1/packages/web/log?lines=2001", "?lines"],
      ["/v1/packages/web/log?lines=", "?lines"],
    ] as const) {
      expect(await get(target), target).toMatchObject({
        status: 400,
        body: { error: { code: "API_BAD_REQUEST", where: { key } } },
      });
    }
  });

  it("gives details of nodes and packages", async () => {
    const { get } = setup();
    expect((await get("/v1/nodes")).body).toHaveLength(3);
    expect(await get("/v1/nodes/n1")).toMatchObject({ status: 200, body: { name: "n1", packages: ["web"] } });
    expect(await get("/v1/packages/web")).toMatchObject({
      status: 200,
      body: { name: "web", services: [{ name: "httpd", node: "n1", restarts: 2, state: "running" }, {}] },
    });
    // web has no ipsec: section.
    expect(await get("/v1/packages/web/ipsec")).toMatchObject({
      status: 404,
      body: { error: { code: "API_NOT_FOUND" } },
    });
  });

  it("reads the log from the node the package runs on, or the one named; a package that runs nowhere needs ?node=", async () => {
    const { get, asked } = setup();
    expect(await get("/v1/packages/web/log")).toMatchObject({
      status: 200,
      body: { node: "n1", lines: ["x"] },
    });
    expect(await get("/v1/packages/web/log?lines=20&node=n3")).toMatchObject({ status: 200 });
    expect(asked).toEqual(["log web n1 200", "log web n3 20"]);
    expect(await get("/v1/packages/db/log")).toMatchObject({
      status: 400,
      body: { error: { code: "API_BAD_REQUEST", where: { key: "?node" } } },
    });
    expect(await get("/v1/packages/web/log?node=n7")).toMatchObject({ status: 404 });
  });

  it("lets only another node (or the control socket) use the node-to-node log path", async () => {
    const { get, asked } = setup();
    expect(await get("/v1/packages/web/log/local?lines=5", admin)).toMatchObject({
      status: 403,
      body: { error: { code: "API_FORBIDDEN" } },
    });
    expect(await get("/v1/packages/web/log/local?lines=5", peer)).toMatchObject({
      status: 200,
      body: { node: "n2" },
    });
    // It answers for this node only, never forwarding again.
    expect(asked).toEqual(["log web n2 5"]);
  });

  it("gives events from the ring, and from etcd when `since` is older than the ring reaches", async () => {
    const { get } = setup();
    const newest = await get("/v1/events?limit=2");
    expect(newest.body).toMatchObject({ revision: REVISION, complete: true });
    expect((newest.body as { events: EventView[] }).events.map((e) => e.revision)).toEqual([201, 202]);
    const web = await get("/v1/events?package=web&kind=operator");
    expect((web.body as { events: EventView[] }).events.map((e) => e.revision)).toEqual([201]);
    const old = await get("/v1/events?since=100");
    expect((old.body as { events: EventView[] }).events.map((e) => e.revision)).toEqual([150, 200, 201, 202]);
    const after = await get("/v1/events?since=201");
    expect((after.body as { events: EventView[] }).events.map((e) => e.revision)).toEqual([202]);
  });

  it("gives each read route the read role, and the log the package-log role", () => {
    const { router } = setup();
    const roles = Object.fromEntries(router.routes.map((r) => [r.pattern, r.role]));
    expect(roles["/v1/packages/{pkg}/log"]).toBe("package-log");
    expect(
      Object.entries(roles)
        .filter(([, role]) => role !== "read")
        .map(([p]) => p),
    ).toEqual(["/v1/packages/{pkg}/log"]);
    expect(router.routes.every((r) => r.method === "GET")).toBe(true);
  });
});
