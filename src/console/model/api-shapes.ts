/**
 * The route answers the console reads besides StatusView and EventView (design §5), as the
 * console expects them. Types only, importing only view-types.ts, so the browser build reaches
 * no Node code. Fields marked optional are ones the console can do without: it shows less
 * rather than failing when a server leaves them out.
 */

import type { ApiRoleName } from "./roles.js";
import type { EventView, NodeView, PackageView, StatusView } from "../../api/schema/view-types.js";

/** GET /v1/session: who is signed in (access-policy.ts `summarise`). */
export interface SessionInfo {
  user: string;
  role: ApiRoleName | undefined;
  /** The packages the user may act on: every package, or these. */
  packages: string[] | "all";
  auth?: string;
}

/** GET /v1/cluster: StatusView.cluster + etcd + where each node's API answers. */
export interface ClusterInfo {
  cluster?: StatusView["cluster"];
  apiNodes: { node: string; url: string }[];
}

/** One NIC of a node on one subnet (GET /v1/nodes: NodeDetail.nics, api/view/node-detail.ts). */
export interface NicView {
  subnet: string;
  nic: string;
  role: "primary" | "standby";
  /** Link state as far as the node's reports tell; "unknown" (or absent) when they do not. */
  link?: "up" | "down" | "unknown" | undefined;
  /** The subnet's addresses are on this NIC now. */
  carrying?: boolean;
}

/** GET /v1/nodes item: NodeView + NICs (+ resources and the API URL, unused here). */
export interface NodeDetail extends NodeView {
  nics?: NicView[];
  /** The node's own addresses, when sent: matches it to its etcd member's endpoint. */
  addresses?: string[];
  /** Where the node's API answers (api/view/node-detail.ts); its host names the node too. */
  apiUrl?: string | undefined;
}

/** One service of a package on one node (GET /v1/packages/{p}: PackageDetail.services). */
export interface ServiceInstance {
  name: string;
  /** Undefined while the package runs nowhere. */
  node: string | undefined;
  /** Undefined when the owner's report does not say. */
  restarts: number | undefined;
  state: string;
}

/** One node of a package's node_name list, with whether the package could run there now. */
export interface NodeChoice {
  node: string;
  eligible: boolean;
  /** Why not (the scheduler's reason). */
  why?: string;
}

/** GET /v1/packages/{p}: PackageView + services per node + generic resources per node. */
export interface PackageDetail extends Omit<PackageView, "services"> {
  services: ServiceInstance[] | string[];
  resources?: Record<string, Record<string, "up" | "down" | { status: "up" | "down"; setBy?: string }>>;
  /** Its node_name list in order of preference, each eligible now or not (the Move dialog's choices). */
  nodeChoices?: NodeChoice[];
}

/** An IKE SA as `pavise ipsec sas --json` shows it (src/ipsec/sa-status.ts IkeSaStatus, restated: that file reaches Node code). */
export interface IkeSaView {
  connection: string;
  state: string;
  initiator: boolean;
  local: string;
  remote: string;
  localId: string;
  remoteId: string;
  algorithms: string;
  ageSeconds: number;
  children: ChildSaView[];
}

export interface ChildSaView {
  name: string;
  spiIn: string;
  spiOut: string;
  mode: string;
  algorithms: string;
  localTs: string[];
  remoteTs: string[];
  counters?: {
    bytesIn: number;
    packetsIn: number;
    bytesOut: number;
    packetsOut: number;
    /** Drop counters: absent where the datapath does not count them (a kernel). */
    replayDrops?: number;
    integrityFailures?: number;
    policyDrops?: number;
    expiredDrops?: number;
  };
}

/** GET /v1/packages/{p}/ipsec: the registry's peers plus the owner's live SAs. */
export interface PackageIpsecDetail {
  identity?: string;
  peers?: NonNullable<PackageView["ipsec"]>["peers"];
  sas?: IkeSaView[];
  from?: string;
}

/** GET /v1/packages/{p}/log. */
export interface PackageLog {
  node: string;
  file: string;
  lines: string[];
}

/** GET /v1/events. */
export interface EventsReply {
  revision: number;
  events: EventView[];
}

/**
 * The SSE `snapshot` event's data (design §7; api/stream/stream-messages.ts): the view and the
 * recent events, oldest first. `view` is accepted too, as design §7's first sketch named it.
 */
export interface StreamSnapshot {
  status?: StatusView;
  view?: StatusView;
  events: EventView[];
}

/** POST action answers: the CLI's --json OperatorResult (202 with wait: false). */
export interface OperatorResult {
  command: string;
  serviceguard?: string;
  by?: string;
  ok: boolean;
  waited?: boolean;
  reason?: string;
}

/** Every API error body (api-errors.ts). */
export interface ApiErrorBody {
  error: { code: string; message: string; hint?: string };
}
