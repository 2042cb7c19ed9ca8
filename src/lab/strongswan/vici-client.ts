import { connect, type Socket } from "node:net";
import { PaviseError } from "../../util/errors.js";
import {
  ViciFrameSplitter,
  decodePacket,
  encodePacket,
  type ViciPacket,
  type ViciSection,
} from "./vici-codec.js";

export interface ViciCallOptions {
  /** Give up after this many milliseconds (default 10 s); the connection is closed then. */
  timeoutMs?: number;
}

export interface StreamedResult {
  /** The command's own response, sent after the last event. */
  response: ViciSection;
  /** One message per event, in the order charon sent them. */
  events: ViciSection[];
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Packets other than events answer the one exchange in flight. */
type Reply = Exclude<ViciPacket, { type: "event" }>;

interface Waiter {
  resolve(packet: Reply): void;
  reject(error: Error): void;
}

/**
 * A VICI client on a unix socket, for driving one charon from tests and benchmarks.
 *
 * charon answers the packets of one connection in order, so the client runs one operation at a
 * time (later calls queue behind earlier ones) and every non-event packet answers the exchange in
 * flight. Events are handed to the operation that registered for them and otherwise dropped.
 *
 * Any protocol error, socket error or timeout closes the connection: after a lost reply there is
 * no telling which answer belongs to which question. Open a new client then.
 */
export class ViciClient {
  private readonly splitter = new ViciFrameSplitter();
  private waiter: Waiter | undefined;
  private onEvent: ((event: string, message: ViciSection) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closedBecause: PaviseError | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (err) => this.fail(connectionLost(path, err.message)));
    socket.on("close", () => this.fail(connectionLost(path, "closed by charon")));
  }

  static connect(path: string, options: ViciCallOptions = {}): Promise<ViciClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new PaviseError("VICI_TIMEOUT", `connecting to ${path} took longer than ${timeoutMs} ms`, {
            hint: "charon may be overloaded or stopped (SIGSTOP)",
          }),
        );
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new ViciClient(socket, path));
      });
      socket.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new PaviseError(
            "VICI_CONNECT_FAILED",
            `cannot connect to the VICI socket ${path}: ${err.message}`,
            {
              where: { file: path },
              hint:
                err.code === "ENOENT" || err.code === "ECONNREFUSED"
                  ? "charon is not running there (or has not opened its socket yet); see its log"
                  : undefined,
              cause: err,
            },
          ),
        );
      });
    });
  }

  /** Sends a command and returns charon's response message. */
  request(command: string, message: ViciSection = {}, options: ViciCallOptions = {}): Promise<ViciSection> {
    return this.serialize(options, `command ${command}`, async () => {
      const reply = await this.exchange({ type: "cmd-request", command, message });
      return expectResponse(command, reply);
    });
  }

  /**
   * Runs a command that reports its results as events (list-sas → list-sa, list-conns →
   * list-conn, …): registers for the event, sends the command, gathers the events that arrive
   * before the response, and unregisters again.
   */
  streamedRequest(
    command: string,
    eventName: string,
    message: ViciSection = {},
    options: ViciCallOptions = {},
  ): Promise<StreamedResult> {
    return this.serialize(options, `command ${command}`, async () => {
      await this.registration("event-register", eventName);
      const events: ViciSection[] = [];
      this.onEvent = (event, body) => {
        if (event === eventName) events.push(body);
      };
      let response: ViciSection;
      try {
        response = expectResponse(command, await this.exchange({ type: "cmd-request", command, message }));
      } finally {
        this.onEvent = undefined;
        // Unregister even after an unknown command, so that the connection stays usable.
        if (this.closedBecause === undefined) await this.registration("event-unregister", eventName);
      }
      return { response, events };
    });
  }

  close(): void {
    this.fail(new PaviseError("VICI_CLOSED", "close() was called"));
  }

  // -------------------------------------------------------------------------------------------

  private async registration(type: "event-register" | "event-unregister", event: string): Promise<void> {
    const reply = await this.exchange({ type, event });
    if (reply.type === "event-confirm") return;
    if (reply.type === "event-unknown") {
      throw new PaviseError("VICI_UNKNOWN_EVENT", `charon does not know the event ${event}`, {
        hint: "check the event name against the VICI documentation for strongSwan 5.9",
      });
    }
    throw this.protocolError(`expected a confirmation for ${type} ${event}, got ${reply.type}`);
  }

  /** Sends one packet and waits for the next non-event packet. */
  private exchange(packet: ViciPacket): Promise<Reply> {
    if (this.closedBecause) {
      const why = this.closedBecause;
      return Promise.reject(
        new PaviseError("VICI_CLOSED", `the VICI connection to ${this.path} is closed: ${why.message}`, {
          hint: "open a new ViciClient",
          cause: why,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.socket.write(encodePacket(packet));
    });
  }

  /** Runs operations one after another, each under its own deadline. */
  private serialize<T>(options: ViciCallOptions, what: string, operation: () => Promise<T>): Promise<T> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const run = async (): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new PaviseError(
            "VICI_TIMEOUT",
            `${what} on ${this.path} got no answer within ${timeoutMs} ms`,
            {
              hint: "charon is busy, hung or stopped; its log says which",
            },
          );
          this.fail(error);
          reject(error);
        }, timeoutMs);
      });
      try {
        return await Promise.race([operation(), deadline]);
      } finally {
        clearTimeout(timer);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private receive(chunk: Buffer): void {
    const split = this.splitter.push(chunk);
    if (!split.ok) {
      this.fail(this.protocolError(split.error));
      return;
    }
    for (const body of split.packets) {
      const decoded = decodePacket(body);
      if (!decoded.ok) {
        this.fail(this.protocolError(`${decoded.error} (at byte ${decoded.offset} of a packet)`));
        return;
      }
      const packet = decoded.value;
      if (packet.type === "event") {
        this.onEvent?.(packet.event, packet.message);
        continue;
      }
      const waiter = this.waiter;
      if (!waiter) {
        this.fail(this.protocolError(`unexpected ${packet.type} packet with no request in flight`));
        return;
      }
      this.waiter = undefined;
      waiter.resolve(packet);
    }
  }

  private protocolError(detail: string): PaviseError {
    return new PaviseError("VICI_PROTOCOL_ERROR", `bad data from ${this.path}: ${detail}`, {
      hint: "is this really charon's VICI socket?",
    });
  }

  /** Closes the connection for good and fails the exchange in flight. */
  private fail(error: PaviseError): void {
    if (this.closedBecause) return;
    this.closedBecause = error;
    this.socket.destroy();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }
}

function connectionLost(path: string, detail: string): PaviseError {
  return new PaviseError("VICI_CONNECTION_LOST", `the VICI connection to ${path} broke: ${detail}`, {
    hint: "charon may have exited; see its log",
  });
}

function expectResponse(command: string, reply: Reply): ViciSection {
  if (reply.type === "cmd-response") return reply.message;
  if (reply.type === "cmd-unknown") {
    throw new PaviseError("VICI_UNKNOWN_COMMAND", `charon does not know the command ${command}`, {
      hint: "is the vici plugin of strongSwan 5.9 loaded?",
    });
  }
  throw new PaviseError("VICI_PROTOCOL_ERROR", `expected a response to ${command}, got ${reply.type}`);
}
