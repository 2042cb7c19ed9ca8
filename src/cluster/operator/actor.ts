/**
 * Who acts on the cluster: the user, the host they act from, and the way in (the CLI, the HTTP
 * API, or root on a node's control socket). Written into the admin/ keys (`by`, layout.ts
 * ChangedBy) and into the event of every operator action, so the event log says who did what,
 * as Serviceguard's syslog names the user of each cmrunpkg/cmhaltpkg. Pure.
 */

export type ActorVia = "cli" | "api" | "control";

export interface Actor {
  user: string;
  /** Where the user acts from: the CLI's host, or the API client's address. */
  host: string;
  via: ActorVia;
  /** How the API knew the user (certificate, token, password); absent for the CLI. */
  auth?: string | undefined;
  /** The node whose API served the request; absent for the CLI. */
  servedBy?: string | undefined;
}

/** "user@host": the `by` of admin/ keys and the start of the event message. */
export function actorBy(actor: Actor): string {
  return `${actor.user}@${actor.host}`;
}

/**
 * The host as an event key's node part (layout.ts allows letters, digits, ".", "_", "-"): an
 * API request's event is keyed by the node that served it.
 */
export function actorEventNode(actor: Actor): string {
  const host = actor.servedBy ?? actor.host;
  return host.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "") || "operator";
}

/** The fields an operator event carries about who acted (beside kind, message, package…). */
export function actorEventFields(actor: Actor): Record<string, string> {
  return {
    node: actorEventNode(actor),
    user: actor.user,
    host: actor.host,
    via: actor.via,
    ...(actor.auth !== undefined ? { auth: actor.auth } : {}),
    ...(actor.servedBy !== undefined ? { servedBy: actor.servedBy } : {}),
  };
}
