import { createConnection, createServer, type Server, type Socket } from "node:net";
import { PaviseError } from "../util/errors.js";

// The lab's daemons live in network namespaces and a browser does not, but unix sockets belong to
// the file system, not to a namespace: the relay accepts TCP on 127.0.0.1 in the root namespace
// and copies bytes to and from the node's API unix socket (design §0, §2). It never reads what it
// copies, so TLS runs end to end from the browser to the daemon and the browser sees the
// daemon's own certificate.

/** The relay's default port: the API's own (api.listen 0.0.0.0:7443). */
export const CONSOLE_PORT = 7443;

export interface ConsoleRelayOptions {
  /** The node's API unix socket (<control socket dir>/api-<node>.sock). */
  socketPath: string;
  port: number;
  /** When `port` is taken, listen on a free port the kernel picks instead of failing. */
  anyPortIfTaken?: boolean;
  /** A line for the relay's log (connection problems; the relay itself keeps running). */
  log?: (line: string) => void;
}

export interface ConsoleRelay {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  readonly socketPath: string;
  /** Connections relayed so far, and those the API socket refused or lost. */
  readonly stats: { connections: number; upstreamFailures: number };
  close(): Promise<void>;
}

/** The URL a browser opens for a relay on `port`. */
export function consoleUrl(port: number): string {
  return `https://127.0.0.1:${port}/`;
}

export async function startConsoleRelay(options: ConsoleRelayOptions): Promise<ConsoleRelay> {
  const log = options.log ?? (() => undefined);
  const stats = { connections: 0, upstreamFailures: 0 };
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    stats.connections += 1;
    relayConnection(client, options.socketPath, stats, log, open);
  });
  let port: number;
  try {
    port = await listen(server, options.port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EADDRINUSE" || !options.anyPortIfTaken) {
      throw new PaviseError(
        code === "EADDRINUSE" ? "LAB_CONSOLE_PORT_TAKEN" : "LAB_CONSOLE_LISTEN_FAILED",
        `cannot listen on 127.0.0.1:${options.port}: ${(err as Error).message}`,
        { hint: "choose another port with --port P (or leave --port out: a free one is picked)" },
      );
    }
    log(`127.0.0.1:${options.port} is taken; listening on a free port instead`);
    port = await listen(server, 0);
  }
  log(`relaying 127.0.0.1:${port} to ${options.socketPath}`);
  return {
    port,
    socketPath: options.socketPath,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error): void => reject(err);
    server.once("error", failed);
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      server.off("error", failed);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

/**
 * Copies one browser connection to a new connection on the API socket, both ways, until either
 * side closes. A failure on one side destroys the other side only: the relay goes on serving.
 */
function relayConnection(
  client: Socket,
  socketPath: string,
  stats: { upstreamFailures: number },
  log: (line: string) => void,
  open: Set<Socket>,
): void {
  const upstream = createConnection({ path: socketPath, allowHalfOpen: true });
  open.add(client);
  open.add(upstream);
  let connected = false;
  upstream.once("connect", () => {
    connected = true;
  });
  client.pipe(upstream);
  upstream.pipe(client);
  upstream.on("error", (err: NodeJS.ErrnoException) => {
    stats.upstreamFailures += 1;
    // Once connected, EPIPE and ECONNRESET are how TLS connections usually end (the browser's
    // close_notify crossing the server's close); the browser sees any real loss itself.
    if (!connected) {
      log(
        `cannot reach the API socket ${socketPath}: ${err.code ?? err.message} (is the node's daemon running, with an api: section?)`,
      );
    }
    client.destroy();
  });
  // A browser that goes away mid-stream: end its API connection too, quietly.
  client.on("error", () => upstream.destroy());
  client.on("close", () => {
    open.delete(client);
    upstream.destroy();
  });
  // A clean close of the API side was piped as an end to the browser (after what is still
  // queued for it); an error closed the browser side above.
  upstream.on("close", () => open.delete(upstream));
}
