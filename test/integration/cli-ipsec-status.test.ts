import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAEMON_SOCKET_ENV, serveDaemonControl } from "../../src/cluster/agent/daemon-control.js";
import type { IpsecHealthSnapshot } from "../../src/ipsec/status/ipsec-health.js";
import type { IkeSaStatus } from "../../src/ipsec/sa-status.js";
import { PaviseError } from "../../src/util/errors.js";
import { distPath } from "../../src/util/package-paths.js";

// The built `pavise ipsec status` against a daemon control socket served in this process
// (the real server code, daemon-control.ts) whose health route answers what each test sets:
// exit statuses 0/1/2/3, the `code: message — fix` lines, --json, --watch, and the usage errors.
// The real daemon behind the route is tested in ipsec-monitor.test.ts.

const scratch = mkdtempSync(join(tmpdir(), "pavise-ipsec-status-"));
const socket = join(scratch, "daemon.sock");
let server: Server | undefined;
let answer: (pkg: string | undefined) => Promise<IpsecHealthSnapshot[]> = () => Promise.resolve([]);
let calls = 0;

beforeAll(async () => {
  server = await serveDaemonControl(socket, {
    ipsecHealth: (pkg) => {
      calls++;
      return answer(pkg);
    },
    ipsecSas: () => ({ sas: [PACKAGE_SA], counters: undefined }),
  });
});

afterAll(() => {
  server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A package's IKE SA as the daemon reports it. */
const PACKAGE_SA: IkeSaStatus = {
  connection: "web/clients",
  state: "ESTABLISHED",
  initiator: true,
  spiI: "0123456789abcdef",
  spiR: "fedcba9876543210",
  local: "198.18.1.50",
  remote: "198.18.1.101",
  localId: "web.pavise.test",
  remoteId: "198.18.1.101",
  algorithms: "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE25519",
  ageSeconds: 3,
  children: [],
};

function snapshot(fault?: "tun-gone"): IpsecHealthSnapshot {
  return {
    package: "web",
    node: "n1",
    at: Date.now(),
    hostOpen: true,
    datapath: {
      kind: "esp",
      tunName: "pavise0",
      ...(fault === "tun-gone" ? {} : { device: { up: true, operstate: "unknown" } }),
      missingRules: [],
    },
    credentials: [],
    runsHere: true,
    addresses: [{ address: "198.18.1.50", onNode: true, listening: true }],
    ikeChildSas: [],
    datapathChildSas: [],
    gaveUp: [],
  };
}

/** Runs the built CLI (asynchronously: this process serves its socket meanwhile). */
function pavise(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [distPath("cli/main.js"), ...args], {
      env: { ...process.env, [DAEMON_SOCKET_ENV]: "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe("pavise ipsec status: usage errors exit 2 with the usage, no stack trace", () => {
  for (const [args, message] of [
    [["--bogus"], "Unknown option '--bogus'"],
    [["--watch", "soon"], "--watch: 'soon' is not a duration"],
    [["--watch", "10ms"], "--watch: 10ms is shorter than 100ms"],
    [["--package"], "Option '--package <value>' argument missing"],
    [["web"], "unexpected argument 'web'"],
  ] as const) {
    it(`pavise ipsec status ${args.join(" ")}`, async () => {
      const r = await pavise(["ipsec", "status", "--control", socket, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("error[CLI_USAGE]");
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain("pavise ipsec status [--package P]");
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it("a package the daemon does not check here: exit 2, the daemon's reason", async () => {
    answer = () =>
      Promise.reject(
        new PaviseError("IPSEC_NO_SUCH_PACKAGE", "no package 'wbe' in the cluster configuration", {
          hint: "the packages are: web",
        }),
      );
    const r = await pavise(["ipsec", "status", "--package", "wbe", "--control", socket]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("error[IPSEC_NO_SUCH_PACKAGE]: no package 'wbe'");
    expect(r.stdout).toContain("the packages are: web");
  });
});

describe("pavise ipsec status: verdicts", () => {
  it("usable: exit 0, one line per package", async () => {
    answer = (pkg) => Promise.resolve(pkg === "web" ? [snapshot()] : []);
    const r = await pavise(["ipsec", "status", "--package", "web", "--control", socket]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("web: IPsec usable on n1 (runs here, 0 Child SAs)");
  });

  it("unusable: exit 1, `code: message — fix`", async () => {
    answer = () => Promise.resolve([snapshot("tun-gone")]);
    const r = await pavise(["ipsec", "status", "--control", socket]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toMatch(
      /^IPSEC_DATAPATH_DOWN: web on n1: TUN device pavise0 is gone — restart the daemon on n1/,
    );
  });

  it("--json: one document with the verdicts and their codes", async () => {
    answer = () => Promise.resolve([snapshot("tun-gone")]);
    const r = await pavise(["ipsec", "status", "--json", "--control", socket]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as {
      usable: boolean;
      verdicts: { package: string; usable: boolean; reasons: { code: string; fix: string }[] }[];
    };
    expect(doc.usable).toBe(false);
    expect(doc.verdicts).toHaveLength(1);
    expect(doc.verdicts[0]).toMatchObject({ package: "web", usable: false });
    expect(doc.verdicts[0]!.reasons.map((r) => r.code)).toEqual(["IPSEC_DATAPATH_DOWN"]);
  });

  it("the socket from PAVISE_DAEMON_SOCKET when --control is not given (what the daemon sets for its services)", async () => {
    answer = () => Promise.resolve([snapshot()]);
    const r = await pavise(["ipsec", "status"], { [DAEMON_SOCKET_ENV]: socket });
    expect(r.code).toBe(0);
  });

  it("no daemon on the socket: exit 3, where it looked and what to do", async () => {
    const r = await pavise(["ipsec", "status", "--control", join(scratch, "nobody.sock")]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("error[DAEMON_NOT_RUNNING]: cannot reach pavise daemon at");
    expect(r.stdout).toContain("nobody.sock");
  });

  it("a daemon that does not answer within 1 s: exit 1, IPSEC_HOST_STALLED", async () => {
    answer = async () => {
      await sleep(2500);
      return [snapshot()];
    };
    const r = await pavise(["ipsec", "status", "--package", "web", "--control", socket]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^IPSEC_HOST_STALLED: web: the daemon did not answer the health check within 1000 ms/,
    );
    expect(r.ms).toBeLessThan(2400);
  });
});

describe("pavise ipsec status --watch", () => {
  it("checks every interval while usable, prints once, and exits 1 at the first failed check", async () => {
    answer = () => Promise.resolve([snapshot()]);
    calls = 0;
    const watching = pavise(["ipsec", "status", "--package", "web", "--watch", "200ms", "--control", socket]);
    await sleep(1500);
    const whileUsable = calls;
    answer = () => Promise.resolve([snapshot("tun-gone")]);
    const brokenAt = Date.now();
    const r = await watching;
    const detectedAfter = Date.now() - brokenAt;
    expect(whileUsable).toBeGreaterThanOrEqual(3);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toEqual([
      "web: IPsec usable on n1 (runs here, 0 Child SAs)",
      expect.stringMatching(/^IPSEC_DATAPATH_DOWN: web on n1: TUN device pavise0 is gone/),
    ]);
    // One interval (200 ms) plus a process's reaction, with room for a loaded machine.
    expect(detectedAfter).toBeLessThan(2000);
  });

  it("exits 3 when the daemon goes away", async () => {
    const other = join(scratch, "going.sock");
    const going = await serveDaemonControl(other, {
      ipsecHealth: () => Promise.resolve([snapshot()]),
      ipsecSas: () => ({ sas: [], counters: undefined }),
    });
    const watching = pavise(["ipsec", "status", "--watch", "200ms", "--control", other]);
    await sleep(800);
    going.close();
    const r = await watching;
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("DAEMON_NOT_RUNNING");
  });
});

describe("pavise ipsec sas against the cluster daemon", () => {
  it("lists the package SAs on this node (the daemon's socket, given or found when no serve runs)", async () => {
    const given = await pavise(["ipsec", "sas", "--control", socket]);
    expect(given.code, given.stderr).toBe(0);
    expect(given.stdout).toContain("web/clients");
    expect(given.stdout).toContain("198.18.1.50");
    // No --control: `pavise ipsec serve`'s socket does not exist, the daemon's (from the
    // environment a daemon gives its services) does.
    const found = await pavise(["ipsec", "sas", "--json"], { [DAEMON_SOCKET_ENV]: socket });
    expect(found.code, found.stderr).toBe(0);
    expect((JSON.parse(found.stdout) as { sas: IkeSaStatus[] }).sas[0]?.connection).toBe("web/clients");
  });
});
