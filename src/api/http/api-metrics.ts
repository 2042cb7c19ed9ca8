import { LATENCY_BUCKETS, type MetricRegistry } from "../../metrics/registry.js";

/**
 * The API's own metrics (design §6), added to the daemon's registry so /metrics shows them. The
 * route label is the route's pattern (`/v1/packages/{pkg}/move`), never the raw path: a client
 * cannot make new series by asking for new paths. Unmatched requests share one label.
 */
export const UNMATCHED_ROUTE = "unmatched";

export type DeniedReason =
  "unauthenticated" | "forbidden" | "origin" | "rate-limited" | "login-failed" | "login-locked";

export class ApiMetrics {
  private readonly requests;
  private readonly duration;
  private readonly denied;
  private readonly connections;

  constructor(registry: MetricRegistry) {
    this.requests = registry.counter(
      "pavise_api_requests_total",
      "API requests answered, by route and status.",
      {
        labels: ["route", "code"],
        maxSeries: 500,
      },
    );
    this.duration = registry.histogram(
      "pavise_api_request_duration_seconds",
      "Time from a request's arrival to the end of its answer, by route.",
      LATENCY_BUCKETS,
      { labels: ["route"], maxSeries: 100 },
    );
    this.denied = registry.counter(
      "pavise_api_denied_total",
      "API requests refused for who sent them (no or bad credentials, role, Origin, rate, login).",
      { labels: ["reason"], maxSeries: 16 },
    );
    this.connections = registry.counter(
      "pavise_api_connections_total",
      "TCP and unix-socket connections to the API, accepted or refused at the connection cap.",
      { labels: ["outcome"], maxSeries: 2 },
    );
  }

  /** A connection accepted, or refused because the cap was reached. */
  connection(outcome: "accepted" | "refused"): void {
    this.connections.inc({ outcome });
  }

  answered(route: string, status: number, seconds: number): void {
    this.requests.inc({ route, code: String(status) });
    this.duration.observe({ route }, seconds);
  }

  refused(reason: DeniedReason): void {
    this.denied.inc({ reason });
  }
}
