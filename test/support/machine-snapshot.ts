import { readFileSync, readdirSync } from "node:fs";
import { run } from "../../src/util/run.js";

/** What a lab may touch on the machine: compared before and after to prove it left nothing. */
export interface MachineSnapshot {
  namespaces: string[];
  rootLinks: string[];
  mounts: string[];
}

/**
 * The machine's namespaces, root links and mount points. Namespaces (and their /run/netns
 * mounts) of other labs or tools are left out, so that work running beside the test does not
 * make it fail; the lab's own must all be gone.
 */
export async function machineSnapshot(labName: string): Promise<MachineSnapshot> {
  const foreignNamespace = (name: string): boolean => !name.startsWith(`${labName}-`);
  const ns = await run(["ip", "-j", "netns", "list"]);
  const links = await run(["ip", "-j", "link", "show"]);
  return {
    namespaces: ns.stdout.trim()
      ? (JSON.parse(ns.stdout) as { name: string }[])
          .map((n) => n.name)
          .filter((n) => !foreignNamespace(n))
          .sort()
      : [],
    rootLinks: (JSON.parse(links.stdout) as { ifname: string }[]).map((l) => l.ifname).sort(),
    // Mount points only (field 5): mount IDs change and are not what we compare.
    mounts: readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(" ")[4] ?? "")
      .filter(
        (point) => !point.startsWith("/run/netns/") || !foreignNamespace(point.slice("/run/netns/".length)),
      )
      .sort(),
  };
}

/** PIDs of processes whose command line contains the given text (for assertions only, never for killing). */
export function pidsWithArgument(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.split("\0").includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
