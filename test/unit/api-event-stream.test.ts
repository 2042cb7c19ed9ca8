import { spawn } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { EventStreamHub, type EventStreamOptions } from "../../src/api/stream/event-stream.js";
import type { StreamReset, StreamSnapshot } from "../../src/api/stream/stream-messages.js";
import type { EventView, StatusView } from "../../src/api/schema/view-types.js";
import { eventAt, MemoryViewSource, statusViewAt } from "../support/memory-view-source.js";
import { ApiSchemaValidator } from "../support/api-schema-validator.js";
import { openStream, type SseStream } from "../support/sse-client.js";
import { until } from "../support/until.js";

/**
 * The live stream hub over a real node:http server and real sockets, read by a real HTTP client
 * through a parser written from the SSE spec. Only the view source is a test double (a pure
 * seam: the cache that implements it is built elsewhere, see memory-view-source.ts).
 */
interface Running {
  source: MemoryViewSource;
  hub: EventStreamHub;
  server: Server;
  url: string;
  streams: SseStream[];
}

const running: Running[] = [];
/** The stream's payloads as the OpenAPI document describes them (openapi/schemas.ts). */
const schemas = new ApiSchemaValidator();

async function start(options: EventStreamOptions = {}, withView = true): Promise<Running> {
  const source = new MemoryViewSource();
  if (withView) source.publishView(statusViewAt(10));
  const hub = new EventStreamHub(source, options);
  const server = createServer((req, res) => {
    const query = new URL(req.url ?? "/", "http://x").searchParams.get("lastEventId");
    hub.attach(req, res, query ?? undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/stream`;
  const r = { source, hub, server, url, streams: [] };
  running.push(r);
  return r;
}

async function connect(r: Running, headers: Record<string, string> = {}, url = r.url): Promise<SseStream> {
  const opened = await openStream(url, headers);
  expect(opened.status).toBe(200);
  r.streams.push(opened.stream);
  return opened.stream;
}

afterEach(async () => {
  for (const r of running.splice(0)) {
    for (const s of r.streams) s.close();
    r.hub.close();
    r.server.closeAllConnections();
    await new Promise<void>((resolve) => r.server.close(() => resolve()));
  }
});

describe("EventStreamHub", () => {
  it("sends retry, then a snapshot of the view and the last 200 events, with the SSE headers", async () => {
    const r = await start();
    for (let rev = 1; rev <= 9; rev++) r.source.record(eventAt(rev));
    for (let rev = 100; rev < 350; rev++) r.source.record(eventAt(rev));
    r.source.publishView(statusViewAt(400));
    const opened = await openStream(r.url);
    r.streams.push(opened.stream);
    expect(opened.status).toBe(200);
    expect(opened.headers["content-type"]).toBe("text/event-stream");
    expect(opened.headers["cache-control"]).toBe("no-store");
    expect(opened.headers["x-accel-buffering"]).toBe("no");
    const [first] = await opened.stream.waitForEvents(1);
    expect(opened.stream.parser.retry).toBe(2000);
    expect(first?.event).toBe("snapshot");
    expect(first?.lastEventId).toBe("400");
    const snapshot = JSON.parse(first?.data ?? "") as StreamSnapshot;
    expect(schemas.problems("StreamSnapshot", snapshot)).toBeUndefined();
    expect(snapshot.status.cluster.revision).toBe(400);
    expect(snapshot.events).toHaveLength(200);
    expect(snapshot.events[0]?.revision).toBe(150);
    expect(snapshot.events.at(-1)?.revision).toBe(349);
    expect(r.hub.clients).toBe(1);
  });

  it("sends events in revision order as the source reports them, each with its revision as id", async () => {
    const r = await start();
    const stream = await connect(r);
    await stream.waitForEvents(1);
    const sent = [11, 12, 15, 16, 20].map((rev) => eventAt(rev, rev % 2 ? "package-failed" : "started"));
    for (const e of sent) r.source.publishEvent(e);
    const events = (await stream.waitForEvents(6)).slice(1);
    expect(events.map((e) => e.event)).toEqual(Array(5).fill("event"));
    expect(events.map((e) => e.lastEventId)).toEqual(["11", "12", "15", "16", "20"]);
    expect(events.map((e) => JSON.parse(e.data) as EventView)).toEqual(sent);
    for (const e of events) expect(schemas.problems("EventView", JSON.parse(e.data))).toBeUndefined();
  });

  it("keeps a multi-line message inside one data field", async () => {
    const r = await start();
    const stream = await connect(r);
    await stream.waitForEvents(1);
    const hostile = eventAt(11, "operator", { message: "line one\nevent: reset\n\ndata: forged\r\n" });
    r.source.publishEvent(hostile);
    const events = await stream.waitForEvents(2);
    await sleep(50);
    expect(stream.events).toHaveLength(2);
    expect(JSON.parse(events[1]?.data ?? "")).toEqual(hostile);
  });

  it("throttles status to the interval, the latest view winning", async () => {
    const r = await start({ statusIntervalMs: 300 });
    const stream = await connect(r);
    await stream.waitForEvents(1);
    // A burst: the first goes out at once, the rest collapse into the last one.
    for (let rev = 11; rev <= 30; rev++) r.source.publishView(statusViewAt(rev));
    await until(
      "the held status",
      () => Promise.resolve(stream.named("status").length),
      (n) => n >= 2,
      5000,
      10,
    );
    await sleep(400);
    const statuses = stream.named("status");
    expect(statuses.map((s) => s.lastEventId)).toEqual(["11", "30"]);
    expect((JSON.parse(statuses[1]?.data ?? "") as StatusView).cluster.revision).toBe(30);
    expect(schemas.problems("StatusView", JSON.parse(statuses[1]?.data ?? ""))).toBeUndefined();
  });

  it("sends at most 4 status messages a second by default under a steady stream of changes", async () => {
    const r = await start();
    const stream = await connect(r);
    await stream.waitForEvents(1);
    const startedAt = performance.now();
    let rev = 11;
    while (performance.now() - startedAt < 1500) {
      r.source.publishView(statusViewAt(rev++));
      await sleep(10);
    }
    await sleep(300);
    const elapsed = performance.now() - startedAt;
    const statuses = stream.named("status");
    console.log(`status: ${rev - 11} views in ${Math.round(elapsed)} ms → ${statuses.length} messages`);
    // One at once, then at most one per 250 ms.
    expect(statuses.length).toBeLessThanOrEqual(1 + Math.ceil(elapsed / 250));
    expect(statuses.length).toBeGreaterThanOrEqual(3);
    expect(statuses.at(-1)?.lastEventId).toBe(String(rev - 1));
    const ids = statuses.map((s) => Number(s.lastEventId));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it("replays the events after Last-Event-ID, then the current status, without a snapshot", async () => {
    const r = await start();
    for (let rev = 11; rev <= 16; rev++) r.source.record(eventAt(rev));
    r.source.publishView(statusViewAt(17));
    let release: () => void = () => undefined;
    r.source.replayDelay = new Promise((resolve) => (release = resolve));
    const stream = await connect(r, { "last-event-id": "13" });
    await until(
      "the replay request",
      () => Promise.resolve(r.source.replayRequests),
      (q) => q.length === 1,
    );
    // Arrives while the replay is read from etcd: held, sent once after the replay, not twice.
    r.source.publishEvent(eventAt(18));
    release();
    const events = await stream.waitForEvents(5);
    await sleep(50);
    expect(r.source.replayRequests).toEqual([13]);
    expect(stream.events.map((e) => `${e.event}:${e.lastEventId}`)).toEqual([
      "event:14",
      "event:15",
      "event:16",
      "event:18",
      "status:17",
    ]);
    expect(events.some((e) => e.event === "snapshot")).toBe(false);
  });

  it("gives up a replay that more than 1,000 live events overtook, with reset and a snapshot", async () => {
    const r = await start();
    let release: () => void = () => undefined;
    r.source.replayDelay = new Promise((resolve) => (release = resolve));
    const stream = await connect(r, { "last-event-id": "5" });
    await until(
      "the replay request",
      () => Promise.resolve(r.source.replayRequests.length),
      (n) => n === 1,
    );
    for (let rev = 11; rev <= 1011; rev++) r.source.publishEvent(eventAt(rev));
    release();
    const [reset, snapshot] = await stream.waitForEvents(2);
    expect(reset?.event).toBe("reset");
    expect(JSON.parse(reset?.data ?? "")).toEqual({ reason: "unavailable", lastEventId: "5" });
    expect(snapshot?.event).toBe("snapshot");
    expect((JSON.parse(snapshot?.data ?? "") as StreamSnapshot).events.at(-1)?.revision).toBe(1011);
    // Live from there on.
    r.source.publishEvent(eventAt(1012));
    const events = await stream.waitForEvents(3);
    expect(events[2]?.lastEventId).toBe("1012");
  });

  it("takes Last-Event-ID from the caller (a query parameter) as well as from the header", async () => {
    const r = await start();
    for (let rev = 11; rev <= 12; rev++) r.source.record(eventAt(rev));
    const stream = await connect(r, {}, `${r.url}?lastEventId=11`);
    await stream.waitForEvents(2);
    expect(stream.events.map((e) => `${e.event}:${e.lastEventId}`)).toEqual(["event:12", "status:10"]);
  });

  it("answers a compacted Last-Event-ID with reset and a fresh snapshot", async () => {
    const r = await start();
    for (let rev = 100; rev <= 105; rev++) r.source.record(eventAt(rev));
    r.source.compactedBefore = 100;
    const stream = await connect(r, { "last-event-id": "50" });
    const [reset, snapshot] = await stream.waitForEvents(2);
    expect(reset?.event).toBe("reset");
    expect(schemas.problems("StreamReset", JSON.parse(reset?.data ?? ""))).toBeUndefined();
    expect(JSON.parse(reset?.data ?? "")).toEqual({
      reason: "compacted",
      lastEventId: "50",
    } satisfies StreamReset);
    expect(snapshot?.event).toBe("snapshot");
    expect((JSON.parse(snapshot?.data ?? "") as StreamSnapshot).events.map((e) => e.revision)).toEqual([
      100, 101, 102, 103, 104, 105,
    ]);
    // A Last-Event-ID that is no revision of ours starts afresh.
    const fresh = await connect(r, { "last-event-id": "abc\u00e9" });
    const [first] = await fresh.waitForEvents(1);
    expect(first?.event).toBe("snapshot");
  });

  it("holds the snapshot until the source has its first view", async () => {
    const r = await start({}, false);
    const stream = await connect(r);
    await sleep(100);
    expect(stream.events).toHaveLength(0);
    expect(stream.parser.retry).toBe(2000);
    r.source.publishEvent(eventAt(5));
    r.source.publishView(statusViewAt(6));
    const [first] = await stream.waitForEvents(1);
    expect(first?.event).toBe("snapshot");
    expect((JSON.parse(first?.data ?? "") as StreamSnapshot).events.map((e) => e.revision)).toEqual([5]);
  });

  it("answers the 33rd stream with 429 API_RATE_LIMITED, and a closed stream frees its slot", async () => {
    const r = await start();
    const streams: SseStream[] = [];
    for (let i = 0; i < 32; i++) streams.push(await connect(r));
    expect(r.hub.clients).toBe(32);
    const refused = await openStream(r.url);
    expect(refused.status).toBe(429);
    expect(refused.headers["content-type"]).toMatch(/^application\/json/);
    expect(refused.headers["retry-after"]).toBe("2");
    expect(JSON.parse(refused.body ?? "")).toMatchObject({ error: { code: "API_RATE_LIMITED" } });
    expect(r.hub.clients).toBe(32);
    streams[7]?.close();
    await until(
      "the slot freed",
      () => Promise.resolve(r.hub.clients),
      (n) => n === 31,
    );
    const again = await connect(r);
    const [first] = await again.waitForEvents(1);
    expect(first?.event).toBe("snapshot");
    expect(r.hub.clients).toBe(32);
  });

  it("drops a client that falls more than the backlog limit behind, and keeps one that reads", async () => {
    const r = await start({ maxBacklogBytes: 256 * 1024 });
    const slow = await connect(r);
    const reader = await connect(r);
    await slow.waitForEvents(1);
    await reader.waitForEvents(1);
    slow.pause();
    const padding = "x".repeat(16 * 1024);
    let rev = 11;
    // The kernel's socket buffers take a few MB before anything waits in the server.
    while (r.hub.dropped === 0 && rev < 11 + 4000) {
      r.source.publishEvent(eventAt(rev++, "padding", { padding }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const sentMiB = ((rev - 11) * padding.length) / 2 ** 20;
    console.log(`slow client dropped after ${rev - 11} events (${sentMiB.toFixed(1)} MiB)`);
    expect(r.hub.dropped).toBe(1);
    expect(r.hub.clients).toBe(1);
    // Reading again, it finds its stream ended by the server, short of the last events.
    slow.resume();
    await until(
      "the slow stream closed",
      () => Promise.resolve(slow.ended),
      (ended) => ended,
      20_000,
    );
    expect(Number(slow.events.at(-1)?.lastEventId)).toBeLessThan(rev - 1);
    await reader.waitForEvents(rev - 11 + 1, 20_000);
    expect(reader.ended).toBe(false);
    expect(reader.events.at(-1)?.lastEventId).toBe(String(rev - 1));
  }, 60_000);

  it("answers HEAD with the stream's headers and no stream", async () => {
    const r = await start();
    const answer = await new Promise<{ status: number; type: string | undefined }>((resolve, reject) => {
      const req = request(r.url, { method: "HEAD" }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"] }));
      });
      req.on("error", reject);
      req.end();
    });
    expect(answer).toEqual({ status: 200, type: "text/event-stream" });
    expect(r.hub.clients).toBe(0);
  });

  it("sends a heartbeat comment at the interval", async () => {
    const r = await start({ heartbeatMs: 40 });
    const stream = await connect(r);
    await until(
      "three heartbeats",
      () => Promise.resolve(stream.parser.comments.length),
      (n) => n >= 3,
      5000,
      10,
    );
    expect(new Set(stream.parser.comments)).toEqual(new Set(["hb"]));
    // Comments are not events.
    expect(stream.events.map((e) => e.event)).toEqual(["snapshot"]);
  });

  it("close() ends every stream and stops listening to the source", async () => {
    const r = await start();
    const a = await connect(r);
    const b = await connect(r);
    await a.waitForEvents(1);
    await b.waitForEvents(1);
    expect(r.source.listeners).toBe(2);
    r.hub.close();
    await until(
      "both streams ended",
      () => Promise.resolve(a.ended && b.ended),
      (done) => done,
    );
    expect(r.hub.clients).toBe(0);
    expect(r.source.listeners).toBe(0);
  });

  it("streams to curl -N", async () => {
    const r = await start();
    const curl = spawn("curl", ["-N", "-s", "-i", "--max-time", "1", r.url]);
    let out = "";
    curl.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    setTimeout(() => r.source.publishEvent(eventAt(11)), 300);
    const code = await new Promise<number | null>((resolve) => curl.on("close", resolve));
    // 28: curl's --max-time ended the endless stream, as expected.
    expect(code).toBe(28);
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(out).toMatch(/\r\ncontent-type: text\/event-stream\r\n/i);
    const body = out.slice(out.indexOf("\r\n\r\n") + 4);
    expect(body).toMatch(
      /^retry: 2000\n\nid: 10\nevent: snapshot\ndata: \{.*\}\n\nid: 11\nevent: event\ndata: \{.*\}\n\n$/s,
    );
  });
});
