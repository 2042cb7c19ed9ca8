import { setTimeout as sleep } from "node:timers/promises";
import type { EtcdClient } from "./client.js";
import { EtcdError } from "./errors.js";
import type { GatewayStream } from "./gateway-transport.js";
import {
  decodeError,
  decodeWatchEvents,
  encodeKey,
  headerRevision,
  prefixEnd,
  wireInt,
  type WatchEvent,
  type WireWatchResponse,
} from "./wire.js";

export interface WatchOptions {
  /** Watch every key under `key` (default) or the one key. */
  prefix?: boolean;
  /** First revision to deliver. Default: whatever changes after the watch is created. */
  startRevision?: number;
  /** Deliver each event's previous key-value too. */
  prevKv?: boolean;
  /**
   * How often the member the watch streams from is asked for its status (default 1000 ms). One
   * that does not answer, or has no leader, is left for the next: a frozen or cut-off member
   * keeps a stream open but silent, and nothing else would tell.
   */
  healthCheckMs?: number;
}

/**
 * What a watch delivers, in order:
 * - events: the changes of one or more revisions, oldest first; never repeated, never skipped;
 * - compacted: the revisions before compactRevision are gone, so their events cannot be had:
 *   re-read the keys (range) and carry on — the watch continues from compactRevision;
 * - resumed: the stream broke (member gone, no leader, silent) and was opened again, on
 *   `endpoint`, from `fromRevision`: nothing is lost.
 */
export type WatchBatch =
  | { kind: "events"; events: WatchEvent[] }
  | { kind: "compacted"; compactRevision: number }
  | { kind: "resumed"; endpoint: string; fromRevision: number; reason: string };

/**
 * A watch on a key or prefix that survives members coming and going: each batch it delivers
 * moves `nextRevision` on, and when the stream ends for any reason but close() it is opened
 * again from there on the next member (with a growing pause while none can serve it). Read it
 * with `for await`, or `next()`.
 */
export class EtcdWatch implements AsyncIterableIterator<WatchBatch> {
  /** The revision the next event will have at least; undefined until the first stream is created. */
  nextRevision: number | undefined;
  /** Resolves with the first revision the watch covers, once etcd has created it. */
  readonly ready: Promise<number>;

  private readonly queue: WatchBatch[] = [];
  private waiter: ((result: IteratorResult<WatchBatch>) => void) | undefined;
  private closed = false;
  private stream: GatewayStream | undefined;
  private resolveReady: (revision: number) => void = () => undefined;
  private rejectReady: (err: Error) => void = () => undefined;

  constructor(
    private readonly client: EtcdClient,
    private readonly key: string,
    private readonly options: WatchOptions = {},
  ) {
    this.nextRevision = options.startRevision;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody has to wait for `ready`; the rejection on close() must not be unhandled.
    this.ready.catch(() => undefined);
    void this.run();
  }

  next(): Promise<IteratorResult<WatchBatch>> {
    const batch = this.queue.shift();
    if (batch) return Promise.resolve({ value: batch, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<WatchBatch>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<WatchBatch> {
    return this;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream?.close();
    this.rejectReady(new EtcdError("ETCD_UNREACHABLE", "watch closed before it was created"));
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  private deliver(batch: WatchBatch): void {
    if (this.closed) return;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter({ value: batch, done: false });
    } else {
      this.queue.push(batch);
    }
  }

  private async run(): Promise<void> {
    const transport = this.client.transport;
    let offset = 0;
    let failures = 0;
    let reason = "";
    while (!this.closed) {
      const endpoint = transport.endpointAt(offset);
      if (reason !== "") {
        this.deliver({ kind: "resumed", endpoint, fromRevision: this.nextRevision ?? 0, reason });
      }
      let created = false;
      let compactedTo: number | undefined;
      let cancelled: string | undefined;
      const request = {
        create_request: {
          key: encodeKey(this.key),
          ...(this.options.prefix === false ? {} : { range_end: encodeKey(prefixEnd(this.key)) }),
          ...(this.nextRevision !== undefined ? { start_revision: String(this.nextRevision) } : {}),
          ...(this.options.prevKv ? { prev_kv: true } : {}),
        },
      };
      let token: string | undefined;
      try {
        token = await transport.streamToken(endpoint);
      } catch (err) {
        // No token now (member unreachable, …): try the next member after the usual pause.
        reason = (err as Error).message;
        failures += 1;
        offset += 1;
        await sleep(Math.min(20 * 2 ** Math.min(failures, 6), 1000));
        continue;
      }
      if (this.closed) return;
      const stream = transport.openStream(
        endpoint,
        "/v3/watch",
        request,
        (line) => {
          const error = decodeError(line);
          if (error) {
            cancelled = error.message;
            transport.tokenRefused(token, error.message);
            return;
          }
          const response = (line as { result?: WireWatchResponse }).result ?? {};
          if (response.created) {
            created = true;
            failures = 0;
            if (this.nextRevision === undefined) this.nextRevision = headerRevision(response.header) + 1;
            this.resolveReady(this.nextRevision);
          }
          if (response.canceled) {
            const compact = wireInt(response.compact_revision);
            if (compact > 0) compactedTo = compact;
            else cancelled = response.cancel_reason ?? "cancelled by etcd";
            stream.close();
            return;
          }
          const events = decodeWatchEvents(response);
          if (events.length === 0) return;
          this.nextRevision = Math.max(this.nextRevision ?? 0, events[events.length - 1]!.kv.modRevision + 1);
          this.deliver({ kind: "events", events });
        },
        token,
      );
      this.stream = stream;
      const health = this.watchHealth(stream);
      const ended = await stream.done;
      if (ended) transport.tokenRefused(token, ended.message);
      health.stop();
      if (this.closed) return;
      if (compactedTo !== undefined) {
        this.nextRevision = compactedTo;
        this.deliver({ kind: "compacted", compactRevision: compactedTo });
        reason = "";
        continue;
      }
      reason = cancelled ?? health.reason() ?? ended?.message ?? "stream ended";
      if (!created) failures += 1;
      offset += 1;
      await sleep(Math.min(20 * 2 ** Math.min(failures, 6), 1000));
    }
  }

  /** Asks the streaming member for its status now and then; closes the stream if it is unfit. */
  private watchHealth(stream: GatewayStream): { stop(): void; reason(): string | undefined } {
    const period = this.options.healthCheckMs ?? 1000;
    let reason: string | undefined;
    let stopped = false;
    const check = async (): Promise<void> => {
      while (!stopped) {
        await sleep(period);
        if (stopped) return;
        try {
          const status = await this.client.status(stream.endpoint, period);
          if (status.leader === "0") reason = `${stream.endpoint} has no leader`;
        } catch (err) {
          reason = `${stream.endpoint} is unfit: ${(err as Error).message}`;
        }
        if (reason !== undefined && !stopped) {
          stream.close();
          return;
        }
      }
    };
    void check();
    return {
      stop: () => (stopped = true),
      reason: () => reason,
    };
  }
}
