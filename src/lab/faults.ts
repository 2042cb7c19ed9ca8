import { PaviseError } from "../util/errors.js";
import { run } from "../util/run.js";
import type { LabProcess } from "./host-runtime.js";
import type { Lab } from "./lab.js";
import { killProcess, processStartTime, signalProcess } from "./processes.js";
import { pidsInNamespace } from "./topology.js";

/** A cut made by the lab switch; give it back to `heal`. */
export interface Cut {
  description: string;
  /** nftables rule handles in the switch namespace. */
  handles: number[];
}

/** 'in': the host receives nothing; 'out': nothing it sends arrives; 'both': cable pulled. */
export type CutDirection = "in" | "out" | "both";

const TABLE = "lab_faults";

/**
 * Faults, each a single call. Network cuts are made in the lab's switch (nftables, bridge
 * family, on the switch ports), so the host itself is untouched — like a pulled cable or a
 * broken switch port — and its own firewall stays free for Pavise.
 */
export class LabFaults {
  private tableReady = false;

  constructor(private readonly lab: Lab) {}

  /** SIGKILL: the process dies at once, without running any cleanup. */
  async kill(process: LabProcess): Promise<void> {
    await killProcess(process);
  }

  /** SIGSTOP: the process stops running but keeps its sockets and addresses (a hung daemon). */
  freeze(process: LabProcess): void {
    if (!signalProcess(process, "SIGSTOP")) throw gone(process);
  }

  /** SIGCONT: a frozen process resumes where it stopped. */
  thaw(process: LabProcess): void {
    if (!signalProcess(process, "SIGCONT")) throw gone(process);
  }

  async nicDown(host: string, nic: string): Promise<void> {
    this.lab.nic(host, nic);
    await run(["ip", "-n", this.lab.host(host).namespace, "link", "set", nic, "down"]);
  }

  async nicUp(host: string, nic: string): Promise<void> {
    this.lab.nic(host, nic);
    await run(["ip", "-n", this.lab.host(host).namespace, "link", "set", nic, "up"]);
  }

  /**
   * A pulled cable: the switch port goes down, so the host's NIC stays administratively up but
   * loses its carrier (NO-CARRIER), as a real link failure looks to the node.
   */
  async carrierDown(host: string, nic: string): Promise<void> {
    await this.switchPort(host, nic, "down");
  }

  /** The cable plugged back in. */
  async carrierUp(host: string, nic: string): Promise<void> {
    await this.switchPort(host, nic, "up");
  }

  private async switchPort(host: string, nic: string, state: "up" | "down"): Promise<void> {
    const port = this.lab.nic(host, nic).switchPort;
    await run(["ip", "-n", this.lab.plan.switchNamespace, "link", "set", port, state]);
  }

  /** Cuts a host off from one LAN (or from all of its LANs), in one or both directions. */
  async cutFromLan(host: string, options: { subnet?: string; direction?: CutDirection } = {}): Promise<Cut> {
    const direction = options.direction ?? "both";
    const ports = this.ports(host, options.subnet);
    const rules: string[] = [];
    if (direction !== "out") rules.push(`oifname ${nameSet(ports)} drop`);
    if (direction !== "in") rules.push(`iifname ${nameSet(ports)} drop`);
    const where = options.subnet ? `LAN ${options.subnet}` : "all LANs";
    return this.addRules(`${host} cut from ${where} (${direction})`, rules);
  }

  /**
   * Cuts the path between two hosts on every LAN they share; 'one-way' drops only what
   * `from` sends to `to`.
   */
  async cutBetween(from: string, to: string, options: { direction?: "both" | "one-way" } = {}): Promise<Cut> {
    const a = nameSet(this.ports(from));
    const b = nameSet(this.ports(to));
    const rules = [`iifname ${a} oifname ${b} drop`];
    if ((options.direction ?? "both") === "both") rules.push(`iifname ${b} oifname ${a} drop`);
    return this.addRules(`${from} cut from ${to} (${options.direction ?? "both"})`, rules);
  }

  async heal(cut: Cut): Promise<void> {
    for (const handle of cut.handles) {
      await this.nft(["delete", "rule", "bridge", TABLE, "forward", "handle", String(handle)]);
    }
  }

  /** Removes every cut. */
  async healAll(): Promise<void> {
    await this.ensureTable();
    await this.nft(["flush", "chain", "bridge", TABLE, "forward"]);
  }

  /**
   * A host crash: every process in the host is killed (SIGKILL, by PID) and its links go down,
   * so its peers see carrier loss and silence. `powerOn` boots it again: links up, etcd member
   * started; whatever else ran is gone.
   */
  async crashHost(host: string): Promise<number[]> {
    const planned = this.lab.host(host);
    await run(["ip", "-n", planned.namespace, "-batch", "-"], {
      input: planned.nics.map((nic) => `link set ${nic.name} down\n`).join(""),
    });
    const killed: number[] = [];
    for (const pid of await pidsInNamespace(planned.namespace)) {
      const startTime = processStartTime(pid);
      if (startTime === undefined) continue;
      await killProcess({ pid, startTime });
      killed.push(pid);
    }
    return killed;
  }

  /**
   * Brings a crashed host back as a reboot would: the addresses added at run time (a package's
   * relocatable ones, the node's own moved to a standby) are gone and its own addresses are
   * back where the lab set them up, before its links come up — otherwise it would answer ARP
   * for addresses another node has taken meanwhile — then links up and its etcd member started.
   */
  async powerOn(host: string): Promise<void> {
    const planned = this.lab.host(host);
    for (const nic of planned.nics) {
      const shown = await run(["ip", "-n", planned.namespace, "-j", "-4", "addr", "show", "dev", nic.name]);
      const entries = JSON.parse(shown.stdout || "[]") as {
        addr_info?: { local: string; prefixlen: number }[];
      }[];
      const held = entries.flatMap((e) => e.addr_info ?? []);
      if (nic.address !== undefined && !held.some((a) => a.local === nic.address)) {
        await run([
          "ip",
          "-n",
          planned.namespace,
          "addr",
          "add",
          `${nic.address}/${nic.prefixLength}`,
          "dev",
          nic.name,
        ]);
      }
      for (const a of held) {
        if (a.local === nic.address) continue;
        await run([
          "ip",
          "-n",
          planned.namespace,
          "addr",
          "del",
          `${a.local}/${a.prefixlen}`,
          "dev",
          nic.name,
        ]);
      }
    }
    await run(["ip", "-n", planned.namespace, "-batch", "-"], {
      input: planned.nics.map((nic) => `link set ${nic.name} up\n`).join(""),
    });
    await this.lab.startEtcdMember(host);
  }

  private ports(host: string, subnet?: string): string[] {
    const nics = this.lab.host(host).nics.filter((n) => subnet === undefined || n.subnet === subnet);
    if (nics.length === 0) {
      throw new PaviseError("LAB_NO_SUCH_LAN", `host ${host} has no NIC on LAN ${subnet ?? "(any)"}`, {
        hint: `its LANs are: ${[...new Set(this.lab.host(host).nics.map((n) => n.subnet))].join(", ")}`,
      });
    }
    return nics.map((n) => n.switchPort);
  }

  private nft(args: string[], input?: string): ReturnType<typeof run> {
    return run(
      ["ip", "netns", "exec", this.lab.plan.switchNamespace, "nft", ...args],
      input === undefined ? {} : { input },
    );
  }

  /** Creating a table that exists is a no-op in nft, so this is safe from several processes. */
  private async ensureTable(): Promise<void> {
    if (this.tableReady) return;
    await this.nft(
      ["-f", "-"],
      `table bridge ${TABLE} {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n  }\n}\n`,
    );
    this.tableReady = true;
  }

  private async addRules(description: string, rules: string[]): Promise<Cut> {
    await this.ensureTable();
    const handles: number[] = [];
    for (const rule of rules) {
      const result = await this.nft([
        "--echo",
        "--handle",
        "add",
        "rule",
        "bridge",
        TABLE,
        "forward",
        ...rule.split(" "),
      ]);
      const match = /# handle (\d+)/.exec(result.stdout);
      if (!match) throw new PaviseError("LAB_FAULT_FAILED", `nft did not report a rule handle for: ${rule}`);
      handles.push(Number(match[1]));
    }
    return { description, handles };
  }
}

function nameSet(names: readonly string[]): string {
  return `{ ${names.map((n) => `"${n}"`).join(", ")} }`;
}

function gone(process: LabProcess): PaviseError {
  return new PaviseError(
    "LAB_PROCESS_GONE",
    `process ${process.pid} (${process.role} on ${process.host}) is not running`,
  );
}
