import type { LabProcess } from "../lab/host-runtime.js";
import type { Lab } from "../lab/lab.js";
import { PaviseError } from "../util/errors.js";
import { makeOutput, table } from "./output.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const FAULT_USAGE = `usage: pavise lab fault FAULT ARGS [--lab NAME] [--json]
  kill PROCESS              SIGKILL a lab process (PROCESS: its role, e.g. etcd-n1, or its PID)
  freeze PROCESS            SIGSTOP it (a hung daemon)
  thaw PROCESS              SIGCONT it
  nic-down HOST NIC         take a NIC down          nic-up HOST NIC    and up again
  carrier-down HOST NIC     pull its cable (switch port down)   carrier-up HOST NIC   plug it back
  cut HOST [--lan LAN] [--direction in|out|both]     cut a host off a LAN (default: all, both ways)
  cut-between A B [--one-way]                        cut the path between two hosts
  crash HOST                kill everything in the host and take its links down
  power-on HOST             boot a crashed host again: run-time addresses gone, links up
  heal                      remove every cut
usage: pavise lab probe PROBE ARGS [--lab NAME] [--json]
  holders ADDRESS           which hosts hold the address
  arp LAN ADDRESS           who answers ARP for the address on a LAN`;

function findProcess(lab: Lab, which: string): LabProcess {
  const running = lab.processes();
  const found = /^\d+$/.test(which)
    ? running.find((p) => p.pid === Number(which))
    : running.find((p) => p.role === which);
  if (!found) {
    throw new PaviseError("LAB_NO_SUCH_PROCESS", `lab ${lab.name} has no running process ${which}`, {
      hint: `running: ${running.map((p) => `${p.role} (${p.pid})`).join(", ") || "none"}`,
    });
  }
  return found;
}

function parseFaultArgs(args: string[]) {
  const options = {
    lab: { type: "string" },
    json: { type: "boolean" },
    lan: { type: "string" },
    direction: { type: "string" },
    "one-way": { type: "boolean" },
  } as const;
  return parseCommandArgs(args, options, FAULT_USAGE);
}

function positional(list: string[], index: number, what: string): string {
  const value = list[index];
  if (value === undefined) throw usageError(`missing ${what}`, FAULT_USAGE);
  return value;
}

/** `pavise lab fault …`: one fault, applied at once, reported in one line (or JSON). */
export async function labFaultCommand(
  args: string[],
  openLab: (name: string | undefined) => Lab,
): Promise<number> {
  const { values, positionals } = parseFaultArgs(args);
  const [fault, ...rest] = positionals;
  const out = makeOutput(values.json === true);
  const lab = openLab(values.lab);
  const faults = lab.faults;
  let done: Record<string, unknown>;
  switch (fault) {
    case "kill":
    case "freeze":
    case "thaw": {
      const process = findProcess(lab, positional(rest, 0, "PROCESS"));
      if (fault === "kill") await faults.kill(process);
      else if (fault === "freeze") faults.freeze(process);
      else faults.thaw(process);
      done = { fault, pid: process.pid, role: process.role, host: process.host };
      break;
    }
    case "nic-down":
    case "nic-up": {
      const host = positional(rest, 0, "HOST");
      const nic = positional(rest, 1, "NIC");
      await (fault === "nic-down" ? faults.nicDown(host, nic) : faults.nicUp(host, nic));
      done = { fault, host, nic };
      break;
    }
    case "carrier-down":
    case "carrier-up": {
      const host = positional(rest, 0, "HOST");
      const nic = positional(rest, 1, "NIC");
      await (fault === "carrier-down" ? faults.carrierDown(host, nic) : faults.carrierUp(host, nic));
      done = { fault, host, nic };
      break;
    }
    case "cut": {
      const direction = values.direction ?? "both";
      if (direction !== "in" && direction !== "out" && direction !== "both") {
        throw usageError(`--direction must be in, out or both, not '${direction}'`, FAULT_USAGE);
      }
      const cut = await faults.cutFromLan(positional(rest, 0, "HOST"), {
        direction,
        ...(values.lan ? { subnet: values.lan } : {}),
      });
      done = { fault, cut: cut.description };
      break;
    }
    case "cut-between": {
      const cut = await faults.cutBetween(positional(rest, 0, "A"), positional(rest, 1, "B"), {
        direction: values["one-way"] ? "one-way" : "both",
      });
      done = { fault, cut: cut.description };
      break;
    }
    case "crash": {
      const host = positional(rest, 0, "HOST");
      done = { fault, host, killed: await faults.crashHost(host) };
      break;
    }
    case "power-on": {
      const host = positional(rest, 0, "HOST");
      await faults.powerOn(host);
      done = { fault, host };
      break;
    }
    case "heal":
      await faults.healAll();
      done = { fault };
      break;
    default:
      throw usageError(fault ? `unknown fault '${fault}'` : "which fault?", FAULT_USAGE);
  }
  out.result(done, () =>
    Object.entries(done)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : String(v)}`)
      .join(", "),
  );
  return 0;
}

/** `pavise lab probe …`: what the tests look at, for a person. */
export async function labProbeCommand(
  args: string[],
  openLab: (name: string | undefined) => Lab,
): Promise<number> {
  const { values, positionals } = parseFaultArgs(args);
  const [probe, ...rest] = positionals;
  const out = makeOutput(values.json === true);
  const lab = openLab(values.lab);
  switch (probe) {
    case "holders": {
      const holders = await lab.holders(positional(rest, 0, "ADDRESS"));
      out.result(holders, () =>
        holders.length === 0
          ? "nobody holds it"
          : table(
              ["HOST", "NIC", "LINK"],
              holders.map((h) => [h.host, h.nic, h.up ? "up" : "DOWN"]),
            ),
      );
      return holders.length > 1 ? 3 : 0;
    }
    case "arp": {
      const answers = await lab.arpAnswerers(positional(rest, 0, "LAN"), positional(rest, 1, "ADDRESS"));
      out.result(answers, () =>
        answers.length === 0
          ? "no answer"
          : table(
              ["MAC", "HOST", "NIC"],
              answers.map((a) => [a.mac, a.host ?? "?", a.nic ?? "?"]),
            ),
      );
      return answers.length > 1 ? 3 : 0;
    }
    default:
      throw usageError(probe ? `unknown probe '${probe}'` : "which probe?", FAULT_USAGE);
  }
}
