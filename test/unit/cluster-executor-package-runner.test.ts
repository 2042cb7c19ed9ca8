import { describe, expect, it } from "vitest";
import type { PackageConfig, SubnetConfig } from "../../src/cluster/config/model.js";
import {
  type PackageDrivers,
  type PackageEvent,
  PackageRunner,
  type ServiceHandle,
} from "../../src/cluster/executor/package-runner.js";
import type { ScriptOutcome } from "../../src/cluster/executor/script-runner.js";
import { packageConfig, packageIpsecFixture } from "../support/cluster-fixtures.js";

const IPSEC = packageIpsecFixture();
import type { ServiceEvent } from "../../src/cluster/executor/service-supervision.js";

const subnets: SubnetConfig[] = [{ name: "public", cidr: "198.18.1.0/24", heartbeat: false }];

function pkg(overrides: Partial<PackageConfig> = {}): PackageConfig {
  return packageConfig("web", {
    addresses: [
      { address: "198.18.1.50", subnet: "public" },
      { address: "198.18.1.51", subnet: "public" },
    ],
    services: [
      { name: "db", command: "db", restarts: 0, restartDelayMs: 0, haltTimeoutMs: 1_000, failFast: false },
      {
        name: "http",
        command: "http",
        restarts: 0,
        restartDelayMs: 0,
        haltTimeoutMs: 1_000,
        failFast: false,
      },
    ],
    startScript: { command: "start", timeoutMs: 1_000 },
    haltScript: { command: "halt", timeoutMs: 1_000 },
    ...overrides,
  });
}

/** Drivers that record what they were asked, in order, and fail where told to. */
class SimulatedDrivers implements PackageDrivers {
  readonly calls: string[] = [];
  readonly logLines: string[] = [];
  readonly serviceEvents = new Map<string, (event: ServiceEvent) => void>();
  scriptOutcome: Record<string, ScriptOutcome> = {};
  failAdd = new Set<string>();
  failRemove = new Set<string>();
  /** A start script that runs until aborted. */
  hangStartScript = false;
  failIpsec = false;

  async runScript(kind: "start" | "halt", _script: unknown, abort: AbortSignal): Promise<ScriptOutcome> {
    this.calls.push(`${kind} script`);
    if (kind === "start" && this.hangStartScript) {
      await new Promise<void>((resolve) => abort.addEventListener("abort", () => resolve(), { once: true }));
      return { kind: "aborted", ms: 1 };
    }
    return this.scriptOutcome[kind] ?? { kind: "ok", ms: 1 };
  }

  addAddress(address: { address: string }): Promise<string> {
    this.calls.push(`add ${address.address}`);
    if (this.failAdd.has(address.address)) return Promise.reject(new Error(`no NIC for ${address.address}`));
    return Promise.resolve("lan0");
  }

  removeAddress(address: { address: string }): Promise<void> {
    this.calls.push(`remove ${address.address}`);
    if (this.failRemove.has(address.address)) return Promise.reject(new Error("ip says no"));
    return Promise.resolve();
  }

  startService(service: { name: string }, onEvent: (event: ServiceEvent) => void): Promise<ServiceHandle> {
    this.calls.push(`start ${service.name}`);
    this.serviceEvents.set(service.name, onEvent);
    const calls = this.calls;
    return Promise.resolve({
      name: service.name,
      pid: 1234,
      halt() {
        calls.push(`halt ${service.name}`);
        return Promise.resolve({ exit: { code: null, signal: "SIGTERM" }, killed: false });
      },
    });
  }

  ipsecUp(): Promise<void> {
    this.calls.push("ipsec up");
    return this.failIpsec ? Promise.reject(new Error("cannot read /etc/pavise/web.key")) : Promise.resolve();
  }

  ipsecContact(): void {
    this.calls.push("ipsec contact");
  }

  ipsecDown(_pkg: unknown, tellPeers: boolean): Promise<void> {
    this.calls.push(`ipsec down${tellPeers ? " (tell peers)" : ""}`);
    return Promise.resolve();
  }

  log(text: string): void {
    this.logLines.push(text);
  }
}

describe("package runner", () => {
  it("starts script → addresses → services, and halts in reverse", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg(), subnets, d);
    expect(await runner.start()).toMatchObject({ ok: true });
    expect(runner.state.kind).toBe("up");
    expect(await runner.halt()).toMatchObject({ ok: true, problems: [] });
    expect(runner.state.kind).toBe("down");
    expect(d.calls).toEqual([
      "start script",
      "add 198.18.1.50",
      "add 198.18.1.51",
      "start db",
      "start http",
      "halt http",
      "halt db",
      "remove 198.18.1.51",
      "remove 198.18.1.50",
      "halt script",
    ]);
    expect(d.logLines[0]).toBe("starting package web");
    expect(d.logLines.at(-1)).toMatch(/^package web halted in \d+ ms$/);
  });

  it("with ipsec: IPsec after the addresses, contact after the services; on halt IPsec stops before the addresses go", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg({ ipsec: IPSEC }), subnets, d);
    expect(await runner.start()).toMatchObject({ ok: true });
    expect(await runner.halt()).toMatchObject({ ok: true });
    expect(d.calls).toEqual([
      "start script",
      "add 198.18.1.50",
      "add 198.18.1.51",
      "ipsec up",
      "start db",
      "start http",
      "ipsec contact",
      "halt http",
      "halt db",
      "ipsec down",
      "remove 198.18.1.51",
      "remove 198.18.1.50",
      "halt script",
    ]);
  });

  it("tells the peers only when halted for good (design §6: a move ends the SAs without a word)", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg({ ipsec: IPSEC }), subnets, d);
    await runner.start();
    await runner.halt({ tellPeers: true });
    expect(d.calls).toContain("ipsec down (tell peers)");
  });

  it("fails the start when IPsec cannot start (no service runs) and still removes the addresses on halt", async () => {
    const d = new SimulatedDrivers();
    d.failIpsec = true;
    const runner = new PackageRunner(pkg({ ipsec: IPSEC }), subnets, d);
    const result = await runner.start();
    expect(result).toMatchObject({ ok: false, problem: { step: "IPsec", message: /web.key/ } });
    await runner.halt();
    expect(d.calls).toEqual([
      "start script",
      "add 198.18.1.50",
      "add 198.18.1.51",
      "ipsec up",
      "ipsec down",
      "remove 198.18.1.51",
      "remove 198.18.1.50",
      "halt script",
    ]);
  });

  it("stops at a failing start script, says what to do, and halting then undoes what is there", async () => {
    const d = new SimulatedDrivers();
    d.scriptOutcome.start = { kind: "failed", exit: { code: 3, signal: null }, ms: 5 };
    const runner = new PackageRunner(pkg(), subnets, d);
    const result = await runner.start();
    expect(result).toMatchObject({
      ok: false,
      problem: { step: "start script", message: "start script exited with status 3 after 5 ms" },
    });
    expect(result.ok ? "" : result.problem.hint).toMatch(/package log/);
    expect(runner.state.kind).toBe("failed");
    await runner.halt();
    expect(d.calls).toEqual(["start script", "remove 198.18.1.51", "remove 198.18.1.50", "halt script"]);
  });

  it("halts a package half-started at its second address: the first is removed, no service was started", async () => {
    const d = new SimulatedDrivers();
    d.failAdd.add("198.18.1.51");
    const runner = new PackageRunner(pkg(), subnets, d);
    expect(await runner.start()).toMatchObject({ ok: false, problem: { step: "address 198.18.1.51/24" } });
    const halted = await runner.halt();
    expect(halted.ok).toBe(true);
    expect(d.calls).toEqual([
      "start script",
      "add 198.18.1.50",
      "add 198.18.1.51",
      "remove 198.18.1.51",
      "remove 198.18.1.50",
      "halt script",
    ]);
  });

  it("does every halt step even when one fails, and reports the failures", async () => {
    const d = new SimulatedDrivers();
    d.failRemove.add("198.18.1.51");
    d.scriptOutcome.halt = { kind: "timed-out", timeoutMs: 1_000 };
    const runner = new PackageRunner(pkg(), subnets, d);
    await runner.start();
    const halted = await runner.halt();
    expect(halted.ok).toBe(false);
    expect(halted.problems.map((p) => p.step)).toEqual(["removing address 198.18.1.51/24", "halt script"]);
    expect(halted.problems[1]?.hint).toMatch(/halt_script_timeout/);
    expect(d.calls.slice(-3)).toEqual(["remove 198.18.1.51", "remove 198.18.1.50", "halt script"]);
    expect(runner.state.kind).toBe("down");
  });

  it("stops a start that hangs in its script when halted, then halts", async () => {
    const d = new SimulatedDrivers();
    d.hangStartScript = true;
    const runner = new PackageRunner(pkg(), subnets, d);
    const starting = runner.start();
    expect(runner.state.kind).toBe("starting");
    const halted = await runner.halt();
    expect(await starting).toMatchObject({ ok: false });
    expect(halted.ok).toBe(true);
    expect(d.calls).toEqual(["start script", "remove 198.18.1.51", "remove 198.18.1.50", "halt script"]);
  });

  it("reports the package failed when a service fails for good, and forwards service events", async () => {
    const d = new SimulatedDrivers();
    const events: PackageEvent[] = [];
    const runner = new PackageRunner(pkg(), subnets, d, (e) => events.push(e));
    await runner.start();
    d.serviceEvents.get("http")?.({ kind: "restarting", at: 1, restart: 1, limit: 1, delayMs: 0 });
    d.serviceEvents.get("http")?.({ kind: "failed", at: 2, restarts: 1, exit: { code: 1, signal: null } });
    expect(events.map((e) => e.kind)).toEqual(["service", "service", "package-failed"]);
    expect(events.at(-1)).toMatchObject({ reason: "service http failed for good after 1 restart(s)" });
    expect(runner.state.kind).toBe("failed");
  });

  it("refuses to start what is not down, and halting what is down does nothing", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg(), subnets, d);
    expect(await runner.halt()).toEqual({ ok: true, ms: 0, problems: [] });
    await runner.start();
    expect(await runner.start()).toMatchObject({
      ok: false,
      problem: { hint: "halt it first (pavise pkg halt web)" },
    });
  });
});

describe("package runner: a configuration applied while it runs (pavise config apply)", () => {
  const cache = {
    name: "cache",
    command: "cache",
    restarts: 0,
    restartDelayMs: 0,
    haltTimeoutMs: 1_000,
    failFast: false,
  };

  it("changes only what differs; unchanged services keep running, and the next halt uses the new configuration", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg(), subnets, d);
    await runner.start();
    const handles = [...runner.runningServices()];
    d.calls.length = 0;
    const next = pkg({
      addresses: [
        { address: "198.18.1.50", subnet: "public" },
        { address: "198.18.1.52", subnet: "public" },
      ],
      services: [...pkg().services, cache],
    });
    const changed = await runner.reconfigure(next, subnets);
    expect(changed).toEqual({
      done: [
        "removing address 198.18.1.51/24",
        "adding address 198.18.1.52/24",
        "starting service cache (added)",
      ],
      problems: [],
    });
    expect(d.calls).toEqual(["remove 198.18.1.51", "add 198.18.1.52", "start cache"]);
    expect(runner.state.kind).toBe("up");
    // db and http are the very same handles (same processes); cache joined them.
    expect(runner.runningServices().slice(0, 2)).toEqual(handles);
    expect(runner.runningServices().map((s) => s.name)).toEqual(["db", "http", "cache"]);
    d.calls.length = 0;
    await runner.halt();
    // Reverse file order, the added service first.
    expect(d.calls).toEqual([
      "halt cache",
      "halt http",
      "halt db",
      "remove 198.18.1.52",
      "remove 198.18.1.50",
      "halt script",
    ]);
  });

  it("a removed service is halted and forgotten; a new command restarts only that service", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg(), subnets, d);
    await runner.start();
    d.calls.length = 0;
    const [db] = pkg().services;
    await runner.reconfigure(pkg({ services: [{ ...db!, command: "db --v2" }] }), subnets);
    expect(d.calls).toEqual(["halt http", "halt db", "start db"]);
    expect(runner.runningServices().map((s) => s.name)).toEqual(["db"]);
  });

  it("down, the new configuration is simply used at the next start", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg(), subnets, d);
    expect(await runner.reconfigure(pkg({ services: [cache], addresses: [] }), subnets)).toEqual({
      done: [],
      problems: [],
    });
    expect(d.calls).toEqual([]);
    await runner.start();
    expect(d.calls).toEqual(["start script", "start cache"]);
  });

  it("a step that fails is reported with what to do; the others are still carried out", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg(), subnets, d);
    await runner.start();
    d.failAdd.add("198.18.1.60");
    const next = pkg({
      addresses: [...pkg().addresses, { address: "198.18.1.60", subnet: "public" }],
      services: [...pkg().services, cache],
    });
    const changed = await runner.reconfigure(next, subnets);
    expect(changed.done).toEqual(["starting service cache (added)"]);
    expect(changed.problems).toMatchObject([
      { step: "adding address 198.18.1.60/24", message: "no NIC for 198.18.1.60" },
    ]);
  });

  it("a halt asked for during a change waits for it, so no service it starts is left behind", async () => {
    const d = new SimulatedDrivers();
    const runner = new PackageRunner(pkg(), subnets, d);
    await runner.start();
    d.calls.length = 0;
    const change = runner.reconfigure(pkg({ services: [...pkg().services, cache] }), subnets);
    const halted = runner.halt();
    await Promise.all([change, halted]);
    expect(d.calls).toEqual([
      "start cache",
      "halt cache",
      "halt http",
      "halt db",
      "remove 198.18.1.51",
      "remove 198.18.1.50",
      "halt script",
    ]);
    expect(runner.state.kind).toBe("down");
  });

  it("a halt while a change waits for the start: the start stops at once, the old configuration is undone, the new one is kept for the next start", async () => {
    const d = new SimulatedDrivers();
    d.hangStartScript = true;
    const runner = new PackageRunner(pkg(), subnets, d);
    const starting = runner.start();
    await Promise.resolve();
    const next = pkg({ addresses: [{ address: "198.18.1.70", subnet: "public" }], services: [cache] });
    const change = runner.reconfigure(next, subnets);
    const halted = await runner.halt();
    expect(await change).toEqual({ done: [], problems: [] });
    expect(await starting).toMatchObject({ ok: false });
    expect(halted.ok).toBe(true);
    // Nothing of the new configuration was started, and the old one's addresses were removed.
    expect(d.calls).toEqual(["start script", "remove 198.18.1.51", "remove 198.18.1.50", "halt script"]);
    d.calls.length = 0;
    d.hangStartScript = false;
    await runner.start();
    expect(d.calls).toEqual(["start script", "add 198.18.1.70", "start cache"]);
  });
});
