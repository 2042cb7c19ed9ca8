import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLabCa, issueCertificate } from "../../src/lab/lab-ca.js";
import { forwardToOwner, ownerReads, type NodeTls } from "../../src/api/routes/owner-proxy.js";
import { daemonLocalFacts, tailLines } from "../../src/api/view/local-facts.js";
import { clusterConfigFixture, packageConfig } from "../support/cluster-fixtures.js";

/**
 * The owner proxy against a real node:https server on loopback with certificates from a real
 * CA (openssl): node n2 asks "n1" for its SAs with its node certificate; a server with a
 * certificate from another CA, one that never answers and a closed port are all 503
 * API_OWNER_UNREACHABLE, the silent one after the 1 s limit. And the log tail over real files.
 */
const dir = mkdtempSync(join(tmpdir(), "pavise-owner-proxy-"));
let n2Tls: NodeTls;
let server: Server;
let rogue: Server;
let silent: TcpServer;
const silentSockets: Socket[] = [];
let url: string;
let rogueUrl: string;
let silentUrl: string;
const seen: { path: string; cn: string | undefined; authorized: boolean }[] = [];

function listen(s: Server | TcpServer): Promise<string> {
  return new Promise((resolve) =>
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      resolve(`https://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`);
    }),
  );
}

beforeAll(async () => {
  const ca = await createLabCa(join(dir, "ca"), "avproxy");
  const other = await createLabCa(join(dir, "other"), "avother");
  const n1 = await issueCertificate(ca, "n1", ["127.0.0.1"], "/O=pavise/OU=pavise-node/CN=n1");
  const n2 = await issueCertificate(ca, "n2", ["127.0.0.1"], "/O=pavise/OU=pavise-node/CN=n2");
  const fake = await issueCertificate(other, "n1", ["127.0.0.1"], "/O=pavise/OU=pavise-node/CN=n1");
  n2Tls = {
    ca: readFileSync(ca.caCert, "utf8"),
    cert: readFileSync(n2.cert, "utf8"),
    key: readFileSync(n2.key, "utf8"),
  };
  server = createServer(
    {
      cert: readFileSync(n1.cert),
      key: readFileSync(n1.key),
      ca: readFileSync(ca.caCert),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const cn = socket.getPeerCertificate().subject?.CN;
      seen.push({
        path: req.url ?? "",
        cn: typeof cn === "string" ? cn : undefined,
        authorized: socket.authorized,
      });
      res.setHeader("content-type", "application/json");
      if (req.url === "/v1/packages/web/ipsec/local") {
        res.end(
          JSON.stringify({
            node: "n1",
            sas: [{ connection: "clients", state: "ESTABLISHED", children: [] }],
          }),
        );
      } else {
        res.statusCode = 404;
        res.end(
          JSON.stringify({ error: { code: "NO_SUCH_PACKAGE", message: 'no package "wbe" in cluster t' } }),
        );
      }
    },
  );
  rogue = createServer({ cert: readFileSync(fake.cert), key: readFileSync(fake.key) }, (_req, res) =>
    res.end("{}"),
  );
  // Accepts the connection and says nothing: a frozen owner.
  silent = createTcpServer((socket) => silentSockets.push(socket));
  [url, rogueUrl, silentUrl] = await Promise.all([listen(server), listen(rogue), listen(silent)]);
});

afterAll(async () => {
  for (const s of silentSockets) s.destroy();
  server.closeAllConnections();
  rogue.closeAllConnections();
  await Promise.all([server, rogue, silent].map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe("owner proxy (node-to-node mTLS)", () => {
  it("asks the owner with this node's certificate and passes its answer on", async () => {
    const reply = await forwardToOwner("n1", url, "/v1/packages/web/ipsec/local", n2Tls);
    expect(reply).toEqual({
      status: 200,
      body: { node: "n1", sas: [{ connection: "clients", state: "ESTABLISHED", children: [] }] },
    });
    expect(seen.at(-1)).toEqual({ path: "/v1/packages/web/ipsec/local", cn: "n2", authorized: true });
  });

  it("passes the owner's error on as it is", async () => {
    const reply = await forwardToOwner("n1", url, "/v1/packages/wbe/ipsec/local", n2Tls);
    expect(reply.status).toBe(404);
    expect(reply).toMatchObject({ body: { error: { code: "NO_SUCH_PACKAGE" } } });
  });

  it("refuses an owner whose certificate the cluster CA did not sign", async () => {
    const reply = await forwardToOwner("n1", rogueUrl, "/v1/packages/web/ipsec/local", n2Tls);
    expect(reply).toMatchObject({ status: 503, body: { error: { code: "API_OWNER_UNREACHABLE" } } });
    expect(JSON.stringify(reply)).toMatch(
      /node n1 did not answer at https:\/\/127\.0\.0\.1:\d+: .*(certificate|issuer)/,
    );
  });

  it("gives up on an owner that does not answer after the 1 s limit", async () => {
    const t0 = performance.now();
    const reply = await forwardToOwner("n1", silentUrl, "/v1/packages/web/ipsec/local", n2Tls);
    const ms = performance.now() - t0;
    console.log(`owner proxy: a silent owner answered 503 after ${ms.toFixed(0)} ms (limit 1000 ms)`);
    expect(reply).toMatchObject({ status: 503, body: { error: { code: "API_OWNER_UNREACHABLE" } } });
    expect(JSON.stringify(reply)).toMatch(/no answer within 1000 ms/);
    expect(ms).toBeGreaterThanOrEqual(990);
    expect(ms).toBeLessThan(1500);
  });

  it("says so at once when nothing listens", async () => {
    const closed = createTcpServer();
    const closedUrl = await listen(closed);
    await new Promise((r) => closed.close(r));
    const t0 = performance.now();
    const reply = await forwardToOwner("n1", closedUrl, "/v1/packages/web/ipsec/local", n2Tls);
    expect(reply).toMatchObject({ status: 503, body: { error: { code: "API_OWNER_UNREACHABLE" } } });
    expect(JSON.stringify(reply)).toMatch(/ECONNREFUSED/);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it("answers from this node's own facts when it is the node asked, else forwards", async () => {
    const logDir = join(dir, "logs");
    const config = clusterConfigFixture([packageConfig("web")]);
    const reads = ownerReads({
      local: daemonLocalFacts({
        node: "n2",
        config: () => config,
        logDirectory: logDir,
        sas: (pkg) => (pkg === "web" ? [] : undefined),
      }),
      apiUrlOf: (node) => (node === "n1" ? url : undefined),
      tls: () => n2Tls,
    });
    const before = seen.length;
    expect(await reads.sas("web", "n2")).toEqual({ ok: true, value: { node: "n2", sas: [] } });
    expect(seen.length).toBe(before);
    const remote = await reads.sas("web", "n1");
    expect(remote.ok && remote.value.node).toBe("n1");
    expect(seen.length).toBe(before + 1);
    const nowhere = await reads.sas("web", "n3");
    expect(nowhere).toMatchObject({
      ok: false,
      reply: { status: 503, body: { error: { code: "API_OWNER_UNREACHABLE" } } },
    });
    // No log yet on this node: 404 naming the file.
    const noLog = await reads.logTail("web", "n2", 10);
    expect(noLog).toMatchObject({ ok: false, reply: { status: 404 } });
    expect(JSON.stringify(noLog)).toContain(join(logDir, "web.log"));
  });
});

describe("log tail", () => {
  it("gives the last lines of a large log, across chunk boundaries and UTF-8", async () => {
    const file = join(dir, "big.log");
    const lines = Array.from(
      { length: 5000 },
      (_, i) => `2026-11-27T20:00:00.000Z httpd: line ${i} — état ✓`,
    );
    writeFileSync(file, `${lines.join("\n")}\n`);
    expect(await tailLines(file, 3, "n1")).toEqual(lines.slice(-3));
    expect(await tailLines(file, 2000, "n1")).toEqual(lines.slice(-2000));
    // A last line still being written (no newline yet) is a line.
    writeFileSync(file, "a\nb\nhalf");
    expect(await tailLines(file, 2, "n1")).toEqual(["b", "half"]);
    expect(await tailLines(file, 10, "n1")).toEqual(["a", "b", "half"]);
  });
});
