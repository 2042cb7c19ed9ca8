import { parseDuration } from "../config/durations.js";
import { apiEvents, MAX_API_EVENTS } from "./api-reads.js";
import { API_OPTIONS, API_USAGE, apiTargetFrom } from "./api-target.js";
import { connectCluster, etcdProblem } from "./cluster-etcd.js";
import { followOverApi } from "./api-event-follow.js";
import { eventLine, eventsFrom, eventsSince, type LoggedEvent } from "./events-render.js";
import { makeOutput } from "./output.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const EVENTS_USAGE = `usage:
  pavise events (--config FILE | --api URL …) [--since DURATION] [--follow] [--json]
      the cluster's event log from etcd, in the order it was written: time, node, what
      happened. --since 10m shows only the last ten minutes (ms, s, m, h, d); --follow keeps
      watching for new events until Ctrl-C (with --json: one JSON object per line).
      With --api URL a node's API answers (GET /v1/events: the newest ${MAX_API_EVENTS} events; --follow
      reads its live stream) instead of this command reading etcd:
${API_USAGE.replace(/^/gm, "    ")}`;

export async function eventsCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    {
      config: { type: "string" },
      since: { type: "string" },
      follow: { type: "boolean", short: "f" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...API_OPTIONS,
    },
    EVENTS_USAGE,
    0,
  );
  if (values.help) {
    process.stdout.write(`${EVENTS_USAGE}\n`);
    return 0;
  }
  const api = apiTargetFrom(values, process.env, EVENTS_USAGE);
  if (api === undefined && values.config === undefined) {
    throw usageError("events needs --config FILE or --api URL", EVENTS_USAGE);
  }
  if (api !== undefined && values.config !== undefined) {
    throw usageError("give --config FILE (etcd) or --api URL (a node's API), not both", EVENTS_USAGE);
  }
  let since: number | undefined;
  if (values.since !== undefined) {
    const ms = parseDuration(values.since);
    if (ms === undefined) {
      throw usageError(
        `--since ${JSON.stringify(values.since)} is not a duration (e.g. 30s, 10m, 2h)`,
        EVENTS_USAGE,
      );
    }
    since = Date.now() - ms;
  }
  const json = values.json === true;
  if (api !== undefined) {
    const answer = await apiEvents(api, since);
    const { events } = answer;
    if (answer.full) {
      process.stderr.write(
        `note: the API gives the newest ${MAX_API_EVENTS} events; pavise events --config FILE shows the whole log\n`,
      );
    }
    if (values.follow) {
      for (const e of events) printFollowed(e, json);
      return followOverApi(api, answer.revision, (e) => printFollowed(e, json));
    }
    makeOutput(json).result({ cluster: answer.cluster, revision: answer.revision, events }, () =>
      events.length === 0 ? "no events" : events.map(eventLine).join("\n"),
    );
    return 0;
  }
  const { file, config, client, keys } = connectCluster(values.config!);
  try {
    let range;
    try {
      range = await client.range(keys.eventsPrefix);
    } catch (err) {
      throw etcdProblem(err, file, config);
    }
    const events = eventsSince(eventsFrom(range.kvs), since);
    if (!values.follow) {
      makeOutput(json).result({ cluster: config.name, revision: range.revision, events }, () =>
        events.length === 0 ? "no events" : events.map(eventLine).join("\n"),
      );
      return 0;
    }
    const print = (e: LoggedEvent): void => printFollowed(e, json);
    for (const e of events) print(e);
    return await follow(range.revision + 1, print);
  } finally {
    client.close();
  }

  async function follow(
    from: number,
    print: (e: ReturnType<typeof eventsFrom>[number]) => void,
  ): Promise<number> {
    const watch = client.watch(keys.eventsPrefix, { prefix: true, startRevision: from });
    const stop = (): void => watch.close();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      for await (const batch of watch) {
        if (batch.kind === "events") {
          for (const e of eventsFrom(batch.events.filter((ev) => ev.type === "put").map((ev) => ev.kv)))
            print(e);
        } else if (batch.kind === "compacted") {
          process.stderr.write(`events before revision ${batch.compactRevision} were compacted away\n`);
        } else if (!json) {
          process.stderr.write(`watch resumed on ${batch.endpoint}: ${batch.reason}\n`);
        }
      }
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
    return 0;
  }
}

/** One event of a followed log: a line, or with --json one JSON object per line. */
function printFollowed(e: LoggedEvent, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(e)}\n` : `${eventLine(e)}\n`);
}
