import { API_ERROR_CODES } from "../http/api-errors.js";
import { DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from "../http/body-checks.js";

/**
 * JSON Schema 2020-12 of every body the API takes or gives (design §5): the views of
 * schema/view-types.ts, the detail views, the action bodies of http/body-checks.ts, the operator
 * result, the session, health and the error body. Pure data. The OpenAPI document
 * (openapi-document.ts) puts them under `components.schemas`; each `$ref` points there.
 *
 * A field typed `T | undefined` in TypeScript is left out of JSON when undefined, so it is not
 * `required` here. Closed objects (`additionalProperties: false`) are the shapes this code
 * fixes; the detail views and the event are open, because they may still grow.
 */
export type JsonSchema = Record<string, unknown>;

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string): JsonSchema => ({
  type: "string",
  ...(description ? { description } : {}),
});
const int = (description?: string): JsonSchema => ({
  type: "integer",
  ...(description ? { description } : {}),
});
const bool = (description?: string): JsonSchema => ({
  type: "boolean",
  ...(description ? { description } : {}),
});
const arrayOf = (items: JsonSchema): JsonSchema => ({ type: "array", items });
const oneOfStrings = (values: readonly string[], description?: string): JsonSchema => ({
  type: "string",
  enum: [...values],
  ...(description ? { description } : {}),
});

function object(
  properties: Record<string, JsonSchema>,
  required: readonly string[],
  options: { open?: boolean; description?: string } = {},
): JsonSchema {
  return {
    type: "object",
    ...(options.description ? { description: options.description } : {}),
    properties,
    required: [...required],
    additionalProperties: options.open === true,
  };
}

/** A node, package or resource name (config/names.ts NAME_RULE). */
const NAME_PATTERN = "^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,37}[A-Za-z0-9])?$";
const name = (description?: string): JsonSchema => ({ ...str(description), pattern: NAME_PATTERN });
const epochMs = (description: string): JsonSchema => ({ ...int(description), minimum: 0 });

const WAIT_PROPERTIES: Record<string, JsonSchema> = {
  wait: {
    ...bool("Wait for the goal (200) or answer once the intent is written (202)."),
    default: true,
  },
  timeoutMs: {
    ...int("How long to wait for the goal, in ms (the CLI's --timeout)."),
    minimum: 1,
    maximum: MAX_TIMEOUT_MS,
    default: DEFAULT_TIMEOUT_MS,
  },
};

const NODE_VIEW_PROPERTIES: Record<string, JsonSchema> = {
  name: name(),
  status: ref("NodeStatus"),
  since: epochMs("When it joined or last changed (ms since the epoch)."),
  subnetsUp: arrayOf(str()),
  haltedByOperator: bool("Halted by an operator (pavise node halt)."),
  haltedBy: str("Who halted it, when known."),
};
const NODE_VIEW_REQUIRED = ["name", "status", "subnetsUp", "haltedByOperator"];

const PACKAGE_VIEW_PROPERTIES: Record<string, JsonSchema> = {
  name: name(),
  type: oneOfStrings(["failover", "multi_node"], "package_type"),
  status: ref("PackageStatus"),
  state: oneOfStrings(["running", "halted"], "cmviewcl STATE: running while a node holds its ownership key."),
  nodes: arrayOf(name()),
  switching: bool("auto_run / package switching."),
  disabledNodes: arrayOf(name()),
  haltedByOperator: bool(),
  maintenance: bool(),
  requestedNode: name("The node an operator asked for."),
  changedBy: str("Who changed the operator flags last."),
  placedOn: arrayOf(name()),
  shouldRun: bool(),
  since: epochMs("When its status last changed (ms since the epoch)."),
  addresses: arrayOf(ref("AddressView")),
  services: arrayOf(str()),
  failedOn: arrayOf(object({ node: name(), reason: str() }, ["node"])),
  dependencies: arrayOf(
    object({ name: str(), package: name(), condition: str(), location: str(), met: bool() }, [
      "name",
      "package",
      "condition",
      "location",
      "met",
    ]),
  ),
  ipsec: ref("PackageIpsecView"),
};
const PACKAGE_VIEW_REQUIRED = [
  "name",
  "type",
  "status",
  "state",
  "nodes",
  "switching",
  "disabledNodes",
  "haltedByOperator",
  "maintenance",
  "shouldRun",
  "addresses",
  "services",
  "failedOn",
  "dependencies",
];

const upDown = oneOfStrings(["up", "down"]);

const PACKAGE_IPSEC_PROPERTIES: Record<string, JsonSchema> = {
  identity: str(),
  peers: arrayOf(
    object(
      {
        id: str(),
        address: str(),
        connection: str(),
        recordedBy: name(),
        contact: object(
          { state: oneOfStrings(["ok", "retrying", "gave-up"]), attempts: int(), lastError: str() },
          ["state", "attempts"],
        ),
      },
      ["id", "address", "connection", "recordedBy"],
    ),
  ),
};

export const API_SCHEMAS: Readonly<Record<string, JsonSchema>> = {
  // ---- errors (http/api-errors.ts)
  ErrorCode: oneOfStrings(
    API_ERROR_CODES,
    "Every code the API answers with (one table: http/api-errors.ts).",
  ),
  ErrorBody: object(
    {
      error: object(
        {
          code: ref("ErrorCode"),
          message: str("What went wrong, for people."),
          hint: str("What to do about it."),
          where: object(
            { file: str(), key: str("A JSON pointer (RFC 6901) into the body, for a bad field."), value: {} },
            [],
          ),
        },
        ["code", "message"],
      ),
    },
    ["error"],
    { description: "Every error: PaviseError.toJSON(), never a stack trace." },
  ),

  // ---- the status view (schema/view-types.ts)
  NodeStatus: oneOfStrings(["up", "halted", "failed"]),
  PackageStatus: oneOfStrings(["up", "down", "starting", "halting", "failing", "failed"]),
  EtcdMemberAnswer: object(
    { endpoint: str(), reachable: bool(), memberId: str(), leader: str(), error: str() },
    ["endpoint", "reachable"],
  ),
  EtcdView: object(
    {
      endpoints: arrayOf(ref("EtcdMemberAnswer")),
      reachable: int(),
      members: int(),
      quorum: bool(),
      leaderEndpoint: str(),
    },
    ["endpoints", "reachable", "members", "quorum"],
  ),
  NodeView: object(NODE_VIEW_PROPERTIES, NODE_VIEW_REQUIRED),
  AddressView: object(
    {
      address: str(),
      subnet: name(),
      node: name("The node that holds it, absent while the package runs nowhere."),
      nic: str(),
      nicFrom: oneOfStrings(["reported", "configured"]),
    },
    ["address", "subnet"],
  ),
  PackageIpsecView: object(PACKAGE_IPSEC_PROPERTIES, ["identity", "peers"]),
  PackageView: object(PACKAGE_VIEW_PROPERTIES, PACKAGE_VIEW_REQUIRED),
  ClusterSummary: object(
    {
      name: str(),
      status: upDown,
      leader: name("The node holding the leader key, absent while none does."),
      revision: int("The etcd revision the view was read at."),
    },
    ["name", "status", "revision"],
  ),
  StatusView: object(
    {
      cluster: ref("ClusterSummary"),
      etcd: ref("EtcdView"),
      nodes: arrayOf(ref("NodeView")),
      packages: arrayOf(ref("PackageView")),
      healthy: bool("Every package that should run runs (pavise status exits 0)."),
      servedBy: name("GET /v1/status: the node whose daemon answered."),
      revision: int("GET /v1/status: the etcd revision of the view."),
    },
    ["cluster", "etcd", "nodes", "packages", "healthy"],
    { description: "`pavise status --json`, the cluster as cmviewcl shows it." },
  ),
  EventView: object(
    {
      time: epochMs("The writer's wall clock (ms since the epoch)."),
      node: str(),
      kind: str(),
      message: str(),
      revision: int("The etcd revision it was written at: orders the log, and the SSE id."),
      package: str(),
    },
    ["time", "node", "kind", "message", "revision"],
    { open: true, description: "One entry of the cluster's event log; each kind adds its own fields." },
  ),

  // ---- reads (design §5)
  ClusterView: object(
    {
      cluster: ref("ClusterSummary"),
      etcd: ref("EtcdView"),
      apiNodes: arrayOf(object({ node: name(), url: str() }, ["node", "url"])),
    },
    ["cluster", "etcd", "apiNodes"],
    { open: true },
  ),
  NodeDetail: object(
    {
      ...NODE_VIEW_PROPERTIES,
      leader: bool("This node holds the leader key."),
      nics: arrayOf(
        object(
          {
            subnet: name(),
            nic: str(),
            role: oneOfStrings(["primary", "standby"]),
            link: oneOfStrings(["up", "down", "unknown"]),
            carrying: bool("The subnet's addresses are on this NIC now."),
          },
          ["subnet", "nic", "role", "link", "carrying"],
          { open: true },
        ),
      ),
      resources: {
        type: "object",
        description: "Generic resources on this node: name → status (and who set it).",
        additionalProperties: ref("ResourceStatus"),
      },
      packages: arrayOf(name()),
      apiUrl: str("This node's API, for node-to-node forwarding."),
    },
    [...NODE_VIEW_REQUIRED, "leader", "nics", "resources", "packages"],
    { open: true, description: "NodeView + its NICs + its resources + its packages + its API URL." },
  ),
  ResourceStatus: object(
    { status: upDown, setBy: str("The operator who set it (cmsetresource); absent: its monitor's.") },
    ["status"],
  ),
  NodeList: arrayOf(ref("NodeDetail")),
  PackageDetail: object(
    {
      ...PACKAGE_VIEW_PROPERTIES,
      services: arrayOf(
        object(
          {
            name: str(),
            node: name("Where it runs; absent while the package runs nowhere."),
            restarts: { ...int(), minimum: 0, description: "Absent when the report does not say." },
            state: str(),
          },
          ["name", "state"],
          { open: true },
        ),
      ),
      resources: {
        type: "object",
        description: "node → resource → status on that node.",
        additionalProperties: { type: "object", additionalProperties: ref("ResourceStatus") },
      },
      nodeChoices: arrayOf(
        object({ node: name(), eligible: bool(), why: str("Why not now (the scheduler's reason).") }, [
          "node",
          "eligible",
        ]),
      ),
    },
    PACKAGE_VIEW_REQUIRED.concat("resources", "nodeChoices"),
    {
      open: true,
      description:
        "PackageView with per-node services and restarts, resources per node, and where it could run now.",
    },
  ),
  PackageList: arrayOf(ref("PackageDetail")),
  PackageIpsecDetail: object(
    {
      ...PACKAGE_IPSEC_PROPERTIES,
      sas: arrayOf({ type: "object", description: "IkeSaStatus (ipsec/sa-status.ts), from the owner." }),
      from: name("The node that answered for the SAs (the owner)."),
    },
    ["identity", "peers", "sas"],
    { open: true, description: "PackageIpsecView + the owner's SAs (forwarded to the owner)." },
  ),
  OwnerSas: object(
    {
      node: name("The node that answered (this node)."),
      sas: arrayOf({ type: "object", description: "IkeSaStatus (ipsec/sa-status.ts)." }),
    },
    ["node", "sas"],
    { open: true, description: "One node's own SAs of a package (the node-to-node path)." },
  ),
  PackageLog: object({ node: name(), file: str(), lines: { ...arrayOf(str()), maxItems: 2000 } }, [
    "node",
    "file",
    "lines",
  ]),
  EventList: object(
    {
      revision: int(),
      complete: bool(
        "False when etcd no longer holds every event after `since` (compacted): some are missing.",
      ),
      events: arrayOf(ref("EventView")),
    },
    ["revision", "complete", "events"],
  ),
  Health: object(
    {
      node: name(),
      member: bool("Holds its lease (200); else 503."),
      fenced: bool(),
      leader: bool(),
      api: { const: "ok" },
    },
    ["node", "member", "fenced", "leader", "api"],
  ),
  Session: object(
    {
      user: str(),
      role: oneOfStrings(["monitor", "package_admin", "full_admin"]),
      packages: { anyOf: [{ const: "all" }, arrayOf(name())] },
      auth: oneOfStrings(["certificate", "token", "password", "node", "control", "anonymous"]),
    },
    ["user", "packages", "auth"],
  ),
  OpenApiDocument: {
    type: "object",
    required: ["openapi", "info", "paths"],
    properties: { openapi: { const: "3.1.0" }, info: { type: "object" }, paths: { type: "object" } },
  },

  // ---- the live stream (stream/stream-messages.ts)
  StreamSnapshot: object(
    { status: ref("StatusView"), events: arrayOf(ref("EventView")) },
    ["status", "events"],
    {
      description: "SSE `event: snapshot`; then `status` (a StatusView) and `event` (an EventView).",
    },
  ),
  StreamReset: object(
    { reason: oneOfStrings(["compacted", "unavailable"]), lastEventId: str() },
    ["reason", "lastEventId"],
    { description: "SSE `event: reset`: replace everything with the snapshot that follows." },
  ),

  // ---- actions (http/body-checks.ts; cluster/operator/perform-action.ts)
  LoginBody: object(
    {
      user: { ...str(), minLength: 1, maxLength: 64 },
      password: { ...str(), minLength: 1, maxLength: 1024 },
    },
    ["user", "password"],
  ),
  PackageActionBody: object(
    { node: name("The node to run on or move to (cmrunpkg -n)."), ...WAIT_PROPERTIES },
    [],
    { description: "run, move, enable, disable: an empty body is {}." },
  ),
  PackageHaltBody: object(WAIT_PROPERTIES, [], { description: "cmhaltpkg halts wherever it runs: no node." }),
  MaintenanceBody: object({ on: bool("cmmodpkg -m on|off."), ...WAIT_PROPERTIES }, ["on"]),
  ResourceBody: object({ status: upDown, node: name("A generic resource is set on one node.") }, [
    "status",
    "node",
  ]),
  NodeActionBody: object(
    {
      force: { ...bool("Halt even if packages are left nowhere to run (cmhaltnode -f)."), default: false },
      ...WAIT_PROPERTIES,
    },
    [],
  ),
  OperatorResult: object(
    {
      command: str(),
      serviceguard: str("The Serviceguard command it corresponds to."),
      by: str("user@host"),
      intent: { description: "The intent key's value as written." },
      ok: bool("Done (or recorded, without waiting); false with a reason when the goal was not reached."),
      waited: bool(),
      ms: int(),
      state: str('Where things stood last ("web: up on n2").'),
      reason: str(),
    },
    ["command", "serviceguard", "by", "ok", "waited"],
    { description: "The CLI's --json result." },
  ),
};
