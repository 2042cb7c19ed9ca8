import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { PaviseError } from "../../util/errors.js";
import { BatchUdpSocket } from "../../esp/driver/batch-udp-socket.js";
import { tunAddonAvailable } from "../../esp/driver/tun-device.js";
import { classifyDatagram, frameIkeMessage, IKE_PORT, NAT_T_PORT, type Datagram } from "../core/udp-demux.js";

/** Where a datagram came from and went to: IKE answers on the path a request took. */
export interface UdpPath {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export type DatagramListener = (path: UdpPath, datagram: Datagram) => void;

/** What IkeSockets needs of a bound socket: Node's dgram or the batching native one. */
interface BoundSocket {
  send(to: { address: string; port: number }, datagrams: readonly Uint8Array[]): void;
  close(): void;
}

/**
 * The UDP sockets of an IKE endpoint: ports 500 and 4500 on each local address. One socket per
 * address because Node cannot tell a wildcard socket's destination address (no IP_PKTINFO),
 * and IKE must answer from the address the request was sent to. Port 4500 also carries ESP
 * (RFC 3948): with `batchNatT` (and the datapath addon built) it is a BatchUdpSocket.
 */
export class IkeSockets {
  private readonly sockets = new Map<string, BoundSocket>();
  /** When something was last sent from a NAT-T socket to a peer ("from>to"), for keepalives. */
  private readonly lastSentAt = new Map<string, number>();

  private constructor(
    private readonly listener: DatagramListener,
    private readonly ports: { ike: number; natT: number },
    private readonly batch: boolean,
  ) {}

  static async open(
    addresses: readonly string[],
    listener: DatagramListener,
    ports: { ike?: number; natT?: number } = {},
    options: { batchNatT?: boolean } = {},
  ): Promise<IkeSockets> {
    const sockets = new IkeSockets(
      listener,
      { ike: ports.ike ?? IKE_PORT, natT: ports.natT ?? NAT_T_PORT },
      (options.batchNatT ?? false) && tunAddonAvailable(),
    );
    try {
      for (const address of addresses) await sockets.addAddress(address);
    } catch (err) {
      sockets.close();
      throw err;
    }
    return sockets;
  }

  /**
   * Listens on one more address (IKE port and NAT-T port), e.g. a package address that just
   * came to this node (docs/ipsec-packages-design.md §6: after the address, never before: no
   * IP_FREEBIND, so a node that lost an address cannot keep sending from it). Already listening:
   * nothing to do. If the second bind fails, the first is closed again.
   */
  async addAddress(address: string): Promise<void> {
    if (this.listensOn(address)) return;
    try {
      await this.bind(address, this.ports.ike, false);
      if (this.batch) this.bindBatch(address, this.ports.natT);
      else await this.bind(address, this.ports.natT, true);
    } catch (err) {
      this.removeAddress(address);
      throw err;
    }
  }

  /** Stops listening on an address (a package that halts or moves away); nothing is sent from it any more. */
  removeAddress(address: string): void {
    for (const port of [this.ports.ike, this.ports.natT]) {
      const key = `${address}:${port}`;
      this.sockets.get(key)?.close();
      this.sockets.delete(key);
    }
    for (const key of [...this.lastSentAt.keys()])
      if (key.startsWith(`${address}:`)) this.lastSentAt.delete(key);
  }

  /** Whether both sockets of the address are bound. */
  listensOn(address: string): boolean {
    return (
      this.sockets.has(`${address}:${this.ports.ike}`) && this.sockets.has(`${address}:${this.ports.natT}`)
    );
  }

  /** The addresses with bound sockets. */
  addresses(): string[] {
    return [...new Set([...this.sockets.keys()].map((key) => key.slice(0, key.lastIndexOf(":"))))];
  }

  private bindBatch(address: string, port: number): void {
    const socket = BatchUdpSocket.open(address, port, (bytes, from) => {
      const path = {
        localAddress: address,
        localPort: port,
        remoteAddress: from.address,
        remotePort: from.port,
      };
      this.listener(path, classifyDatagram(NAT_T_PORT, bytes));
    });
    this.sockets.set(`${address}:${port}`, socket);
  }

  private bind(address: string, port: number, natT: boolean): Promise<void> {
    const socket = createSocket({ type: isIPv6(address) ? "udp6" : "udp4", reuseAddr: true });
    // The demultiplexer only knows the standard ports; a test on other ports maps them here.
    const logicalPort = natT ? NAT_T_PORT : IKE_PORT;
    socket.on("message", (bytes, rinfo) => {
      const path = {
        localAddress: address,
        localPort: port,
        remoteAddress: rinfo.address,
        remotePort: rinfo.port,
      };
      this.listener(
        path,
        classifyDatagram(logicalPort, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)),
      );
    });
    return new Promise((resolve, reject) => {
      socket.once("error", (err: NodeJS.ErrnoException) => {
        reject(
          new PaviseError("IKE_BIND_FAILED", `cannot listen on ${address}:${port}: ${err.message}`, {
            hint:
              err.code === "EADDRNOTAVAIL"
                ? `${address} is not an address of this host; fix local_addrs`
                : err.code === "EADDRINUSE"
                  ? `another IKE daemon (charon?) holds port ${port} on ${address}; stop it`
                  : undefined,
          }),
        );
      });
      socket.bind(port, address, () => {
        socket.removeAllListeners("error");
        socket.on("error", () => undefined);
        this.sockets.set(`${address}:${port}`, dgramSocket(socket));
        resolve();
      });
    });
  }

  /** Sends an IKE message on a path (with the non-ESP marker when the path is on port 4500). */
  sendIke(path: UdpPath, message: Uint8Array, natTPort = NAT_T_PORT): void {
    const socket = this.sockets.get(`${path.localAddress}:${path.localPort}`);
    if (!socket) return;
    const framed = frameIkeMessage(path.localPort === natTPort ? NAT_T_PORT : IKE_PORT, message);
    socket.send({ address: path.remoteAddress, port: path.remotePort }, [framed]);
    if (path.localPort === natTPort) {
      this.lastSentAt.set(
        `${path.localAddress}:${path.localPort}>${path.remoteAddress}:${path.remotePort}`,
        Date.now(),
      );
    }
  }

  /** Sends ESP packets in UDP (RFC 3948: no marker) from one of our NAT-T sockets to one peer. */
  sendEsp(
    from: { address: string; port: number },
    to: { address: string; port: number },
    datagrams: readonly Uint8Array[],
  ): void {
    this.sockets.get(`${from.address}:${from.port}`)?.send(to, datagrams);
    this.lastSentAt.set(`${from.address}:${from.port}>${to.address}:${to.port}`, Date.now());
  }

  /** When a NAT-T socket last sent anything to a peer (ESP, IKE or a keepalive). */
  lastSent(
    from: { address: string; port: number },
    to: { address: string; port: number },
  ): number | undefined {
    return this.lastSentAt.get(`${from.address}:${from.port}>${to.address}:${to.port}`);
  }

  close(): void {
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
  }
}

function dgramSocket(socket: Socket): BoundSocket {
  return {
    send: (to, datagrams) => {
      for (const datagram of datagrams) socket.send(datagram, to.port, to.address);
    },
    close: () => socket.close(),
  };
}
