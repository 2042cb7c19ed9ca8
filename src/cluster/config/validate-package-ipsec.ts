import { isAbsolute } from "node:path";
import { encodeAuthIdentity } from "../../ike/auth/auth-identity.js";
import { formatIdentity } from "../../ike/config/identity.js";
import type { TrafficSelectorSpec } from "../../ike/config/traffic-selector-spec.js";
import { parseProposalString } from "../../ike/crypto/transforms.js";
import { formatIpv4, formatPrefix, parseIpv4, prefixContains, type Ipv4Prefix } from "../../net/ipv4.js";
import type { ClusterConfig, PackageConfig, PackageIpsecConfig, PackageIpsecConnection } from "./model.js";
import type { ProblemList } from "./raw-reader.js";
import { durationRange } from "./duration-range.js";
import { formatMs } from "./validate-timing.js";
import { parseUrl, type SubnetPrefixes } from "./validate-network.js";

/**
 * A package's `ipsec:` section against the package and the cluster (docs/ipsec-packages-design.md
 * §3): failover packages only, the identity and local addresses are the package's, its local
 * selectors stay inside the package's subnets, no selector takes in cluster traffic, credentials
 * are absolute paths (a file on every node of node_name), and what the cluster does itself
 * (INITIAL_CONTACT, contact after a failover) cannot be turned off.
 */
export function validatePackageIpsec(
  config: ClusterConfig,
  pkg: PackageConfig,
  key: string,
  prefixes: SubnetPrefixes,
  problems: ProblemList,
): void {
  const ipsec = pkg.ipsec;
  if (!ipsec) return;
  const at = `${key}.ipsec`;
  if (pkg.type === "multi_node") {
    // RFC 7296 §2.4: INITIAL_CONTACT must not be sent by an entity that may be replicated; and
    // every node would answer IKE for the one identity at once.
    problems.add(
      at,
      pkg.name,
      "a multi_node package runs on several nodes at once, and an IKE identity must live on one node at a time (RFC 7296 §2.4: INITIAL_CONTACT must not be sent by a replicated entity)",
      "remove ipsec, or use package_type: failover",
    );
    return;
  }
  const addresses = pkg.addresses.map((a) => a.address);
  if (addresses.length === 0) {
    problems.add(
      at,
      pkg.name,
      "needs an ip_address: IKE and ESP run on the package's own addresses, which move with it",
      "add ip_address: [{ address: 198.18.1.50, subnet: public }]",
    );
  }
  validateIdentity(ipsec, addresses, at, problems);
  validateCredentials(ipsec, at, problems);
  validateContact(ipsec, at, problems);
  if (ipsec.connections.length === 0) {
    problems.add(
      `${at}.connections`,
      [],
      "lists no connection",
      "add connections: { clients: { remote_addrs: [198.18.1.0/24], children: { net: {} } } }",
    );
  }
  const scope = clusterScope(config, pkg, prefixes);
  for (const connection of ipsec.connections) {
    validateConnection(connection, `${at}.connections.${connection.connection.name}`, scope, problems);
  }
}

function validateIdentity(
  ipsec: PackageIpsecConfig,
  addresses: string[],
  at: string,
  problems: ProblemList,
): void {
  const id = ipsec.local.id;
  const key = `${at}.identity`;
  if (id.kind === "any") {
    // Only when the package has no address to default to; that is reported already.
    if (addresses.length > 0)
      problems.add(
        key,
        "%any",
        "the package's own identity cannot be %any",
        "write e.g. identity: web.example.org",
      );
    return;
  }
  if ((id.kind === "ipv4" || id.kind === "ipv6") && !addresses.includes(id.value)) {
    problems.add(
      key,
      id.value,
      `is an address identity, but not one of the package's ip_address entries (${addresses.join(", ") || "none"}): the adoptive node could not hold it`,
      addresses.length > 0
        ? `write identity: ${addresses[0]}, or a name such as identity: web.example.org`
        : "add the address to ip_address, or use a name such as identity: web.example.org",
    );
  }
  const wire = encodeAuthIdentity(id);
  if (!wire.ok) {
    problems.add(
      key,
      formatIdentity(id),
      wire.error.message,
      'write e.g. "C=CH, O=Org, CN=web" or web.example.org',
    );
  }
}

function validateCredentials(ipsec: PackageIpsecConfig, at: string, problems: ProblemList): void {
  const key = `${at}.credentials`;
  const local = ipsec.local;
  if (local.auth === "pubkey" && (local.certs.length === 0 || local.key === undefined)) {
    problems.add(
      key,
      { auth: local.auth, certs: local.certs, key: local.key },
      "pubkey authentication needs certs and key",
      "add certs: [/etc/pavise/ipsec/web.crt] and key: /etc/pavise/ipsec/web.key (files on every node of node_name)",
    );
  }
  local.certs.forEach((file, j) => absolutePath(file, `${key}.certs[${j}]`, problems));
  if (local.key !== undefined) absolutePath(local.key, `${key}.key`, problems);
}

function validateContact(ipsec: PackageIpsecConfig, at: string, problems: ProblemList): void {
  const { retryMs, retryMaxMs, giveUpMs, parallel } = ipsec.contact;
  const key = `${at}.contact`;
  durationRange(retryMs, `${key}.retry`, 100, 3_600_000, "1s", problems);
  if (retryMaxMs < retryMs) {
    problems.add(
      `${key}.retry_max`,
      formatMs(retryMaxMs),
      `is shorter than retry (${formatMs(retryMs)}): the wait between tries only grows up to it`,
      "write e.g. retry_max: 60s",
    );
  }
  if (giveUpMs < retryMs) {
    problems.add(
      `${key}.give_up`,
      formatMs(giveUpMs),
      `is shorter than retry (${formatMs(retryMs)}): a peer would be given up before its second try`,
      "write e.g. give_up: 10m",
    );
  }
  if (!Number.isSafeInteger(parallel) || parallel < 1 || parallel > 1024) {
    problems.add(`${key}.parallel`, parallel, "must be from 1 to 1024", "write e.g. parallel: 32");
  }
  durationRange(ipsec.peersRetentionMs, `${at}.peers_retention`, 60_000, 366 * 86_400_000, "24h", problems);
}

/** What a package's selectors are judged against. */
interface Scope {
  /** The package's addresses as numbers. */
  addresses: number[];
  /** The subnets of the package's addresses. */
  subnets: { name: string; prefix: Ipv4Prefix }[];
  heartbeat: { name: string; prefix: Ipv4Prefix }[];
  /** etcd endpoint addresses: a node's stationary addresses. */
  etcd: number[];
}

function clusterScope(config: ClusterConfig, pkg: PackageConfig, prefixes: SubnetPrefixes): Scope {
  const withPrefix = (names: string[]): Scope["subnets"] =>
    names.flatMap((name) => {
      const prefix = prefixes.get(name);
      return prefix ? [{ name, prefix }] : [];
    });
  return {
    addresses: pkg.addresses.flatMap((a) => parseIpv4(a.address) ?? []),
    subnets: withPrefix([...new Set(pkg.addresses.map((a) => a.subnet))]),
    heartbeat: withPrefix(config.subnets.filter((s) => s.heartbeat).map((s) => s.name)),
    etcd: config.etcd.endpoints.flatMap((e) => parseIpv4(parseUrl(e)?.hostname ?? "") ?? []),
  };
}

function validateConnection(
  entry: PackageIpsecConnection,
  at: string,
  scope: Scope,
  problems: ProblemList,
): void {
  const c = entry.connection;
  const packageAddresses = scope.addresses;
  c.localAddrs.forEach((address, j) => {
    const value = parseIpv4(address);
    if (value === undefined || !packageAddresses.includes(value)) {
      problems.add(
        `${at}.local_addrs[${j}]`,
        address,
        "is not one of the package's ip_address entries: IKE runs only on addresses that move with the package",
        "remove local_addrs (it defaults to the package's addresses), or list only those",
      );
    }
  });
  if (!c.sendInitialContact) {
    problems.add(
      `${at}.send_initial_contact`,
      false,
      "cannot be turned off for a package: INITIAL_CONTACT is what makes peers drop the SAs of the node that failed (RFC 7296 §2.4)",
      "remove send_initial_contact",
    );
  }
  if (!c.encap) {
    problems.add(
      `${at}.encap`,
      false,
      "cannot be turned off for a package: its ESP runs in UDP/4500 through the node's TUN datapath",
      "remove encap",
    );
  }
  c.proposals.forEach((text, j) => proposal(text, "ike", `${at}.proposals[${j}]`, problems));
  validateRemote(entry, at, problems);
  for (const side of ["certs", "cacerts"] as const) {
    c.remote[side].forEach((file, j) => absolutePath(file, `${at}.remote.${side}[${j}]`, problems));
  }
  validatePsk(entry, at, problems);
  // The client-side re-establishing settings (pavise ipsec serve) have no meaning for a package:
  // the package never initiates on its own; its node contacts recorded peers (ipsec.contact).
  if (c.keyingtries !== 1) {
    problems.add(
      `${at}.keyingtries`,
      c.keyingtries,
      "means nothing in a package: the node that runs it retries recorded peers as ipsec.contact says",
      "remove keyingtries; tune ipsec.contact: { retry, retry_max, give_up } instead",
    );
  }
  for (const child of c.children) {
    const childAt = `${at}.children.${child.name}`;
    child.localTs.forEach((ts, j) => localSelector(ts, `${childAt}.local_ts[${j}]`, scope, problems));
    child.remoteTs.forEach((ts, j) => remoteSelector(ts, `${childAt}.remote_ts[${j}]`, scope, problems));
    child.espProposals.forEach((text, j) =>
      proposal(text, "esp", `${childAt}.esp_proposals[${j}]`, problems),
    );
    if (child.closeAction !== "none" || child.dpdAction !== "clear") {
      const key = child.closeAction !== "none" ? "close_action" : "dpd_action";
      problems.add(
        `${childAt}.${key}`,
        child.closeAction !== "none" ? child.closeAction : child.dpdAction,
        "means nothing in a package: a package never initiates to a peer that went away; the peer comes back to it",
        `remove ${key} (it belongs in the client's configuration)`,
      );
    }
    if (child.startAction === "start") {
      problems.add(
        `${childAt}.start_action`,
        "start",
        "means nothing in a package: the node that starts it contacts the recorded peers itself",
        "remove start_action, and say with initiate: yes|no whether peers are contacted",
      );
    }
  }
}

/** What the IKE core would refuse when the package starts, found now instead (connection.ts). */
function validateRemote(entry: PackageIpsecConnection, at: string, problems: ProblemList): void {
  const remote = entry.connection.remote;
  if (remote.id.kind !== "any") {
    const wire = encodeAuthIdentity(remote.id);
    if (!wire.ok) {
      problems.add(
        `${at}.remote.id`,
        formatIdentity(remote.id),
        wire.error.message,
        'write e.g. "C=CH, O=Org, CN=client" or client.example.org',
      );
    }
  }
  if (remote.auth === "pubkey" && remote.cacerts.length === 0 && remote.certs.length === 0) {
    problems.add(
      `${at}.remote.cacerts`,
      [],
      "certificate authentication needs a trust anchor",
      "give cacerts: [/etc/pavise/ipsec/clients-ca.crt] (or the peer's own certificate in certs)",
    );
  }
}

function validatePsk(entry: PackageIpsecConnection, at: string, problems: ProblemList): void {
  const c = entry.connection;
  const usesPsk = c.local.auth === "psk" || c.remote.auth === "psk";
  if (usesPsk && entry.pskFile === undefined) {
    problems.add(
      `${at}.psk_file`,
      undefined,
      `is missing: ${c.local.auth === "psk" ? "ipsec.credentials" : "remote"} uses auth psk`,
      "add psk_file: /etc/pavise/ipsec/<package>/<connection>.psk (at least 32 random bytes, root 0600, on every node of node_name), or use auth: pubkey",
    );
  } else if (!usesPsk && entry.pskFile !== undefined) {
    problems.add(
      `${at}.psk_file`,
      entry.pskFile,
      "is given, but neither side uses auth psk",
      "remove psk_file, or write remote: { auth: psk, … }",
    );
  }
  if (entry.pskFile !== undefined) absolutePath(entry.pskFile, `${at}.psk_file`, problems);
}

/** Our side of a tunnel: the package's own addresses or subnets, never more. */
function localSelector(ts: TrafficSelectorSpec, key: string, scope: Scope, problems: ProblemList): void {
  if (ts.address.kind === "dynamic") return;
  const range = ipv4Range(ts);
  const inside =
    range !== undefined &&
    (scope.subnets.some((s) => rangeInside(range, s.prefix)) ||
      (range.start === range.end && scope.addresses.includes(range.start)));
  if (!inside) {
    const subnets = scope.subnets.map((s) => `${s.name} ${formatPrefix(s.prefix)}`).join(", ");
    problems.add(
      key,
      selectorText(ts),
      `reaches outside the package's subnets (${subnets || "none"}): the tunnel moves with the package and may carry only its traffic`,
      `write dynamic (the package's address), or a range inside ${scope.subnets.map((s) => formatPrefix(s.prefix)).join(" or ") || "the package's subnet"}`,
    );
    return;
  }
  clusterTraffic(range, key, ts, scope, problems);
}

/** The peers' side: anything but the cluster's own traffic. */
function remoteSelector(ts: TrafficSelectorSpec, key: string, scope: Scope, problems: ProblemList): void {
  const range = ipv4Range(ts);
  if (range) clusterTraffic(range, key, ts, scope, problems);
}

/** DESIGN: heartbeat and etcd never depend on a package's IPsec. */
function clusterTraffic(
  range: Range,
  key: string,
  ts: TrafficSelectorSpec,
  scope: Scope,
  problems: ProblemList,
): void {
  const heartbeat = scope.heartbeat.find((s) => rangesOverlap(range, prefixRange(s.prefix)));
  const etcd = scope.etcd.find((a) => a >= range.start && a <= range.end);
  if (heartbeat === undefined && etcd === undefined) return;
  const what = heartbeat
    ? `heartbeat subnet ${heartbeat.name} (${formatPrefix(heartbeat.prefix)})`
    : `an etcd endpoint (${formatIpv4(etcd ?? 0)})`;
  problems.add(
    key,
    selectorText(ts),
    `takes in ${what}: cluster traffic must never depend on a package's tunnel`,
    "narrow the selector to the networks the tunnel is for",
  );
}

interface Range {
  start: number;
  end: number;
}

function ipv4Range(ts: TrafficSelectorSpec): Range | undefined {
  if (ts.address.kind !== "range" || ts.address.family !== 4) return undefined;
  const start = parseIpv4(ts.address.start);
  const end = parseIpv4(ts.address.end);
  return start === undefined || end === undefined ? undefined : { start, end };
}

function prefixRange(prefix: Ipv4Prefix): Range {
  return { start: prefix.network, end: prefix.network + 2 ** (32 - prefix.length) - 1 };
}

function rangeInside(range: Range, prefix: Ipv4Prefix): boolean {
  return prefixContains(prefix, range.start) && prefixContains(prefix, range.end);
}

function rangesOverlap(a: Range, b: Range): boolean {
  return a.start <= b.end && b.start <= a.end;
}

/** A selector as the operator likely wrote it: an address, a prefix, or a range. */
function selectorText(ts: TrafficSelectorSpec): string {
  if (ts.address.kind === "dynamic") return "dynamic";
  const { start, end } = ts.address;
  if (start === end) return start;
  const range = ipv4Range(ts);
  if (range) {
    const size = range.end - range.start + 1;
    const length = 32 - Math.log2(size);
    if (Number.isInteger(length) && range.start % size === 0) return `${start}/${length}`;
  }
  return `${start}-${end}`;
}

function proposal(text: string, protocol: "ike" | "esp", key: string, problems: ProblemList): void {
  try {
    parseProposalString(text, protocol);
  } catch (err) {
    const error = err as { message?: string; hint?: string };
    problems.add(
      key,
      text,
      error.message ?? "is not a proposal",
      error.hint ??
        (protocol === "ike" ? "write e.g. aes128gcm16-prfsha256-x25519" : "write e.g. aes128gcm16"),
    );
  }
}

function absolutePath(file: string, key: string, problems: ProblemList): void {
  if (isAbsolute(file)) return;
  problems.add(
    key,
    file,
    "must be an absolute path: it names a file on every node of node_name",
    `write e.g. /etc/pavise/ipsec/${file.replace(/^(\.\.?\/)+/, "")}`,
  );
}
