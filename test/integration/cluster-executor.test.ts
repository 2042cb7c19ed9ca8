import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterConfig, ServiceConfig } from "../../src/cluster/config/model.js";
import { type ExecutorEvent, NodeExecutor } from "../../src/cluster/executor/node-executor.js";
import { namedNamespace } from "../../src/cluster/executor/node-namespace.js";
import type { Lab } from "../../src/lab/lab.js";
import { isSameProcessAlive, processStartTime } from "../../src/lab/processes.js";
import { startTraffic } from "../../src/lab/probes/traffic.js";
import { distPath } from "../../src/util/package-paths.js";
import { run } from "../../src/util/run.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { EXECUTOR_TEST_TIMING, packageConfig } from "../support/cluster-fixtures.js";

// Needs root and a build (the echo service is the compiled traffic agent): npm run build first.
// The executor runs in this process and acts inside n1's namespace (namedNamespace), as the
// daemon will from inside it.
const LAB = "texec";
const VIP = "198.18.1.50";
const UDP_PORT = 7201;
const TCP_PORT = 7202;

let lab: Lab;
let executor: NodeExecutor;
let logDir: string;
const events: ExecutorEvent[] = [];

function service(name: string, command: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    name,
    command,
    restarts: 0,
    restartDelayMs: 100,
    haltTimeoutMs: 2_000,
    failFast: false,
    ...overrides,
  };
}

const pkg = packageConfig;

function echo(proto: "udp" | "tcp", port: number): string {
  return `exec ${process.execPath} ${distPath("lab/probes/traffic-agent.js")} serve --proto ${proto} --port ${port}`;
}

function config(): ClusterConfig {
  return {
    name: "texec",
    etcd: { endpoints: [], tls: undefined, prefix: "/pavise/texec/" },
    timing: EXECUTOR_TEST_TIMING,
    arp: { count: 3, intervalMs: 100 },
    subnets: [
      { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
      { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
    ],
    nodes: ["n1", "n2", "n3"].map((name) => ({
      name,
      interfaces: [
        { subnet: "public", primary: "lan0", standby: ["lan1"] },
        { subnet: "heartbeat", primary: "hb0", standby: [] },
      ],
    })),
    packages: [
      pkg("web", {
        addresses: [{ address: VIP, subnet: "public" }],
        services: [service("echo-udp", echo("udp", UDP_PORT)), service("echo-tcp", echo("tcp", TCP_PORT))],
        startScript: { command: 'echo "start script for $PAVISE_PACKAGE on $PAVISE_NODE"', timeoutMs: 5_000 },
        haltScript: { command: 'echo "halt script for $PAVISE_PACKAGE"', timeoutMs: 5_000 },
      }),
      pkg("crashy", {
        services: [
          service("crash", 'echo "crash $PAVISE_SERVICE"; exit 3', { restarts: 2, restartDelayMs: 100 }),
        ],
      }),
      pkg("hangs", {
        // The sleep is the script's child: killing the group must end it too.
        haltScript: { command: 'sleep 60 & echo $! > "$PAVISE_PID_FILE"; wait', timeoutMs: 500 },
      }),
      pkg("stubborn", {
        services: [
          service("deaf", "trap '' TERM; echo deaf; while :; do sleep 0.05; done", { haltTimeoutMs: 400 }),
        ],
      }),
    ],
  };
}

beforeAll(async () => {
  logDir = mkdtempSync(join(tmpdir(), "pavise-texec-"));
  lab = await freshLab(testLabSpec(LAB));
  executor = await NodeExecutor.start({
    config: config(),
    nodeName: "n1",
    ns: namedNamespace(lab.host("n1").namespace),
    logDirectory: logDir,
    flap: { restarts: 2, windowMs: 10_000 },
    onEvent: (event) => events.push(event),
  });
});

afterAll(async () => {
  await executor?.stop();
  await lab?.down();
  rmSync(logDir, { recursive: true, force: true });
});

function log(name: string): string {
  try {
    return readFileSync(join(logDir, `${name}.log`), "utf8");
  } catch {
    return "";
  }
}

function pidGone(pid: number): boolean {
  return processStartTime(pid) === undefined;
}

describe("executor drivers in the lab", () => {
  it("starts a package on n1: address on lan0, ARP answered by n1 alone, services reached over UDP and TCP", async () => {
    const started = await executor.startPackage("web");
    expect(started).toMatchObject({ ok: true });
    console.log(`package web started in ${started.ok ? started.ms : -1} ms`);
    await until(
      "both echo services ready",
      () => Promise.resolve(log("web").split("traffic-agent: ready").length - 1),
      (n) => n >= 2,
    );

    expect(await lab.holders(VIP)).toEqual([{ host: "n1", nic: "lan0", up: true }]);
    const answers = await lab.arpAnswerers("public", VIP);
    expect(answers.map((a) => `${a.host}/${a.nic}`)).toEqual(["n1/lan0"]);

    for (const [proto, port] of [
      ["udp", UDP_PORT],
      ["tcp", TCP_PORT],
    ] as const) {
      const run = await startTraffic(lab.runtime, {
        from: "c1",
        to: VIP,
        proto,
        port,
        intervalMs: 10,
        durationMs: 500,
      });
      const report = await run.waitForReport(5_000);
      console.log(
        `c1 → ${VIP} ${proto}: ${report.received}/${report.sent} answered, longest gap ${report.maxGapMs} ms`,
      );
      expect(report.received).toBeGreaterThan(20);
      expect(report.lossRatio).toBeLessThan(0.05);
    }
  });

  it("halts it: services gone by PID, address gone, every step in the package log", async () => {
    const pids = executor.supervisors("web").flatMap((s) => s.pids);
    expect(pids).toHaveLength(2);
    const halted = await executor.haltPackage("web");
    expect(halted).toMatchObject({ ok: true, problems: [] });
    console.log(`package web halted in ${halted.ms} ms`);
    for (const pid of pids) expect(pidGone(pid)).toBe(true);
    expect(await lab.holders(VIP)).toEqual([]);
    expect(await lab.arpAnswerers("public", VIP)).toEqual([]);

    const text = log("web");
    const steps = [
      "executor: starting package web",
      "executor: running start script",
      "start script: start script for web on n1",
      "executor: start script finished",
      `executor: adding ${VIP}/24 on lan0`,
      `executor: gratuitous ARP for ${VIP} on lan0: 3 × every 100 ms`,
      "executor: service echo-udp: started, pid",
      "executor: service echo-tcp: started, pid",
      "executor: package web is up",
      "executor: halting package web",
      "executor: service echo-tcp halted",
      `executor: removed ${VIP} from lan0`,
      "halt script: halt script for web",
      "executor: package web halted in",
    ];
    let at = 0;
    for (const step of steps) {
      const found = text.indexOf(step, at);
      expect(found, `log has "${step}" after position ${at}:\n${text}`).toBeGreaterThanOrEqual(0);
      at = found;
    }
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z executor: starting package web$/m);
  });

  it("restarts a crashing service N times, reports it flapping, then failed for good", async () => {
    const before = events.length;
    await executor.startPackage("crashy");
    await until(
      "the package to fail",
      () => Promise.resolve(executor.runner("crashy").state.kind),
      (k) => k === "failed",
      10_000,
    );
    const mine = events.slice(before);
    const serviceKinds = mine.flatMap((e) => (e.kind === "service" ? [e.event.kind] : []));
    expect(serviceKinds.filter((k) => k === "restarting")).toHaveLength(2);
    expect(serviceKinds).toContain("flapping");
    expect(serviceKinds.at(-1)).toBe("failed");
    expect(mine.at(-1)).toMatchObject({ kind: "package-failed", package: "crashy" });
    expect(executor.supervisors("crashy")[0]?.pids).toHaveLength(3);
    const text = log("crashy");
    expect(text.match(/^crash crash$/gm)).toHaveLength(3);
    expect(text).toContain("service crash: restart 2 of 2 in 100 ms (service_restart)");
    expect(text).toContain("service crash failed for good: all 2 restarts used");
    expect((await executor.haltPackage("crashy")).ok).toBe(true);
  });

  it("kills a hanging halt script at its timeout and reports it timed out", async () => {
    const pidFile = join(logDir, "halt-script.pid");
    process.env.PAVISE_PID_FILE = pidFile;
    try {
      await executor.startPackage("hangs");
      const began = Date.now();
      const halted = await executor.haltPackage("hangs");
      const took = Date.now() - began;
      console.log(`halt with a hanging halt script (timeout 500 ms) took ${took} ms`);
      expect(halted.ok).toBe(false);
      expect(halted.problems).toMatchObject([
        {
          step: "halt script",
          message: "halt script did not finish within its timeout of 500 ms and was killed",
        },
      ]);
      expect(halted.problems[0]?.hint).toMatch(/halt_script_timeout/);
      expect(took).toBeGreaterThanOrEqual(500);
      const pid = Number(readFileSync(pidFile, "utf8"));
      expect(pidGone(pid)).toBe(true);
      expect(executor.runner("hangs").state.kind).toBe("down");
    } finally {
      delete process.env.PAVISE_PID_FILE;
    }
  });

  it("SIGKILLs a service that ignores SIGTERM after its halt timeout", async () => {
    const before = events.length;
    await executor.startPackage("stubborn");
    await until(
      "the service to run",
      () => Promise.resolve(log("stubborn")),
      (t) => t.includes("\ndeaf\n"),
    );
    const supervisor = executor.supervisors("stubborn")[0];
    const pid = supervisor?.pid ?? -1;
    const startTime = processStartTime(pid) ?? -1;
    const began = Date.now();
    const halted = await executor.haltPackage("stubborn");
    const took = Date.now() - began;
    console.log(`halt of a service that ignores SIGTERM (halt timeout 400 ms) took ${took} ms`);
    expect(halted.ok).toBe(true);
    expect(took).toBeGreaterThanOrEqual(400);
    expect(isSameProcessAlive({ pid, startTime })).toBe(false);
    const kinds = events.slice(before).flatMap((e) => (e.kind === "service" ? [e.event.kind] : []));
    expect(kinds).toContain("kill-escalated");
    expect(events.slice(before).find((e) => e.kind === "service" && e.event.kind === "halted")).toMatchObject(
      {
        event: { killed: true, exit: { signal: "SIGKILL" } },
      },
    );
    expect(log("stubborn")).toMatch(
      /service deaf still ran \d+ ms after SIGTERM \(service_halt_timeout\): sending SIGKILL/,
    );
  });

  it("leaves no process of the executor behind in n1 but its link monitor", async () => {
    await sleep(1_200); // the last ARP senders exit about a second after their packet
    const pids = (await run(["ip", "netns", "pids", lab.host("n1").namespace])).stdout
      .split(/\s+/)
      .filter(Boolean);
    const commands = pids.map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      } catch {
        return "";
      }
    });
    expect(commands.filter((c) => c !== "" && !/^ip -n \S+ -o monitor link$/.test(c))).toEqual([]);
  });
});
