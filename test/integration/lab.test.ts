import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { labDirectory } from "../../src/lab/state.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.js";
import { startEchoServer } from "../../src/lab/probes/traffic.js";
import { startCharon } from "../../src/lab/strongswan/charon.js";
import { PaviseError } from "../../src/util/errors.js";
import { processStartTime } from "../../src/lab/processes.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { run as runOnMachine } from "../../src/util/run.js";
import { machineSnapshot, pidsWithArgument } from "../support/machine-snapshot.js";

/** Runs ping inside a host; true when the peer answered. */
async function reaches(lab: Lab, from: string, to: string): Promise<boolean> {
  const result = await lab.exec(from, ["ping", "-c", "1", "-W", "1", to], { allowFailure: true });
  return result.code === 0;
}

/**
 * After a fault is healed, neighbour entries left FAILED by the fault need a fresh ARP round,
 * which can miss a one-second ping: allow three.
 */
async function reachesAgain(lab: Lab, from: string, to: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) if (await reaches(lab, from, to)) return true;
  return false;
}

/**
 * Whether a host has learnt another's MAC (from an ARP request or reply it received). With the
 * neighbour tables flushed first, this shows precisely which way frames got through a cut.
 */
async function hasLearnt(lab: Lab, host: string, address: string): Promise<boolean> {
  const result = await lab.exec(host, ["ip", "-j", "neigh", "show", "to", address]);
  const entries = JSON.parse(result.stdout || "[]") as { lladdr?: string }[];
  return entries.some((e) => e.lladdr !== undefined);
}

async function forgetNeighbours(lab: Lab, ...hosts: string[]): Promise<void> {
  for (const host of hosts) await lab.exec(host, ["ip", "neigh", "flush", "all"]);
}

describe("lab lifecycle", () => {
  it("three up/down cycles leave the machine as it was (namespaces, links, mounts, processes, files)", async () => {
    const before = await machineSnapshot("tlife");
    for (let cycle = 0; cycle < 3; cycle++) {
      const lab = await freshLab(testLabSpec("tlife", { etcd: true }));
      const during = await machineSnapshot("tlife");
      expect(during.namespaces).toEqual(expect.arrayContaining(["tlife-switch", "tlife-n1", "tlife-c2"]));
      // Nothing of the lab shows up in the machine's own network namespace.
      expect(during.rootLinks).toEqual(before.rootLinks);
      // Processes of every kind the lab runs: etcd, a charon in its private mount namespace, a probe.
      const charon = await startCharon(lab.runtime, "c1");
      const echo = await startEchoServer(lab.runtime, "n1", { proto: "udp", port: 7100 });
      const processes = lab.processes();
      expect(processes.map((p) => p.role)).toEqual(
        expect.arrayContaining(["etcd-n1", "etcd-n2", "etcd-n3", charon.labProcess.role, echo.process.role]),
      );
      const dir = lab.dir;

      const report = await lab.down();
      expect(report.namespacesRemoved).toHaveLength(6);
      expect(await machineSnapshot("tlife")).toEqual(before);
      for (const p of processes) expect(processStartTime(p.pid)).toBeUndefined();
      expect(existsSync(dir)).toBe(false);
    }
  });

  it("down after a crashed test also ends processes the lab never tracked", async () => {
    const before = await machineSnapshot("tcrash");
    const lab = await freshLab(testLabSpec("tcrash"));
    // A process started behind the lab's back, as a crashed test might leave one.
    const marker = "tcrash-stray-marker";
    const stray = spawn("ip", ["netns", "exec", "tcrash-c1", "sh", "-c", "sleep 300; :", marker], {
      detached: true,
      stdio: "ignore",
    });
    stray.unref();
    const tracked = await lab.runtime.spawn("n1", ["sleep", "301"], { role: "sleeper" });
    await new Promise((r) => setTimeout(r, 100));
    expect(pidsWithArgument(marker)).toHaveLength(1);

    // A new process (as after a crash) finds the lab by name and removes it.
    const report = await Lab.down("tcrash");
    expect(report.processesKilled).toEqual(expect.arrayContaining([tracked.pid, stray.pid]));
    expect(pidsWithArgument(marker)).toEqual([]);
    expect(await machineSnapshot("tcrash")).toEqual(before);
    expect(await Lab.down("tcrash")).toMatchObject({ namespacesRemoved: [], processesKilled: [] });
  });

  it("a lab that fails half-way removes what it made and says why", async () => {
    await Lab.down("thalf");
    const before = await machineSnapshot("thalf");
    // A file where etcd's data directory must go: the network is built, then etcd cannot start.
    mkdirSync(labDirectory("thalf"), { recursive: true });
    writeFileSync(join(labDirectory("thalf"), "etcd"), "in the way\n");
    const error = await Lab.up(testLabSpec("thalf", { etcd: true })).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(PaviseError);
    expect((error as PaviseError).code).toBe("LAB_DIR_UNWRITABLE");
    expect((error as PaviseError).where?.file).toBe(join(labDirectory("thalf"), "etcd", "n1"));
    expect(await machineSnapshot("thalf")).toEqual(before);
    expect(existsSync(labDirectory("thalf"))).toBe(false);
  });

  it("refuses namespaces it did not make and leaves them alone", async () => {
    await Lab.down("tforeign");
    await runOnMachine(["ip", "netns", "add", "tforeign-n2"]);
    try {
      const error = await Lab.up(testLabSpec("tforeign")).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect((error as PaviseError).code).toBe("LAB_NAMESPACE_EXISTS");
      expect((await machineSnapshot("tforeign")).namespaces).toEqual(["tforeign-n2"]);
    } finally {
      await runOnMachine(["ip", "netns", "del", "tforeign-n2"]);
    }
  });

  it("two labs run side by side with the same addresses and do not see each other", async () => {
    const a = await freshLab(testLabSpec("tsidea"));
    const b = await freshLab(testLabSpec("tsideb"));
    try {
      await a.exec("n2", ["ip", "addr", "add", "198.18.1.50/24", "dev", "lan0"]);
      expect(await reaches(a, "c1", "198.18.1.50")).toBe(true);
      expect(await reaches(b, "c1", "198.18.1.50")).toBe(false);
      expect(await reaches(b, "c1", "198.18.1.12")).toBe(true);
      expect((await b.holders("198.18.1.50")).length).toBe(0);
    } finally {
      await a.down();
      await b.down();
    }
  });

  it("refuses a second lab with the same name and says how to remove the first", async () => {
    const spec = testLabSpec("tdup");
    const lab = await freshLab(spec);
    try {
      const error = await Lab.up(spec).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(PaviseError);
      expect((error as PaviseError).code).toBe("LAB_EXISTS");
      expect((error as PaviseError).hint).toContain("pavise lab down tdup");
    } finally {
      await lab.down();
    }
  });
});

describe("etcd in the lab", () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tetcd", { etcd: true }));
  });
  afterAll(async () => {
    await lab?.down();
  });

  const etcdctl = (host: string, ...args: string[]) =>
    lab.exec(host, ["etcdctl", "--endpoints=http://127.0.0.1:2379", "--command-timeout=3s", ...args]);

  it("has three healthy members, one leader, a member on every node", async () => {
    const status = await lab.status();
    expect(status.etcd.map((m) => [m.name, m.healthy])).toEqual([
      ["n1", true],
      ["n2", true],
      ["n3", true],
    ]);
    expect(status.etcd.filter((m) => m.leader)).toHaveLength(1);
    await etcdctl("n1", "put", "/pavise/test", "hello");
    expect((await etcdctl("n3", "get", "/pavise/test", "--print-value-only")).stdout.trim()).toBe("hello");
  });

  it("keeps quorum and serves writes after its leader is killed", async () => {
    const leader = (await lab.status()).etcd.find((m) => m.leader);
    if (!leader) throw new Error("no leader");
    const process = lab.processes().find((p) => p.role === `etcd-${leader.name}`);
    if (!process) throw new Error(`no process for ${leader.name}`);
    await lab.faults.kill(process);

    const survivor = ["n1", "n2", "n3"].find((n) => n !== leader.name) ?? "n1";
    const deadline = Date.now() + 10_000;
    let health = await lab.status();
    while (Date.now() < deadline) {
      health = await lab.status();
      if (health.etcd.filter((m) => m.healthy).length === 2 && health.etcd.some((m) => m.leader)) break;
    }
    expect(health.etcd.filter((m) => m.healthy).map((m) => m.name)).toEqual(
      ["n1", "n2", "n3"].filter((n) => n !== leader.name),
    );
    expect(health.etcd.find((m) => m.leader)?.name).not.toBe(leader.name);
    await etcdctl(survivor, "put", "/pavise/after", "still-writable");
    expect((await etcdctl(survivor, "get", "/pavise/after", "--print-value-only")).stdout.trim()).toBe(
      "still-writable",
    );
  });
});

describe("etcd through a node crash", () => {
  it("loses the crashed node's member, keeps quorum, and gets it back when the node powers on", async () => {
    const lab = await freshLab(testLabSpec("tboot", { etcd: true }));
    try {
      await lab.faults.crashHost("n3");
      const degraded = await lab.status();
      expect(degraded.etcd.map((m) => m.healthy)).toEqual([true, true, false]);
      await lab.faults.powerOn("n3");
      const deadline = Date.now() + 15_000;
      let members = await lab.status();
      while (!members.etcd.every((m) => m.healthy) && Date.now() < deadline) members = await lab.status();
      expect(members.etcd.every((m) => m.healthy)).toBe(true);
      const put = await lab.exec("n3", [
        "etcdctl",
        "--endpoints=http://127.0.0.1:2379",
        "put",
        "/rejoined",
        "yes",
      ]);
      expect(put.stdout).toContain("OK");
    } finally {
      await lab.down();
    }
  });
});

describe("etcd with TLS from the lab CA", () => {
  it("serves clients that present the lab's certificate and refuses plain HTTP", async () => {
    const lab = await freshLab(testLabSpec("ttls", { etcd: true, etcdTls: true }));
    try {
      const status = await lab.status();
      expect(status.etcd.every((m) => m.healthy && m.endpoint.startsWith("https://"))).toBe(true);
      const plain = await lab.exec(
        "n1",
        [
          "etcdctl",
          "--endpoints=http://198.18.2.12:2379",
          "--dial-timeout=1s",
          "--command-timeout=2s",
          "get",
          "x",
        ],
        { allowFailure: true },
      );
      expect(plain.code).not.toBe(0);
      const noCert = await lab.exec(
        "n1",
        [
          "etcdctl",
          "--endpoints=https://198.18.2.12:2379",
          `--cacert=${lab.dir}/ca/ca.crt`,
          "--dial-timeout=1s",
          "--command-timeout=2s",
          "get",
          "x",
        ],
        { allowFailure: true },
      );
      expect(noCert.code).not.toBe(0);
    } finally {
      await lab.down();
    }
  });
});

describe("faults and probes", () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tfault"));
  });
  afterAll(async () => {
    await lab?.down();
  });
  afterEach(async () => {
    await lab.faults.healAll();
  });

  it("kill, freeze and thaw act on the process by PID", async () => {
    const sleeper = await lab.runtime.spawn("n1", ["sleep", "300"], { role: "sleeper" });
    const state = () => /\) (\S)/.exec(readFileSync(`/proc/${sleeper.pid}/stat`, "utf8"))?.[1];
    lab.faults.freeze(sleeper);
    await new Promise((r) => setTimeout(r, 50));
    expect(state()).toBe("T");
    lab.faults.thaw(sleeper);
    await new Promise((r) => setTimeout(r, 50));
    expect(state()).toBe("S");
    await lab.faults.kill(sleeper);
    expect(processStartTime(sleeper.pid)).toBeUndefined();
    expect(() => lab.faults.freeze(sleeper)).toThrow(/not running/);
  });

  it("a NIC taken down stops traffic; up again restores it", async () => {
    expect(await reaches(lab, "c1", "198.18.1.11")).toBe(true);
    await lab.faults.nicDown("n1", "lan0");
    expect(await reaches(lab, "c1", "198.18.1.11")).toBe(false);
    expect(
      (await lab.status()).hosts.find((h) => h.name === "n1")?.nics.find((n) => n.name === "lan0")?.up,
    ).toBe(false);
    await lab.faults.nicUp("n1", "lan0");
    expect(await reachesAgain(lab, "c1", "198.18.1.11")).toBe(true);
  });

  it("cutting a host from a LAN isolates it there only, both ways", async () => {
    const cut = await lab.faults.cutFromLan("n1", { subnet: "public" });
    expect(await reaches(lab, "c1", "198.18.1.11")).toBe(false);
    expect(await reaches(lab, "n2", "198.18.2.11")).toBe(true); // heartbeat LAN still works
    expect(await reaches(lab, "c1", "198.18.1.12")).toBe(true);
    await lab.faults.heal(cut);
    expect(await reachesAgain(lab, "c1", "198.18.1.11")).toBe(true);
  });

  it("a one-way cut lets packets in but not out", async () => {
    await lab.faults.cutFromLan("n1", { subnet: "public", direction: "out" });
    await forgetNeighbours(lab, "c1", "n1");
    expect(await reaches(lab, "c1", "198.18.1.11")).toBe(false);
    expect(await hasLearnt(lab, "n1", "198.18.1.101")).toBe(true); // c1's ARP request arrived
    expect(await hasLearnt(lab, "c1", "198.18.1.11")).toBe(false); // n1's reply did not
    await lab.faults.healAll();

    await lab.faults.cutFromLan("n1", { subnet: "public", direction: "in" });
    await forgetNeighbours(lab, "c1", "n1");
    expect(await reaches(lab, "c1", "198.18.1.11")).toBe(false);
    expect(await hasLearnt(lab, "n1", "198.18.1.101")).toBe(false); // nothing arrived
  });

  it("cutting two hosts apart leaves the rest connected", async () => {
    await lab.faults.cutBetween("c1", "n1");
    expect(await reaches(lab, "c1", "198.18.1.11")).toBe(false);
    expect(await reaches(lab, "c2", "198.18.1.11")).toBe(true);
    expect(await reaches(lab, "c1", "198.18.1.12")).toBe(true);
    await lab.faults.healAll();

    const oneWay = await lab.faults.cutBetween("c1", "n1", { direction: "one-way" });
    await forgetNeighbours(lab, "c1", "n1");
    expect(await reaches(lab, "c1", "198.18.1.11")).toBe(false);
    expect(await hasLearnt(lab, "n1", "198.18.1.101")).toBe(false); // c1 -> n1 is dropped
    // The other way passes: n1's ARP request reaches c1, c1's answer is dropped on its way back.
    expect(await reaches(lab, "n1", "198.18.1.101")).toBe(false);
    expect(await hasLearnt(lab, "c1", "198.18.1.11")).toBe(true);
    await lab.faults.heal(oneWay);
    expect(await reachesAgain(lab, "c1", "198.18.1.11")).toBe(true);
  });

  it("a crashed host loses every process and its links; power on brings the links back", async () => {
    const a = await lab.runtime.spawn("n3", ["sleep", "300"], { role: "sleeper-a" });
    const b = await lab.runtime.spawn("n3", ["sleep", "300"], { role: "sleeper-b" });
    const killed = await lab.faults.crashHost("n3");
    expect(killed).toEqual(expect.arrayContaining([a.pid, b.pid]));
    expect(processStartTime(a.pid)).toBeUndefined();
    expect(await reaches(lab, "c1", "198.18.1.13")).toBe(false);
    const n3 = (await lab.status()).hosts.find((h) => h.name === "n3");
    expect(n3?.nics.every((n) => !n.up)).toBe(true);
    await lab.faults.powerOn("n3");
    const deadline = Date.now() + 5_000;
    while (!(await reaches(lab, "c1", "198.18.1.13")) && Date.now() < deadline);
    expect(await reaches(lab, "c1", "198.18.1.13")).toBe(true);
  });

  it("probes name who holds an address and who answers ARP for it, also when two do", async () => {
    const address = "198.18.1.50";
    expect(await lab.holders(address)).toEqual([]);
    expect(await lab.arpAnswerers("public", address)).toEqual([]);
    await lab.exec("n2", ["ip", "addr", "add", `${address}/24`, "dev", "lan0"]);
    expect(await lab.holders(address)).toEqual([{ host: "n2", nic: "lan0", up: true }]);
    expect(await lab.arpAnswerers("public", address)).toEqual([
      { mac: "02:50:0a:02:00:01", host: "n2", nic: "lan0" },
    ]);
    // The standby NIC stays silent (arp_ignore=1): only the NIC holding the address answers.
    await lab.exec("n3", ["ip", "addr", "add", `${address}/24`, "dev", "lan1"]);
    const answers = await lab.arpAnswerers("public", address);
    expect(answers.map((a) => `${a.host}/${a.nic}`).sort()).toEqual(["n2/lan0", "n3/lan1"]);
    expect((await lab.holders(address)).map((h) => h.host).sort()).toEqual(["n2", "n3"]);
    await lab.exec("n2", ["ip", "addr", "del", `${address}/24`, "dev", "lan0"]);
    await lab.exec("n3", ["ip", "addr", "del", `${address}/24`, "dev", "lan1"]);
  });
});
