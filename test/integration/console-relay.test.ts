import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { checkServerIdentity, type TLSSocket } from "node:tls";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleRelayRecord } from "../../src/lab/console-relay-process.js";
import type { LabProcess } from "../../src/lab/host-runtime.js";
import { Lab } from "../../src/lab/lab.js";
import { isSameProcessAlive } from "../../src/lab/processes.js";
import { distPath } from "../../src/util/package-paths.js";
import { run } from "../../src/util/run.js";
import { freshLab, testLabName, testLabSpec } from "../support/fresh-lab.js";
import { accepts, startHttpsStub, stubCertificates, type StubCa } from "../support/https-stub.js";
import { until } from "../support/until.js";

// `pavise lab console` relays 127.0.0.1:P in the root namespace to a unix socket served from
// inside a lab host's namespace, byte for byte: the TLS handshake is the server's own, a client
// that goes away mid-stream ends the server's connection too, and a server that goes away gives
// a clear log line while the relay keeps running for the next connection.

const NAME = testLabName("cbrelay");

interface Reply {
  status: number;
  body: string;
  /** SHA-256 fingerprint of the certificate the client saw. */
  peer: string;
}

function get(port: number, path: string, ca: string, socketPath?: string): Promise<Reply> {
  const options: RequestOptions = socketPath
    ? {
        socketPath,
        path,
        ca,
        agent: false,
        checkServerIdentity: (_host, cert) => checkServerIdentity("127.0.0.1", cert),
      }
    : { host: "127.0.0.1", port, path, ca, agent: false };
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate();
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, peer: peer.fingerprint256 }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error("no answer in 5 s")));
    req.on("error", reject);
    req.end();
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function pavise(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run([process.execPath, distPath("cli/main.js"), ...args], { allowFailure: true });
}

describe("pavise lab console: the relay to a node's API socket", () => {
  let lab: Lab;
  let dir: string;
  let certs: StubCa;
  let caPem: string;
  let socket: string;
  let stub: LabProcess;
  let relay: ConsoleRelayRecord;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pavise-cbrelay-"));
    lab = await freshLab(testLabSpec(NAME));
    certs = await stubCertificates(dir, NAME);
    caPem = readFileSync(certs.ca.caCert, "utf8");
    socket = join(dir, "api-n1.sock");
    stub = await startHttpsStub(lab, "n1", dir, socket, certs.server);
  });

  afterAll(async () => {
    await lab?.down();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("starts detached with a pid file, on 7443 or a free port when 7443 is taken; an explicit port that is taken is a clear error", async () => {
    // Hold 7443 (unless someone else already does): the default must then fall back.
    const holder: Server = createServer();
    await new Promise<void>((resolve) => {
      holder.once("error", () => resolve());
      holder.listen({ host: "127.0.0.1", port: 7443, exclusive: true }, () => resolve());
    });
    try {
      const started = await pavise(["lab", "console", NAME, "--node", "n1", "--socket", socket, "--json"]);
      expect(started.code, started.stderr).toBe(0);
      relay = JSON.parse(started.stdout) as ConsoleRelayRecord;
      expect((JSON.parse(started.stdout) as { socketMissing: boolean }).socketMissing).toBe(false);
      expect(relay.port).not.toBe(7443);
      expect(relay.url).toBe(`https://127.0.0.1:${relay.port}/`);
      expect(isSameProcessAlive(relay)).toBe(true);
      const pidFile = JSON.parse(readFileSync(join(lab.dir, "console-n1.pid"), "utf8")) as ConsoleRelayRecord;
      expect(pidFile.pid).toBe(relay.pid);

      const human = await pavise([
        "lab",
        "console",
        NAME,
        "--node",
        "n2",
        "--socket",
        socket,
        "--port",
        "7443",
      ]);
      expect(human.code).toBe(1);
      expect(human.stderr).toMatch(/127\.0\.0\.1:7443/);
      expect(human.stderr).toMatch(/--port/);
      expect(human.stderr).not.toMatch(/\n\s+at /); // no stack trace

      // A relay may start before the API's socket exists; it says so, and waits for it.
      const early = await pavise([
        "lab",
        "console",
        NAME,
        "--node",
        "n3",
        "--socket",
        join(dir, "api-n3.sock"),
      ]);
      expect(early.code, early.stderr).toBe(0);
      expect(early.stdout).toMatch(/api-n3\.sock does not exist yet/);
    } finally {
      holder.close();
    }
  });

  it("passes TLS through end to end: the client sees the server's own certificate", async () => {
    const reply = await get(relay.port, "/hello", caPem);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe(`hello from ${stub.pid}`);
    const serverCert = new X509Certificate(readFileSync(certs.server.cert));
    expect(reply.peer).toBe(serverCert.fingerprint256);

    // One request = a new TCP connection + TLS handshake + one GET, through the relay and direct.
    const through: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < 20; i++) {
      let t = performance.now();
      await get(relay.port, "/hello", caPem);
      through.push(performance.now() - t);
      t = performance.now();
      await get(0, "/hello", caPem, socket);
      direct.push(performance.now() - t);
    }
    console.log(
      `relay round trip (new connection + TLS + GET), median of 20: ${median(through).toFixed(2)} ms through the relay, ${median(direct).toFixed(2)} ms direct on the unix socket`,
    );
  });

  it("ends the server's connection when a client goes away mid-stream, and keeps serving", async () => {
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port, path: "/stream", ca: caPem, agent: false },
        (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    // Only the asking connection is left open on the server.
    await until(
      "the server to see the streaming connection close",
      async () => (await get(relay.port, "/open", caPem)).body,
      (open) => open === "1",
      5_000,
    );
    expect((await get(relay.port, "/hello", caPem)).status).toBe(200);
  });

  it("survives the server going away: a clear log line, the relay runs on, and works once the server is back", async () => {
    await lab.runtime.stop(stub);
    await until(
      "the stub's socket to refuse connections",
      () => accepts(socket),
      (yes) => !yes,
      5_000,
    );
    await expect(get(relay.port, "/hello", caPem)).rejects.toThrow(/socket hang up|ECONNRESET|disconnected/);
    const log = readFileSync(join(lab.dir, "console-n1.log"), "utf8");
    expect(log, log).toMatch(new RegExp(`cannot reach the API socket ${socket}: (ENOENT|ECONNREFUSED)`));
    expect(isSameProcessAlive(relay)).toBe(true);

    stub = await startHttpsStub(lab, "n1", dir, socket, certs.server);
    const reply = await get(relay.port, "/hello", caPem);
    expect(reply.body).toBe(`hello from ${stub.pid}`);
  });

  it("a second lab console for the node replaces the first relay", async () => {
    const again = await pavise(["lab", "console", NAME, "--node", "n1", "--socket", socket]);
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(readFileSync(join(lab.dir, "console-n1.pid"), "utf8")) as ConsoleRelayRecord;
    console.log(`$ pavise lab console ${NAME} --node n1 --socket …\n${again.stdout}`);
    expect(again.stdout).toContain(`console: https://127.0.0.1:${second.port}/`);
    expect(second.pid).not.toBe(relay.pid);
    expect(isSameProcessAlive(relay)).toBe(false);
    relay = second;
    expect((await get(relay.port, "/hello", caPem)).body).toBe(`hello from ${stub.pid}`);
  });

  it("pavise lab down ends the relay by its pid", async () => {
    const down = await pavise(["lab", "down", NAME, "--json"]);
    expect(down.code, down.stderr).toBe(0);
    const [report] = JSON.parse(down.stdout) as { processesKilled: number[] }[];
    expect(report?.processesKilled).toContain(relay.pid);
    expect(isSameProcessAlive(relay)).toBe(false);
    await expect(Lab.down(NAME)).resolves.toBeDefined();
  });
});
