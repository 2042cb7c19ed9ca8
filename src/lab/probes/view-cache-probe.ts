/**
 * A lab probe that runs the API's cluster view cache inside a lab host (the lab's etcd is not
 * reachable from the machine's own namespace), as a node's daemon would, for the integration
 * test api-view-cache.test.ts. One JSON object per line on stdout:
 *
 *   {"t":"etcd","at":…,"changes":[{type,key,modRevision}]}   a raw watch of the prefix (not events/):
 *                                                            the reference clock for "etcd changed"
 *   {"t":"view","at":…,"revision":…,"view":{…},"stale":…}     each onView
 *   {"t":"event","at":…,"event":{…}}                          each onEvent
 *   {"t":"reply","id":…,…}                                    the answer to a command
 *
 * Commands, one JSON object per line on stdin: {"id":1,"cmd":"current"},
 * {"id":2,"cmd":"eventsAfter","revision":N}, {"id":3,"cmd":"route","path":"/v1/status"} (a GET
 * through the read routes' handlers, as full_admin over the control socket). `at` is
 * performance.now() of this process: the figures compare times of one clock.
 *
 *   node dist/lab/probes/view-cache-probe.js --config FILE --node NODE
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { readClusterConfig } from "../../cluster/config/cluster-config.js";
import { etcdForNode } from "../../cluster/config/etcd-credentials.js";
import { EtcdClient } from "../../cluster/etcd/client.js";
import { ClusterKeys } from "../../cluster/membership/layout.js";
import { Router } from "../../api/http/router.js";
import type { ApiHandler } from "../../api/http/api-handler.js";
import { daemonReads } from "../../api/routes/daemon-reads.js";

const { values } = parseArgs({
  options: { config: { type: "string" }, node: { type: "string" }, "log-dir": { type: "string" } },
});
if (values.config === undefined || values.node === undefined) {
  process.stderr.write("usage: view-cache-probe --config FILE --node NODE [--log-dir DIR]\n");
  process.exit(2);
}
const file = values.config;
const node = values.node;
const read = readClusterConfig(file);
const config = { ...read, etcd: etcdForNode(read.etcd, node) };
const say = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ...line, at: performance.now() })}\n`);
};

// As a daemon builds it (api/routes/daemon-reads.ts); the lab's nodes serve no API, so nothing
// is forwarded (no API URL in their records, no certificate here).
const reads = daemonReads({
  file,
  config,
  node,
  logDirectory: values["log-dir"],
  sas: () => [],
  tls: () => undefined,
  log: (event, message) => say({ t: "log", event, message }),
});
const cache = reads.cache;
cache.onView((v) => say({ t: "view", revision: v.revision, view: v.view, stale: v.stale }));
cache.onEvent((event) => say({ t: "event", event }));

const keys = new ClusterKeys(config.etcd.prefix);
const rawClient = new EtcdClient({ endpoints: config.etcd.endpoints, tls: config.etcd.tls });
const raw = rawClient.watch(keys.prefix, { prefix: true });
void (async () => {
  for await (const batch of raw) {
    if (batch.kind !== "events") continue;
    const changes = batch.events
      .filter((e) => !e.kv.key.startsWith(keys.eventsPrefix))
      .map((e) => ({ type: e.type, key: e.kv.key.slice(keys.prefix.length), modRevision: e.kv.modRevision }));
    if (changes.length > 0) say({ t: "etcd", changes });
  }
})();
await raw.ready;

const router = new Router<ApiHandler>(reads.routes);
reads.start();
const first = await cache.firstView;
say({ t: "ready", revision: first.revision });

interface Command {
  id: number;
  cmd: "current" | "eventsAfter" | "route" | "recent" | "stats";
  revision?: number;
  path?: string;
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === "") continue;
  const command = JSON.parse(line) as Command;
  try {
    if (command.cmd === "current") {
      const current = cache.current();
      say({
        t: "reply",
        id: command.id,
        revision: current?.revision,
        view: current?.view,
        stale: current?.stale,
      });
    } else if (command.cmd === "stats") {
      say({ t: "reply", id: command.id, stats: cache.stats(), memory: process.memoryUsage().heapUsed });
    } else if (command.cmd === "recent") {
      say({ t: "reply", id: command.id, events: cache.recentEvents() });
    } else if (command.cmd === "eventsAfter") {
      say({ t: "reply", id: command.id, events: await cache.eventsAfter(command.revision ?? 0) });
    } else {
      const target = command.path ?? "/";
      const match = router.match("GET", target);
      if (!match.ok) {
        say({ t: "reply", id: command.id, status: match.failure.status, body: match.failure.body });
        continue;
      }
      const reply = await match.route.handler({
        params: match.params,
        query: new URL(target, "http://probe").searchParams,
        body: undefined,
        principal: { user: "probe", auth: "control", host: undefined, grants: [{ role: "full_admin" }] },
        servedBy: node,
        requestId: `probe-${command.id}`,
      });
      say({
        t: "reply",
        id: command.id,
        status: reply.status,
        body: "body" in reply ? reply.body : undefined,
      });
    }
  } catch (err) {
    say({ t: "reply", id: command.id, error: (err as Error).message });
  }
}
reads.stop();
raw.close();
rawClient.close();
