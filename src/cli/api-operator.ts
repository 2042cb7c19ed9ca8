/**
 * An operator command over the API (`pavise pkg|node|resource … --api URL`): the same request
 * the command would plan against etcd, sent to the node's action route (design §5), which
 * plans it against the configuration in force, checks the user's role, writes the intent and
 * the event (via api, with the user's name) and waits. Its answer is the CLI's own
 * OperatorResult, printed exactly as the etcd path prints it (operator-action.ts); its errors
 * are the CLI's errors, with the same exit status: an unknown name (NO_SUCH_*) is a usage error
 * (2) as at the CLI, a refusal (OPERATOR_REFUSED, API_FORBIDDEN) is 1.
 */

import type { OperatorResult } from "../cluster/operator/perform-action.js";
import { PaviseError } from "../util/errors.js";
import { badAnswer } from "./api-answer.js";
import { type ApiCall, API_READ_TIMEOUT_MS, apiRequest } from "./api-client.js";
import { type ApiTarget, apiUrlText } from "./api-target.js";
import { makeOutput } from "./output.js";
import { type OperatorOptions, reportOperatorResult } from "./operator-action.js";
import { usageError } from "./usage.js";

export type ApiAction =
  | {
      kind: "package";
      action: "run" | "move" | "enable" | "disable";
      package: string;
      node: string | undefined;
    }
  | { kind: "package"; action: "halt"; package: string }
  | { kind: "package"; action: "maintenance"; package: string; on: boolean }
  | { kind: "node"; action: "halt" | "run"; node: string; force: boolean }
  | { kind: "resource"; package: string; resource: string; status: "up" | "down"; node: string };

/** How much longer than the action's own --timeout the answer may take to arrive. */
export const ANSWER_MARGIN_MS = 15_000;

/** The route and body of an action (the API's body checks, body-checks.ts). Pure. */
export function apiActionCall(
  action: ApiAction,
  options: Pick<OperatorOptions, "wait" | "timeoutMs">,
): ApiCall {
  const wait = { wait: options.wait, timeoutMs: options.timeoutMs };
  const timeoutMs = options.wait ? options.timeoutMs + ANSWER_MARGIN_MS : API_READ_TIMEOUT_MS;
  const segment = encodeURIComponent;
  switch (action.kind) {
    case "package": {
      const path = `/v1/packages/${segment(action.package)}/${action.action}`;
      const body =
        action.action === "halt"
          ? wait
          : action.action === "maintenance"
            ? { on: action.on, ...wait }
            : { ...(action.node !== undefined ? { node: action.node } : {}), ...wait };
      return { method: "POST", path, body, timeoutMs };
    }
    case "node":
      return {
        method: "POST",
        path: `/v1/nodes/${segment(action.node)}/${action.action}`,
        body: { force: action.force, ...wait },
        timeoutMs,
      };
    case "resource":
      // The resource route always waits (up to 60 s): it takes no wait options.
      return {
        method: "POST",
        path: `/v1/packages/${segment(action.package)}/resources/${segment(action.resource)}`,
        body: { status: action.status, node: action.node },
        timeoutMs: 60_000 + ANSWER_MARGIN_MS,
      };
  }
}

/**
 * Sends the action and prints its result; returns the exit status. Errors whose code is in
 * `usageCodes` become usage errors (exit 2, the usage as the fix), as the etcd path makes them.
 */
export async function runOperatorOverApi(
  target: ApiTarget,
  action: ApiAction,
  options: OperatorOptions,
  usage: string,
  usageCodes: readonly string[],
): Promise<number> {
  const url = apiUrlText(target);
  let body: unknown;
  try {
    body = (await apiRequest(target, apiActionCall(action, options))).body;
  } catch (err) {
    if (err instanceof PaviseError && usageCodes.includes(err.code)) throw usageError(err.message, usage);
    throw err;
  }
  const result = operatorResult(url, body);
  makeOutput(options.json).progress(`${result.command}: recorded in etcd by ${result.by} (through ${url})`);
  return reportOperatorResult(result, options);
}

function operatorResult(url: string, body: unknown): OperatorResult {
  const r = body as Partial<OperatorResult>;
  if (typeof r.command !== "string" || typeof r.ok !== "boolean" || typeof r.waited !== "boolean") {
    throw badAnswer(url, "answered without an action's result", JSON.stringify(body));
  }
  return r as OperatorResult;
}
