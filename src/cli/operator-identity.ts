/**
 * Who runs an operator command, for the event log and the admin/ keys (actor.ts): the user who
 * invoked sudo when there is one (SUDO_USER), else USER, and this host.
 */

import { hostname, userInfo } from "node:os";
import type { Actor } from "../cluster/operator/actor.js";

export function currentOperator(env: NodeJS.ProcessEnv = process.env, host = hostname()): Actor {
  let user = env.SUDO_USER || env.USER || "";
  if (user === "") {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  return { user, host, via: "cli" };
}
