import { clusterStateFrom, readSnapshot } from "../../cluster/agent/cluster-state.js";
import type { ActionPlan } from "../../cluster/operator/action-plan.js";
import type { Actor } from "../../cluster/operator/actor.js";
import { planNodeAction } from "../../cluster/operator/node-action.js";
import { planPackageAction, type PackageRequest } from "../../cluster/operator/package-action.js";
import { performAction } from "../../cluster/operator/perform-action.js";
import { planResourceAction } from "../../cluster/operator/resource-action.js";
import type { OperatorCluster } from "../../cluster/operator/wait-goal.js";
import type { ClusterState } from "../../cluster/state.js";
import type { ClusterEvent } from "../../cluster/membership/layout.js";
import type { ApiHandler, ApiReply, ApiRequest } from "../http/api-handler.js";
import {
  checkMaintenanceBody,
  checkNodeActionBody,
  checkPackageActionBody,
  checkResourceBody,
  type PackageActionKind,
  type WaitOptions,
} from "../http/body-checks.js";
import type { Route } from "../http/router.js";
import { apiError } from "../http/api-errors.js";
import { EtcdError } from "../../cluster/etcd/errors.js";

/**
 * The operator's actions over the API (design §5): the same plan and the same driver as
 * `pavise pkg|node|resource` (cluster/operator/*-action.ts, perform-action.ts), planned against
 * the configuration in force and the cluster state read from etcd at that moment, run with the
 * caller as the Actor (user, source, via api, how they authenticated, the serving node), so the
 * event log and the intent's `by` say who did it. 200 with the OperatorResult once waited (`ok`
 * false with the reason when the goal was not reached), 202 with `wait: false`; a refusal
 * (nothing written) is 409 OPERATOR_REFUSED, an unknown name 404 NO_SUCH_* with a did-you-mean.
 * The server has checked the role (package actions for `{pkg}`) before any of this runs.
 */
export interface ActionRouteDeps {
  /** The configuration in force (it follows `pavise config apply`) and this node's etcd. */
  cluster: () => OperatorCluster;
  log: (event: string, message: string) => void;
  /** The action's event as written to etcd: the daemon logs it and runs its hooks. */
  recorded?: ((event: ClusterEvent) => void) | undefined;
}

/**
 * etcd could not be asked (design §5: 503): nothing was written when it was unreachable or had
 * no leader; a write without an answer may have been applied, so the client reads before trying
 * again. Anything else goes on to the server (500 with an id, or the error's own API code).
 */
export function etcdFailure(err: unknown): ApiReply {
  if (!(err instanceof EtcdError)) throw err;
  const where = err.endpoint !== undefined ? ` (${err.endpoint})` : "";
  switch (err.code) {
    case "ETCD_NO_LEADER":
      return apiError("ETCD_NO_LEADER", `etcd has no leader${where}: nothing was changed`, {
        hint: "the cluster's etcd has lost its quorum; try again once it has a leader",
      });
    case "ETCD_UNREACHABLE":
      return apiError(
        "CLUSTER_ETCD_UNREACHABLE",
        `this node cannot reach etcd${where}: nothing was changed`,
        {
          hint: "try another node's API, or again shortly",
        },
      );
    case "ETCD_OUTCOME_UNKNOWN":
      return apiError(
        "CLUSTER_ETCD_UNREACHABLE",
        `etcd did not answer a write${where}: it may or may not be done`,
        {
          hint: "read the package's state (GET /v1/packages/{pkg}) before trying again",
        },
      );
    default:
      throw err;
  }
}

const PACKAGE_KINDS: readonly PackageActionKind[] = ["run", "halt", "move", "enable", "disable"];

export function actionRoutes(deps: ActionRouteDeps): Route<ApiHandler>[] {
  const act = (
    request: ApiRequest,
    wait: WaitOptions,
    plan: (cluster: OperatorCluster, state: ClusterState) => ActionPlan,
  ): Promise<ApiReply> => acted(request, wait, plan).catch(etcdFailure);

  const acted = async (
    request: ApiRequest,
    wait: WaitOptions,
    plan: (cluster: OperatorCluster, state: ClusterState) => ActionPlan,
  ): Promise<ApiReply> => {
    const cluster = deps.cluster();
    const state = clusterStateFrom(cluster.config, await readSnapshot(cluster.client, cluster.keys));
    const planned = plan(cluster, state);
    const principal = request.principal;
    const actor: Actor = {
      user: principal.user,
      // No source address: the request came in on the node's own API socket (from the node
      // itself, or through `pavise lab console`'s relay): the user acted from that node.
      host: principal.host ?? request.servedBy,
      via: "api",
      auth: principal.auth,
      servedBy: request.servedBy,
    };
    const result = await performAction(cluster, actor, planned, { ...wait, onRecorded: deps.recorded });
    deps.log(
      "api-action",
      `${request.requestId}: ${principal.user} (${principal.auth}, from ${actor.host}): ${planned.command}` +
        (result.waited
          ? result.ok
            ? `: ${result.state}`
            : `: not done: ${result.reason}`
          : ": not waiting"),
    );
    return { status: wait.wait ? 200 : 202, body: result };
  };

  const packageAction =
    (kind: PackageActionKind): ApiHandler =>
    async (request) => {
      const body = checkPackageActionBody(kind, request.body);
      if (!body.ok) return body.failure;
      const pkg = request.params.pkg!;
      const node = body.value.node;
      const asked: PackageRequest = kind === "halt" ? { kind, package: pkg } : { kind, package: pkg, node };
      return act(request, body.value, (c, state) => planPackageAction(c.config, state, asked));
    };

  const maintenance: ApiHandler = async (request) => {
    const body = checkMaintenanceBody(request.body);
    if (!body.ok) return body.failure;
    const asked: PackageRequest = { kind: "maintenance", package: request.params.pkg!, on: body.value.on };
    return act(request, body.value, (c, state) => planPackageAction(c.config, state, asked));
  };

  const resource: ApiHandler = async (request) => {
    const body = checkResourceBody(request.body);
    if (!body.ok) return body.failure;
    const { status, node } = body.value;
    return act(request, { wait: true, timeoutMs: 60_000 }, (c) =>
      planResourceAction(c.config, {
        package: request.params.pkg!,
        resource: request.params.name!,
        status,
        node,
      }),
    );
  };

  const nodeAction =
    (kind: "halt" | "run"): ApiHandler =>
    async (request) => {
      const body = checkNodeActionBody(request.body);
      if (!body.ok) return body.failure;
      const force = body.value.force;
      return act(request, body.value, (c, state) =>
        planNodeAction(c.config, state, { kind, node: request.params.node!, force }),
      );
    };

  return [
    ...PACKAGE_KINDS.map((kind): Route<ApiHandler> => ({
      method: "POST",
      pattern: `/v1/packages/{pkg}/${kind}`,
      role: "package-operate",
      handler: packageAction(kind),
    })),
    {
      method: "POST",
      pattern: "/v1/packages/{pkg}/maintenance",
      role: "package-operate",
      handler: maintenance,
    },
    {
      method: "POST",
      pattern: "/v1/packages/{pkg}/resources/{name}",
      role: "package-resource",
      handler: resource,
    },
    { method: "POST", pattern: "/v1/nodes/{node}/halt", role: "node-operate", handler: nodeAction("halt") },
    { method: "POST", pattern: "/v1/nodes/{node}/run", role: "node-operate", handler: nodeAction("run") },
  ];
}
