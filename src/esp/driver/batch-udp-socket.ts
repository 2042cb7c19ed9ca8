/**
 * A UDP socket that moves datagrams in batches (the datapath addon's native/tun/udp.c): one
 * JavaScript call per wake-up for everything received, one system call for a run of equal-sized
 * datagrams sent to one peer (UDP segmentation offload). The ESP-in-UDP port (RFC 3948, 4500)
 * uses it: Node's dgram costs one system call and one callback per datagram, which is most of
 * what a user-space datapath spends (README, "Why a native addon").
 */
import { PaviseError } from "../../util/errors.js";
import { loadTunAddon, type TunAddon } from "./tun-device.js";

/** Where a datagram came from. */
export interface UdpSource {
  address: string;
  port: number;
}

/** Called once per wake-up, once for each datagram in arrival order. */
export type UdpDatagramHandler = (datagram: Uint8Array, from: UdpSource) => void;

const SOURCE_BYTES = 20;

export class BatchUdpSocket {
  #fd: number;
  #reader: object | undefined;
  /** The last IPv4 source seen, to hand out the same object while a peer keeps sending. */
  #lastKey = -1;
  #lastSource: UdpSource = { address: "", port: 0 };

  private constructor(
    private readonly native: TunAddon,
    fd: number,
    readonly address: string,
    readonly port: number,
  ) {
    this.#fd = fd;
  }

  /** Binds address:port and delivers what arrives to `onDatagram`. */
  static open(address: string, port: number, onDatagram: UdpDatagramHandler): BatchUdpSocket {
    const native = loadTunAddon();
    let fd: number;
    try {
      fd = native.udpOpen(address, port);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new PaviseError(
        "IKE_BIND_FAILED",
        `cannot listen on ${address}:${port}: ${(error as Error).message}`,
        {
          hint:
            code === "EADDRNOTAVAIL"
              ? `${address} is not an address of this host; fix local_addrs`
              : code === "EADDRINUSE"
                ? `another IKE daemon (charon?) holds port ${port} on ${address}; stop it`
                : undefined,
          cause: error,
        },
      );
    }
    const socket = new BatchUdpSocket(native, fd, address, port);
    socket.#reader = native.udpStartReader(
      fd,
      (buffer, lengths, sources) => {
        let offset = 0;
        for (let i = 0; i < lengths.length; i++) {
          const length = lengths[i] ?? 0;
          onDatagram(buffer.subarray(offset, offset + length), socket.#source(sources, i));
          offset += length;
        }
      },
      () => socket.close(),
    );
    return socket;
  }

  /** Sends datagrams to one peer; returns how many were dropped (full queue, no route). */
  send(to: UdpSource, datagrams: readonly Uint8Array[]): number {
    if (this.#fd < 0 || datagrams.length === 0) return datagrams.length;
    let dropped = 0;
    for (let start = 0; start < datagrams.length; start += 1024) {
      const part = start === 0 && datagrams.length <= 1024 ? datagrams : datagrams.slice(start, start + 1024);
      dropped += this.native.udpSend(this.#fd, to.address, to.port, part);
    }
    return dropped;
  }

  /** Whether the socket keeps the process alive (it does by default). */
  unref(): void {
    if (this.#reader) this.native.udpRefReader(this.#reader, false);
  }

  close(): void {
    if (this.#fd < 0) return;
    if (this.#reader) this.native.udpStopReader(this.#reader);
    this.#reader = undefined;
    const fd = this.#fd;
    this.#fd = -1;
    this.native.close(fd);
  }

  #source(sources: Buffer, index: number): UdpSource {
    const at = index * SOURCE_BYTES;
    const port = sources.readUInt16BE(at + 16);
    if (sources[at + 18] === 4) {
      const key = sources.readUInt32BE(at) * 65536 + port;
      if (key !== this.#lastKey) {
        this.#lastKey = key;
        this.#lastSource = {
          address: `${sources[at]}.${sources[at + 1]}.${sources[at + 2]}.${sources[at + 3]}`,
          port,
        };
      }
      return this.#lastSource;
    }
    const groups: string[] = [];
    for (let g = 0; g < 8; g++) groups.push(sources.readUInt16BE(at + 2 * g).toString(16));
    // Canonical text (RFC 5952) so it compares equal to configured addresses.
    return { address: new URL(`http://[${groups.join(":")}]`).hostname.slice(1, -1), port };
  }
}
