/**
 * The TUN device of the ESP datapath: plain IP packets in and out of the kernel of the calling
 * process's network namespace (`IFF_TUN | IFF_NO_PI`: no Ethernet header, no packet-info prefix).
 *
 * The fast path is a small N-API addon (native/tun/tun.c): a libuv poll on the non-blocking fd
 * reads up to `batch` (default 64) packets per wake-up into one buffer and makes one JavaScript
 * call per batch; writes are non-blocking `write(2)` calls, a full queue counts as a drop. Node
 * alone cannot do this well (FACTS.md, "TUN notes"): `net.Socket` refuses a TUN fd, `fs.read`
 * holds thread-pool threads and reorders, and attaching to a TUN at all needs the TUNSETIFF
 * ioctl, which Node has no call for. So there is no pure-Node fallback: without the addon,
 * {@link TunDevice.open} throws TUN_ADDON_MISSING with the command that builds it.
 *
 * The addon is built by `npm install` / `npm ci` (the root package's install script runs
 * native/tun/build.sh) and by scripts/setup.sh; by hand: `npm run build:native`.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "../../util/package-paths.js";
import { PaviseError } from "../../util/errors.js";
import { run } from "../../util/run.js";

/** What the datapath addon (native/tun: tun.c, udp.c) exports. */
export interface TunAddon {
  open(name: string, offload: boolean): { fd: number; name: string; vnet: boolean; offload: boolean };
  close(fd: number): void;
  /** 1: written, 0: dropped (queue full); throws on other errors. */
  write(fd: number, packet: Uint8Array, vnet: boolean): number;
  /** Number dropped; throws on other errors (the error has .written and .dropped). */
  writeBatch(fd: number, packets: readonly Uint8Array[], vnet: boolean): number;
  startReader(
    fd: number,
    onBatch: (buffer: Buffer, lengths: Uint32Array) => void,
    onError: (error: NodeJS.ErrnoException) => void,
    batch: number,
    maxPacket: number,
    vnet: boolean,
  ): object;
  stopReader(handle: object): void;
  refReader(handle: object, on: boolean): void;
  /** The ESP-in-UDP socket (native/tun/udp.c), see batch-udp-socket.ts. */
  udpOpen(address: string, port: number): number;
  /** Number dropped; never throws on I/O. */
  udpSend(fd: number, address: string, port: number, datagrams: readonly Uint8Array[]): number;
  udpStartReader(
    fd: number,
    onBatch: (buffer: Buffer, lengths: Uint32Array, sources: Buffer) => void,
    onError: (error: NodeJS.ErrnoException) => void,
  ): object;
  udpStopReader(handle: object): void;
  udpRefReader(handle: object, on: boolean): void;
  /** native/tun/offload.h on bytes, for tests: one read (virtio_net_hdr + packet) → packets. */
  offloadSegment(read: Uint8Array): { buffer: Buffer; lengths: Uint32Array } | null;
  /** native/tun/offload.h on bytes, for tests: packets → one write and how many it holds. */
  offloadCoalesce(packets: readonly Uint8Array[]): { write: Buffer; taken: number };
}

/** Where the build puts the addon, relative to the package root. */
export const TUN_ADDON_PATH = "native/tun/build/Release/pavise_tun.node";

let addon: TunAddon | undefined;

/** Loads the addon once; TUN_ADDON_MISSING (with the build command) when it is not built. */
export function loadTunAddon(): TunAddon {
  if (addon !== undefined) return addon;
  const path = join(packageRoot(), TUN_ADDON_PATH);
  const hint =
    "build it with `npm run build:native` (needs gcc, make and python3; scripts/setup.sh installs them " +
    "and builds it, and so does `npm ci`); a failed build leaves its log in native/tun/build.log";
  if (!existsSync(path)) {
    throw new PaviseError("TUN_ADDON_MISSING", `the TUN addon ${path} is not built`, {
      where: { file: path },
      hint,
    });
  }
  try {
    addon = createRequire(import.meta.url)(path) as TunAddon;
  } catch (error) {
    throw new PaviseError("TUN_ADDON_MISSING", `the TUN addon ${path} does not load: ${String(error)}`, {
      where: { file: path },
      hint: `it was probably built for another Node version; ${hint}`,
      cause: error,
    });
  }
  return addon;
}

/** Whether the addon is built and loads (for callers that want to skip rather than fail). */
export function tunAddonAvailable(): boolean {
  try {
    loadTunAddon();
    return true;
  } catch {
    return false;
  }
}

/**
 * Called once per wake-up with the packets read: `buffer` holds them back to back, `lengths`
 * their sizes in order. Both are fresh for each call and may be kept.
 */
export type TunBatchHandler = (buffer: Buffer, lengths: Uint32Array) => void;

export interface TunReadOptions {
  /** Packets read per wake-up at most (1..1024; default 64). */
  batch?: number;
  /** Room for one packet (default 65535); a longer packet is cut to this. Use at least the MTU. */
  maxPacket?: number;
  /** Called when reading fails (the device went away); the reader has stopped. */
  onError?: (error: PaviseError) => void;
}

export interface TunCounters {
  packetsRead: number;
  batches: number;
  packetsWritten: number;
  /** Writes refused because the kernel queue was full (EAGAIN/ENOBUFS): dropped, not retried. */
  writeDrops: number;
}

/** Splits a batch into packet views (no copies). */
export function splitBatch(buffer: Buffer, lengths: Uint32Array): Buffer[] {
  const packets: Buffer[] = [];
  let offset = 0;
  for (const length of lengths) {
    packets.push(buffer.subarray(offset, offset + length));
    offset += length;
  }
  return packets;
}

/** An open TUN device. Open with {@link TunDevice.open}; {@link close} releases it. */
export class TunDevice {
  readonly counters: TunCounters = { packetsRead: 0, batches: 0, packetsWritten: 0, writeDrops: 0 };
  #fd: number;
  #reader: object | undefined;
  #referenced = true;

  private constructor(
    private readonly native: TunAddon,
    fd: number,
    /** The kernel's name of the device (the one asked for, or the one it picked for "tun%d"). */
    readonly name: string,
    /** Whether packets cross the fd behind a virtio_net_hdr (asked for with `offload`). */
    private readonly vnet: boolean,
    /**
     * Whether the kernel hands over and takes TCP super-packets (TSO/GRO, native/tun/offload.h).
     * Callers see ordinary packets either way: reads are cut into segments, and
     * {@link writeBatch} merges segments of one flow.
     */
    readonly offload: boolean,
  ) {
    this.#fd = fd;
  }

  /**
   * Creates (or attaches to a persistent) TUN device named `name` in this process's network
   * namespace; "" or a name with "%d" lets the kernel pick. The device starts down, without
   * addresses: see {@link tunLinkUp} and the other helpers below. Needs CAP_NET_ADMIN.
   *
   * With `offload`, the kernel's TCP segmentation and receive coalescing reach across the TUN:
   * one read or write moves up to 64 KiB of a TCP flow instead of one packet, which is most of
   * the kernel's cost per packet.
   */
  static open(name: string, options: { offload?: boolean } = {}): TunDevice {
    const native = loadTunAddon();
    if (Buffer.byteLength(name) > 15) {
      throw new PaviseError("TUN_OPEN_FAILED", `TUN name "${name}" is longer than 15 bytes`, {
        hint: "Linux interface names have at most 15 bytes",
      });
    }
    let opened: ReturnType<TunAddon["open"]>;
    try {
      opened = native.open(name, options.offload ?? false);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new PaviseError(
        "TUN_OPEN_FAILED",
        `cannot open TUN device "${name}": ${(error as Error).message}`,
        {
          hint:
            code === "EPERM"
              ? "opening a TUN device needs root (CAP_NET_ADMIN)"
              : code === "ENOENT"
                ? "/dev/net/tun is missing: load the tun module (modprobe tun)"
                : code === "EBUSY"
                  ? "another process has this TUN device open"
                  : undefined,
          cause: error,
        },
      );
    }
    return new TunDevice(native, opened.fd, opened.name, opened.vnet, opened.offload);
  }

  /** The file descriptor; -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Starts delivering received packets to `onBatch`, one call per wake-up. Once per device. */
  startReading(onBatch: TunBatchHandler, options: TunReadOptions = {}): void {
    this.#checkOpen();
    if (this.#reader !== undefined) {
      throw new PaviseError("TUN_READER_RUNNING", `TUN ${this.name} is already being read`);
    }
    const counters = this.counters;
    this.#reader = this.native.startReader(
      this.#fd,
      (buffer, lengths) => {
        counters.batches++;
        counters.packetsRead += lengths.length;
        onBatch(buffer, lengths);
      },
      (error) => {
        this.#reader = undefined;
        const wrapped = new PaviseError(
          "TUN_READ_FAILED",
          `reading TUN ${this.name} failed: ${error.message}`,
          {
            cause: error,
          },
        );
        if (options.onError) options.onError(wrapped);
        else throw wrapped;
      },
      options.batch ?? 64,
      options.maxPacket ?? 65535,
      this.vnet,
    );
    if (!this.#referenced) this.native.refReader(this.#reader, false);
  }

  /** Stops reading (the device stays open). */
  stopReading(): void {
    if (this.#reader === undefined) return;
    this.native.stopReader(this.#reader);
    this.#reader = undefined;
  }

  /** Whether a running reader keeps the process alive (it does by default, like a socket). */
  ref(): this {
    this.#referenced = true;
    if (this.#reader !== undefined) this.native.refReader(this.#reader, true);
    return this;
  }

  unref(): this {
    this.#referenced = false;
    if (this.#reader !== undefined) this.native.refReader(this.#reader, false);
    return this;
  }

  /** Hands one IP packet to the kernel; false when it was dropped (kernel queue full). */
  write(packet: Uint8Array): boolean {
    this.#checkOpen();
    try {
      const written = this.native.write(this.#fd, packet, this.vnet) === 1;
      if (written) this.counters.packetsWritten++;
      else this.counters.writeDrops++;
      return written;
    } catch (error) {
      throw this.#writeError(error);
    }
  }

  /**
   * Hands packets (at most 1024) to the kernel, one write(2) each — or, with offload, one per
   * run of consecutive segments of a TCP flow; returns how many were dropped.
   */
  writeBatch(packets: readonly Uint8Array[]): number {
    this.#checkOpen();
    try {
      const dropped = this.native.writeBatch(this.#fd, packets, this.vnet);
      this.counters.packetsWritten += packets.length - dropped;
      this.counters.writeDrops += dropped;
      return dropped;
    } catch (error) {
      const partial = error as { written?: number; dropped?: number };
      this.counters.packetsWritten += partial.written ?? 0;
      this.counters.writeDrops += partial.dropped ?? 0;
      throw this.#writeError(error);
    }
  }

  /**
   * Stops reading and closes the fd. A non-persistent device disappears from the namespace with
   * it. Safe to call again.
   */
  close(): void {
    if (this.#fd < 0) return;
    this.stopReading();
    const fd = this.#fd;
    this.#fd = -1;
    this.native.close(fd);
  }

  #checkOpen(): void {
    if (this.#fd < 0) throw new PaviseError("TUN_CLOSED", `TUN ${this.name} is closed`);
  }

  #writeError(error: unknown): PaviseError {
    const code = (error as NodeJS.ErrnoException).code;
    return new PaviseError(
      "TUN_WRITE_FAILED",
      `writing to TUN ${this.name} failed: ${(error as Error).message}`,
      {
        hint:
          code === "EIO"
            ? "the device is down: bring it up first (tunLinkUp)"
            : code === "EINVAL"
              ? "the packet is not an IPv4/IPv6 packet"
              : undefined,
        cause: error,
      },
    );
  }
}

// ---- Link setup: thin wrappers of `ip`, in the current network namespace. ----

/** Brings the device up. */
export async function tunLinkUp(name: string): Promise<void> {
  await run(["ip", "link", "set", "dev", name, "up"]);
}

/** Sets the device's MTU (inner packets larger than this are fragmented or refused by the kernel). */
export async function setTunMtu(name: string, mtu: number): Promise<void> {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new PaviseError("TUN_BAD_MTU", `MTU ${mtu} is not an integer in 68..65535`);
  }
  await run(["ip", "link", "set", "dev", name, "mtu", String(mtu)]);
}

/** Adds an address (CIDR, e.g. "198.18.5.1/32") to the device. */
export async function addTunAddress(name: string, cidr: string): Promise<void> {
  await run(["ip", "address", "add", cidr, "dev", name]);
}

/** An address range, as a traffic selector has one (both ends included). */
export interface AddressRange {
  family: 4 | 6;
  start: Uint8Array;
  end: Uint8Array;
}

/** The smallest list of prefixes that covers exactly the range (both ends included). */
export function rangeToPrefixes(range: AddressRange): string[] {
  const bits = range.family === 4 ? 32 : 128;
  const bytes = bits / 8;
  if (range.start.length !== bytes || range.end.length !== bytes) {
    throw new PaviseError("TUN_BAD_RANGE", `an IPv${range.family} range needs ${bytes}-byte addresses`);
  }
  let start = toBigInt(range.start);
  const end = toBigInt(range.end);
  if (start > end) throw new PaviseError("TUN_BAD_RANGE", "the range starts after it ends");
  const prefixes: string[] = [];
  while (start <= end) {
    // Largest block aligned at start that does not pass end.
    let size = 0;
    while (
      size < bits &&
      (start & ((1n << BigInt(size + 1)) - 1n)) === 0n &&
      start + (1n << BigInt(size + 1)) - 1n <= end
    ) {
      size++;
    }
    prefixes.push(`${formatAddress(start, range.family)}/${bits - size}`);
    start += 1n << BigInt(size);
  }
  return prefixes;
}

/**
 * Routes the remote traffic selectors' addresses through the device (`ip route replace`, so
 * doing it again is harmless). Returns the prefixes routed.
 */
export async function addTunRoutes(name: string, remote: readonly AddressRange[]): Promise<string[]> {
  const routed: string[] = [];
  for (const range of remote) {
    for (const prefix of rangeToPrefixes(range)) {
      // Metric 100: a connected route of the same prefix (metric 0) keeps winning, so a selector
      // that spans a LAN never takes that LAN away; more specific prefixes go through the TUN.
      await run([
        "ip",
        range.family === 4 ? "-4" : "-6",
        "route",
        "replace",
        prefix,
        "dev",
        name,
        "metric",
        "100",
      ]);
      routed.push(prefix);
    }
  }
  return routed;
}

function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function formatAddress(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join(".");
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  return groups.join(":");
}
