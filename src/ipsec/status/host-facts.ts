import { existsSync, readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import {
  DEFAULT_RULE_PRIORITY,
  policyRules,
  ruleArgs,
  type PolicyRule,
} from "../../esp/driver/policy-routing-plan.js";
import { run } from "../../util/run.js";
import type { DatapathFacts } from "./ipsec-health.js";

/**
 * The real reads behind IPSEC_DATAPATH_DOWN and IPSEC_NOT_LISTENING (design §10): the TUN
 * device's state from /sys/class/net (cheaper than spawning `ip`), the policy rules from
 * `ip -j -4 rule`, and the addresses on this node's interfaces, all in the daemon's network
 * namespace.
 */

/** IFF_UP in /sys/class/net/DEV/flags (linux/if.h). */
const IFF_UP = 0x1;

export async function readDatapathFacts(tunName: string, table: number): Promise<DatapathFacts> {
  return { kind: "esp", tunName, ...tunDevice(tunName), missingRules: await missingRules(table) };
}

function tunDevice(name: string): { device?: { up: boolean; operstate: string } } {
  const dir = `/sys/class/net/${name}`;
  if (!existsSync(dir)) return {};
  try {
    const flags = Number.parseInt(readFileSync(`${dir}/flags`, "utf8").trim(), 16);
    const operstate = readFileSync(`${dir}/operstate`, "utf8").trim();
    return { device: { up: (flags & IFF_UP) !== 0, operstate } };
  } catch {
    // Gone between the two reads.
    return {};
  }
}

/** The IPv4 rules of policyRules(table) that `ip rule` does not show (IPv6 is optional there). */
async function missingRules(table: number): Promise<string[]> {
  const wanted = policyRules(table, DEFAULT_RULE_PRIORITY).filter((r) => r.family === 4);
  const listed = await run(["ip", "-j", "-4", "rule", "show"], {
    allowFailure: true,
    timeoutMs: 5_000,
  }).catch((err: unknown) => ({ code: -1, stdout: "", stderr: (err as Error).message }));
  let rules: IpRuleJson[] = [];
  try {
    rules = listed.code === 0 ? (JSON.parse(listed.stdout) as IpRuleJson[]) : [];
  } catch {
    rules = [];
  }
  return wanted.filter((w) => !rules.some((r) => sameRule(w, r))).map((w) => ruleArgs(w).join(" "));
}

interface IpRuleJson {
  priority?: number;
  ipproto?: string;
  sport?: number;
  table?: string;
}

function sameRule(wanted: PolicyRule, shown: IpRuleJson): boolean {
  if (shown.priority !== wanted.priority || shown.table !== String(wanted.lookup)) return false;
  if (wanted.udpSourcePort === undefined) return shown.ipproto === undefined && shown.sport === undefined;
  return shown.ipproto === "udp" && shown.sport === wanted.udpSourcePort;
}

/** Which of `addresses` are on one of this node's interfaces. */
export function addressesOnNode(addresses: readonly string[]): Set<string> {
  const here = new Set(
    Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address)),
  );
  return new Set(addresses.filter((a) => here.has(a)));
}
