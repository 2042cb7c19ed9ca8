/**
 * `pavise events --follow --api URL`: new events from the node's live stream (GET /v1/stream,
 * design §7) instead of an etcd watch, until Ctrl-C. Event ids are etcd revisions, so the
 * stream is asked for what came after the last event shown (Last-Event-ID) and each event is
 * printed once, in revision order, also when a snapshot repeats it. When the stream ends or the
 * node cannot be reached it says so and resumes after 2 s (the stream's own `retry:`), as the
 * etcd path's watch resumes; a refusal (credentials, role) ends the command with its error.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { SseParser, type ParsedSseEvent } from "../api/stream/sse-parser.js";
import type { StreamReset, StreamSnapshot } from "../api/stream/stream-messages.js";
import { PaviseError } from "../util/errors.js";
import { CLI_API_UNREACHABLE } from "./api-answer.js";
import { apiStream, type ApiStream } from "./api-client.js";
import { type ApiTarget, apiUrlText } from "./api-target.js";
import type { LoggedEvent } from "./events-render.js";

export const RESUME_AFTER_MS = 2_000;

/** Errors after which the stream is tried again: the node is away, starting, or busy. */
const PASSING = new Set([
  CLI_API_UNREACHABLE,
  "DAEMON_STARTING",
  "API_RATE_LIMITED",
  "CLUSTER_ETCD_UNREACHABLE",
]);

export async function followOverApi(
  target: ApiTarget,
  afterRevision: number,
  print: (e: LoggedEvent) => void,
  /** Ends the follow as Ctrl-C does (tests; the command uses SIGINT/SIGTERM). */
  signal?: AbortSignal,
): Promise<number> {
  const url = apiUrlText(target);
  let last = afterRevision;
  let stopped = false;
  let stream: ApiStream | undefined;
  const pause = new AbortController();
  const stop = (): void => {
    stopped = true;
    stream?.close();
    pause.abort();
  };
  const show = (e: LoggedEvent): void => {
    if (e.revision <= last) return;
    last = e.revision;
    print(e);
  };
  const handle = (message: ParsedSseEvent): void => {
    let data: unknown;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    if (message.event === "event") show(data as LoggedEvent);
    else if (message.event === "snapshot") for (const e of (data as StreamSnapshot).events) show(e);
    else if (message.event === "reset") {
      process.stderr.write(
        `events after revision ${last} could not be replayed by ${url} (${(data as StreamReset).reason}): some may be missing\n`,
      );
    }
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  signal?.addEventListener("abort", stop, { once: true });
  if (signal?.aborted) stop();
  try {
    while (!stopped) {
      const parser = new SseParser({ keep: false });
      stream = apiStream(target, "/v1/stream", { "last-event-id": String(last) }, (text) => {
        for (const message of parser.push(text)) handle(message);
      });
      let why = "the stream ended";
      try {
        await stream.ended;
      } catch (err) {
        if (!(err instanceof PaviseError) || !PASSING.has(err.code)) throw err;
        why = err.message;
      }
      if (stopped) break;
      process.stderr.write(`${why}; resuming from revision ${last} in ${RESUME_AFTER_MS / 1000} s\n`);
      await sleep(RESUME_AFTER_MS, undefined, { signal: pause.signal }).catch(() => undefined);
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    signal?.removeEventListener("abort", stop);
  }
  return 0;
}
