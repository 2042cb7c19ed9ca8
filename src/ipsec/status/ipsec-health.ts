/**
 * `pavise ipsec status` without I/O (docs/ipsec-packages-design.md §10): a package's IPsec
 * health snapshot, as the daemon's host read it, becomes a verdict — usable or not, with one
 * reason per problem under a stable code, each saying what is wrong and what to do. The checks
 * that apply everywhere the package may run (datapath, credentials) keep it off a standby whose
 * IPsec is broken; those of the node that runs it (listening, SA/datapath agreement) make it
 * move. Peers the contact gave up on are notes, never reasons: an unreachable client is not this
 * node's fault, and moving the package would not help.
 */

export const IPSEC_HEALTH_CODES = [
  "IPSEC_DATAPATH_DOWN",
  "IPSEC_CREDENTIALS",
  "IPSEC_NOT_LISTENING",
  "IPSEC_STUCK",
  "IPSEC_HOST_STALLED",
] as const;

export type IpsecHealthCode = (typeof IPSEC_HEALTH_CODES)[number];

/** A certificate is "expiring" this long before its notAfter: time to renew before the next start. */
export const CERT_EXPIRY_WARNING_MS = 60 * 60 * 1000;

/** The TUN device and the policy rules that lead traffic into it (policy-routing-plan.ts). */
export interface DatapathFacts {
  /** "record": no traffic by design (no TUN addon); nothing to check. */
  kind: "esp" | "record";
  tunName: string;
  /** Read from /sys/class/net: absent when the device is gone. */
  device?: { up: boolean; operstate: string };
  /** `ip rule`s the datapath needs and the namespace lacks, as `ip rule` shows them. */
  missingRules: string[];
  /** Why the TUN reader (the native addon's) stopped, if it did. */
  readerError?: string;
}

/** One credential file of the package, re-read from disk for this check. */
export interface CredentialFacts {
  /** The configuration key that names it: packages.web.ipsec.credentials.key. */
  key: string;
  file: string;
  /** Why it cannot be used (unreadable, not a key, no matching certificate, PSK too short). */
  problem?: string;
  /** A certificate: its subject and end of validity (ms since the epoch). */
  certificate?: { subject: string; notAfter: number };
}

/** A package address on the node that runs it. */
export interface AddressFacts {
  address: string;
  /** On one of this node's interfaces (in this network namespace). */
  onNode: boolean;
  /** IKE sockets bound on it (UDP 500 and 4500). */
  listening: boolean;
}

/** A Child SA by its SPIs, on either side of the IKE ↔ datapath interface. */
export interface ChildSaFacts {
  name: string;
  spiIn: number;
  spiOut: number;
  remoteAddress: string;
}

export interface IpsecHealthSnapshot {
  package: string;
  node: string;
  /** When the facts were read (ms since the epoch). */
  at: number;
  /** The daemon's IPsec host is open here (it can fail to start: no TUN, no rules). */
  hostOpen: boolean;
  /** Why the host is not open, when it is not. */
  hostProblem?: string;
  datapath?: DatapathFacts;
  credentials: CredentialFacts[];
  /** The package's IPsec runs here (between its ipsec-up and ipsec-down steps). */
  runsHere: boolean;
  /** With runsHere: its addresses. */
  addresses: AddressFacts[];
  /** With runsHere: the Child SAs IKE holds for the package. */
  ikeChildSas: ChildSaFacts[];
  /** With runsHere: the datapath's Child SAs on the package's addresses (rekeyed ones that linger excluded). */
  datapathChildSas: ChildSaFacts[];
  /** With runsHere: peers the contact gave up on (reported, not failing). */
  gaveUp: { peer: string; address: string; error: string }[];
}

export interface IpsecHealthReason {
  code: IpsecHealthCode;
  package: string;
  message: string;
  fix: string;
}

export interface IpsecHealthVerdict {
  package: string;
  node: string;
  usable: boolean;
  runsHere: boolean;
  /** Where it runs: the Child SAs IKE holds for it. */
  childSas?: number;
  reasons: IpsecHealthReason[];
  /** What is worth knowing but is not this node's fault (peers given up on). */
  notes: string[];
}

/** The verdict on one snapshot, at `now` (certificate dates are judged against it). */
export function judgeIpsecHealth(snapshot: IpsecHealthSnapshot, now: number): IpsecHealthVerdict {
  const reasons: IpsecHealthReason[] = [];
  const reason = (code: IpsecHealthCode, message: string, fix: string): void => {
    reasons.push({
      code,
      package: snapshot.package,
      message: `${snapshot.package} on ${snapshot.node}: ${message}`,
      fix,
    });
  };
  datapathReasons(snapshot, reason);
  credentialReasons(snapshot, now, reason);
  if (snapshot.runsHere) {
    listeningReasons(snapshot, reason);
    stuckReasons(snapshot, reason);
  }
  return {
    package: snapshot.package,
    node: snapshot.node,
    usable: reasons.length === 0,
    runsHere: snapshot.runsHere,
    ...(snapshot.runsHere ? { childSas: snapshot.ikeChildSas.length } : {}),
    reasons,
    notes: snapshot.gaveUp.map(
      (p) =>
        `${snapshot.package}: peer ${p.peer} (${p.address}) given up on by the contact (${p.error}); not this node's fault, it comes back by its own liveness checks`,
    ),
  };
}

/** The verdict when the daemon did not answer in time: its event loop is stuck (design §10). */
export function stalledVerdict(pkg: string, node: string, waitedMs: number): IpsecHealthVerdict {
  return {
    package: pkg,
    node,
    usable: false,
    runsHere: false,
    reasons: [
      {
        code: "IPSEC_HOST_STALLED",
        package: pkg,
        message: `${pkg}: the daemon did not answer the health check within ${waitedMs} ms (its event loop, which also carries IKE and ESP, is stuck or overloaded)`,
        fix: "look at the daemon's log and CPU use; restart the daemon if it stays stuck",
      },
    ],
    notes: [],
  };
}

/** `code: message — fix`, one line per reason (what a service's log and a terminal show). */
export function describeReason(reason: IpsecHealthReason): string {
  return `${reason.code}: ${reason.message} — ${reason.fix}`;
}

type Report = (code: IpsecHealthCode, message: string, fix: string) => void;

function datapathReasons(s: IpsecHealthSnapshot, reason: Report): void {
  if (!s.hostOpen) {
    reason(
      "IPSEC_DATAPATH_DOWN",
      `the daemon's IPsec host is not open${s.hostProblem ? ` (${s.hostProblem})` : ""}`,
      "fix what the daemon logged at start (TUN addon, ip rules) and restart the daemon",
    );
    return;
  }
  const d = s.datapath;
  if (!d || d.kind === "record") return;
  if (!d.device) {
    reason(
      "IPSEC_DATAPATH_DOWN",
      `TUN device ${d.tunName} is gone`,
      `restart the daemon on ${s.node} to create it again; the package runs elsewhere meanwhile`,
    );
  } else if (!d.device.up || d.device.operstate === "down") {
    reason(
      "IPSEC_DATAPATH_DOWN",
      `TUN device ${d.tunName} is down (operstate ${d.device.operstate})`,
      `ip link set ${d.tunName} up, or restart the daemon on ${s.node}`,
    );
  }
  if (d.readerError !== undefined) {
    reason(
      "IPSEC_DATAPATH_DOWN",
      `the datapath no longer reads ${d.tunName} (${d.readerError})`,
      `restart the daemon on ${s.node}; the package runs elsewhere meanwhile`,
    );
  }
  if (d.missingRules.length > 0) {
    reason(
      "IPSEC_DATAPATH_DOWN",
      `policy routing rules missing: ${d.missingRules.join("; ")}`,
      `restart the daemon on ${s.node} to add them again (something removed them: check ip rule flush in scripts)`,
    );
  }
}

function credentialReasons(s: IpsecHealthSnapshot, now: number, reason: Report): void {
  for (const c of s.credentials) {
    if (c.problem !== undefined) {
      reason(
        "IPSEC_CREDENTIALS",
        `${c.key} ${c.file}: ${c.problem}`,
        `put a valid file at ${c.file} on ${s.node} (root, 0600), the same as on the package's other nodes`,
      );
      continue;
    }
    const cert = c.certificate;
    if (!cert) continue;
    if (cert.notAfter <= now) {
      reason(
        "IPSEC_CREDENTIALS",
        `${c.key} ${c.file}: certificate ${cert.subject} expired at ${new Date(cert.notAfter).toISOString()}`,
        `install a renewed certificate at ${c.file} on every node of the package`,
      );
    } else if (cert.notAfter - now < CERT_EXPIRY_WARNING_MS) {
      reason(
        "IPSEC_CREDENTIALS",
        `${c.key} ${c.file}: certificate ${cert.subject} expires at ${new Date(cert.notAfter).toISOString()}, within ${Math.round(CERT_EXPIRY_WARNING_MS / 60_000)} min`,
        `install a renewed certificate at ${c.file} on every node of the package now`,
      );
    }
  }
}

function listeningReasons(s: IpsecHealthSnapshot, reason: Report): void {
  for (const a of s.addresses) {
    if (!a.onNode) {
      reason(
        "IPSEC_NOT_LISTENING",
        `package address ${a.address} is not on this node, though the package's IPsec runs here`,
        "the package's address was removed behind Pavise's back: let the package fail over (pavise pkg move) and find who removed it",
      );
    } else if (!a.listening) {
      reason(
        "IPSEC_NOT_LISTENING",
        `no IKE socket bound on ${a.address} (UDP 500/4500)`,
        "halt and run the package again (pavise pkg move), or restart the daemon",
      );
    }
  }
}

function stuckReasons(s: IpsecHealthSnapshot, reason: Report): void {
  const inDatapath = new Set(s.datapathChildSas.map((c) => c.spiIn));
  const inIke = new Set(s.ikeChildSas.map((c) => c.spiIn));
  const hex = (spi: number): string => spi.toString(16).padStart(8, "0");
  for (const c of s.ikeChildSas.filter((c) => !inDatapath.has(c.spiIn))) {
    reason(
      "IPSEC_STUCK",
      `Child SA ${c.name} with ${c.remoteAddress} (SPI in ${hex(c.spiIn)}, out ${hex(c.spiOut)}) is up in IKE but not in the datapath: its traffic is dropped`,
      "the package should move (its peers renegotiate with the adoptive node); report this as a bug with the daemon's log",
    );
  }
  for (const c of s.datapathChildSas.filter((c) => !inIke.has(c.spiIn))) {
    reason(
      "IPSEC_STUCK",
      `Child SA ${c.name} with ${c.remoteAddress} (SPI in ${hex(c.spiIn)}, out ${hex(c.spiOut)}) is in the datapath but IKE no longer has it: it can never be rekeyed or deleted`,
      "the package should move (its peers renegotiate with the adoptive node); report this as a bug with the daemon's log",
    );
  }
}
