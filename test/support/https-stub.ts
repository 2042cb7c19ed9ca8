import { existsSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import type { LabProcess } from "../../src/lab/host-runtime.js";
import type { Lab } from "../../src/lab/lab.js";
import { createLabCa, issueCertificate, type LabCa, type LabCertificate } from "../../src/lab/lab-ca.js";
import { until } from "./until.js";

// A stand-in for a daemon's API server, for the relay and browser-pin tests: a node:https server
// with a lab-CA certificate, run as its own process (inside a lab host's namespace, on a unix
// socket, like the daemon's API socket). Routes: `/` a small HTML page, `/hello` text,
// `/stream` a chunk every 50 ms until the client goes, `/open` how many connections are open.

const SCRIPT = `
import { createServer } from "node:https";
import { readFileSync, rmSync } from "node:fs";
const [socket, cert, key] = process.argv.slice(2);
let open = 0;
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  if (req.url === "/stream") {
    res.writeHead(200, { "content-type": "text/plain" });
    const timer = setInterval(() => res.write("tick\\n"), 50);
    res.on("close", () => clearInterval(timer));
    return;
  }
  if (req.url === "/open") return res.end(String(open));
  if (req.url === "/hello") return res.end("hello from " + process.pid);
  res.writeHead(200, { "content-type": "text/html" });
  res.end('<!doctype html><html lang="en"><title>stub</title><h1 id="stub">served by ' + process.pid + "</h1></html>");
});
server.on("secureConnection", (tls) => { open += 1; tls.on("close", () => { open -= 1; }); });
rmSync(socket, { force: true });
server.listen(socket, () => console.log("listening on " + socket));
process.on("SIGTERM", () => process.exit(0));
`;

export interface StubCa {
  ca: LabCa;
  /** The server certificate (SAN 127.0.0.1). */
  server: LabCertificate;
}

/** A lab CA in `dir` and a server certificate for 127.0.0.1 signed by it. */
export async function stubCertificates(dir: string, name: string): Promise<StubCa> {
  const ca = await createLabCa(join(dir, "ca"), name);
  return { ca, server: await issueCertificate(ca, "stub-api", ["127.0.0.1"]) };
}

/** Writes the stub's script into `dir` (once) and returns its path. */
export function stubScript(dir: string): string {
  const file = join(dir, "https-stub.mjs");
  if (!existsSync(file)) writeFileSync(file, SCRIPT);
  return file;
}

/** Starts the stub inside a lab host, listening on `socket`; waits until it accepts connections. */
export async function startHttpsStub(
  lab: Lab,
  host: string,
  dir: string,
  socket: string,
  cert: LabCertificate,
): Promise<LabProcess> {
  const proc = await lab.runtime.spawn(
    host,
    [process.execPath, stubScript(dir), socket, cert.cert, cert.key],
    {
      role: "https-stub",
    },
  );
  await until(
    `the HTTPS stub on ${socket}`,
    () => accepts(socket),
    (yes) => yes,
    10_000,
  );
  return proc;
}

/** Whether a unix socket accepts a connection. */
export function accepts(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path: socket });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}
