/**
 * Who runs an operator command, for the event log and the admin/ keys: the user who invoked
 * sudo when there is one (SUDO_USER), else USER, and this host.
 */

import { hostname, userInfo } from "node:os";

export interface Operator {
  user: string;
  host: string;
  /** user@host */
  by: string;
  /** The host as an event key's node part (layout.ts allows letters, digits, ".", "_", "-"). */
  eventNode: string;
}

export function currentOperator(env: NodeJS.ProcessEnv = process.env, host = hostname()): Operator {
  let user = env.SUDO_USER || env.USER || "";
  if (user === "") {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  const eventNode = host.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "") || "operator";
  return { user, host, by: `${user}@${host}`, eventNode };
}
