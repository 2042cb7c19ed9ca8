/**
 * What the cluster remembers about an IPsec peer of a package (docs/ipsec-packages-design.md §7),
 * the value of <prefix>ipsec/peers/<package>/<h> (layout.ts). The adoptive node reads these
 * records when it takes the package over and initiates to each peer with INITIAL_CONTACT
 * (RFC 7296 §2.4, §3.10.1), so a client that has no liveness checks drops its stale SAs at once.
 *
 * Parsing never throws: a record another version wrote, or a half-written value, is reported
 * with its key and skipped, never allowed to stop a takeover.
 */

/** How contacting the peer went on the node that owns the package now (design §8). */
export interface PeerContact {
  state: "ok" | "retrying" | "gave-up";
  attempts: number;
  lastError?: string;
}

export interface PeerChild {
  name: string;
  localTs: string[];
  remoteTs: string[];
}

export interface PeerRecord {
  /** The peer's IKE identity as the IKE layer prints it (RFC 7296 §3.5). */
  id: string;
  /** The package connection it matched (swanctl vocabulary). */
  connection: string;
  /** The peer's address and UDP port its IKE messages came from (500, or 4500 after NAT-T floating, RFC 3948). */
  address: string;
  port: number;
  /**
   * The peer's NAT detection showed a real NAT between us (RFC 7296 §2.23). Such a peer is not
   * initiated to: its NAT mapping pointed at the old node's traffic (design §7).
   */
  natted: boolean;
  children: PeerChild[];
  /** The node that owned the package when it recorded the peer. */
  node: string;
  /** When the peer was first recorded, and when its SA was last set up (ms since the epoch, the writer's clock). */
  since: number;
  seen: number;
  contact?: PeerContact;
}

export type ParsedPeer = { ok: true; record: PeerRecord } | { ok: false; problem: string };

export function formatPeerRecord(record: PeerRecord): string {
  return JSON.stringify(record);
}

const isText = (v: unknown): v is string => typeof v === "string";
const isTime = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isPort = (v: unknown): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535;
const isTextList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isText);

function parseChildren(v: unknown): PeerChild[] | undefined {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return undefined;
  const children: PeerChild[] = [];
  for (const c of v as unknown[]) {
    if (typeof c !== "object" || c === null) return undefined;
    const { name, localTs, remoteTs } = c as Record<string, unknown>;
    if (!isText(name) || !isTextList(localTs) || !isTextList(remoteTs)) return undefined;
    children.push({ name, localTs, remoteTs });
  }
  return children;
}

function parseContact(v: unknown): PeerContact | undefined | false {
  if (v === undefined) return undefined;
  if (typeof v !== "object" || v === null) return false;
  const { state, attempts, lastError } = v as Record<string, unknown>;
  if (state !== "ok" && state !== "retrying" && state !== "gave-up") return false;
  if (typeof attempts !== "number" || !Number.isInteger(attempts) || attempts < 0) return false;
  if (lastError !== undefined && !isText(lastError)) return false;
  return lastError === undefined ? { state, attempts } : { state, attempts, lastError };
}

/** Reads a record; `where` (the key) goes into the problem so an operator can find it. */
export function parsePeerRecord(text: string, where: string): ParsedPeer {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return {
      ok: false,
      problem: `${where}: not JSON (${JSON.stringify(text.slice(0, 40))}); delete the key, the owner records the peer again at its next IKE SA`,
    };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, problem: `${where}: not a JSON object` };
  }
  const r = raw as Record<string, unknown>;
  const bad = (field: string): ParsedPeer => ({
    ok: false,
    problem: `${where}: field ${field} is ${JSON.stringify(r[field]) ?? "missing"}`,
  });
  if (!isText(r.id) || r.id.length === 0) return bad("id");
  if (!isText(r.connection)) return bad("connection");
  if (!isText(r.address) || r.address.length === 0) return bad("address");
  if (!isPort(r.port)) return bad("port");
  if (typeof r.natted !== "boolean") return bad("natted");
  const children = parseChildren(r.children);
  if (!children) return bad("children");
  if (!isText(r.node)) return bad("node");
  if (!isTime(r.since)) return bad("since");
  if (!isTime(r.seen)) return bad("seen");
  const contact = parseContact(r.contact);
  if (contact === false) return bad("contact");
  const record: PeerRecord = {
    id: r.id,
    connection: r.connection,
    address: r.address,
    port: r.port,
    natted: r.natted,
    children,
    node: r.node,
    since: r.since,
    seen: r.seen,
  };
  if (contact) record.contact = contact;
  return { ok: true, record };
}
