/**
 * What the traffic agent (traffic-agent.ts) writes to its log, and how the driver (traffic.ts)
 * reads it back. Kept apart from the agent, whose module runs the program when imported.
 */
import type { TrafficReport } from "./traffic-report.js";

export type TrafficProto = "udp" | "tcp";

/** Start of the line (stderr) the agent prints once its socket is set up. */
export const READY_MARKER = "traffic-agent: ready";
/** Start of the line (stderr) the agent prints before it exits with an error. */
export const ERROR_MARKER = "traffic-agent: error:";
export const REPORT_KIND = "traffic-report";

/** The one JSON line `send` prints on stdout: the report plus what was measured. */
export interface AgentReport extends TrafficReport {
  kind: typeof REPORT_KIND;
  proto: TrafficProto;
  to: string;
  port: number;
  intervalMs: number;
  /** Requests the socket refused at once (e.g. no route); they count as sent and lost. */
  sendErrors: number;
}

export function hasReadyLine(log: string): boolean {
  return log.split("\n").some((line) => line.startsWith(READY_MARKER));
}

/** The agent's error message in a log, if it printed one. */
export function findAgentError(log: string): string | undefined {
  const line = log.split("\n").find((l) => l.startsWith(ERROR_MARKER));
  return line === undefined ? undefined : line.slice(ERROR_MARKER.length).trim();
}

/** The last report line in a log, or undefined while there is none (other lines are ignored). */
export function findAgentReport(log: string): AgentReport | undefined {
  const lines = log.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]?.trim() ?? "";
    if (!line.startsWith("{")) continue;
    try {
      const parsed: unknown = JSON.parse(line);
      if (
        typeof parsed === "object" &&
        parsed !== null &&
        (parsed as { kind?: unknown }).kind === REPORT_KIND
      ) {
        return parsed as AgentReport;
      }
    } catch {
      // A partly written line: the report is not complete yet.
    }
  }
  return undefined;
}
