import { parseIpsecConfig } from "../../src/ike/config/ipsec-config.js";
import { resolveConnections } from "../../src/ike/core/connection.js";
import type { IkeEvent } from "../../src/ike/core/events.js";
import { IkeEndpoint } from "../../src/ike/core/ike-endpoint.js";
import type { IkePath } from "../../src/ike/core/ike-sa.js";
import { sharedKeyFor } from "../../src/ike/core/shared-keys.js";
import { deterministicRandom } from "../../src/ike/crypto/random.js";

/**
 * Two IKE endpoints on a virtual network with a virtual clock (after quinn-proto's `Pair`):
 * datagrams are delivered in order unless a test drops or tampers with them; `drive()` runs
 * until nothing is left to send.
 */
export class IkePair {
  now = 0;
  a: IkeEndpoint;
  b: IkeEndpoint;
  readonly eventsA: IkeEvent[] = [];
  readonly eventsB: IkeEvent[] = [];
  /** Every datagram that crossed the network, in order, with its sender. */
  readonly wire: { from: "a" | "b"; path: IkePath; message: Uint8Array }[] = [];
  /** Return false to drop a datagram (or change its bytes in place). */
  filter: (from: "a" | "b", message: Uint8Array, index: number) => boolean = () => true;

  private restarts = 0;

  constructor(
    private readonly configA: string,
    private readonly configB: string,
    private readonly options: { seed?: number; cookieThresholdB?: number } = {},
  ) {
    const seed = options.seed ?? 1;
    this.a = endpoint(configA, seed);
    this.b = endpoint(configB, seed + 1000, options.cookieThresholdB);
  }

  /** One side crashes and comes back with the same configuration and no state (new randomness). */
  restart(side: "a" | "b"): void {
    this.restarts += 1;
    const seed = (this.options.seed ?? 1) + 2000 * this.restarts;
    if (side === "a") this.a = endpoint(this.configA, seed);
    else this.b = endpoint(this.configB, seed + 1000, this.options.cookieThresholdB);
  }

  /** Delivers everything both sides send, repeatedly, until both are quiet. */
  drive(): void {
    for (let rounds = 0; rounds < 1000; rounds++) {
      let moved = false;
      for (const [from, to] of [
        [this.a, this.b],
        [this.b, this.a],
      ] as const) {
        for (let out = from.pollTransmit(); out; out = from.pollTransmit()) {
          moved = true;
          const name = from === this.a ? "a" : "b";
          this.wire.push({ from: name, path: out.path, message: out.message });
          if (!this.filter(name, out.message, this.wire.length - 1)) continue;
          const path = {
            localAddress: out.path.remoteAddress,
            localPort: out.path.remotePort,
            remoteAddress: out.path.localAddress,
            remotePort: out.path.localPort,
          };
          to.handleDatagram(this.now, path, out.message);
        }
      }
      this.collect();
      if (!moved) return;
    }
    throw new Error("IkePair.drive: still busy after 1000 rounds");
  }

  /**
   * Like drive, but in flight datagrams of both sides are delivered in an order chosen by
   * `next` (a seeded random source in [0, 1)): crossings and reorderings on a virtual network.
   */
  driveInterleaved(next: () => number): void {
    const inFlight: { from: "a" | "b"; path: IkePath; message: Uint8Array }[] = [];
    for (let rounds = 0; rounds < 10_000; rounds++) {
      for (const name of ["a", "b"] as const) {
        const from = name === "a" ? this.a : this.b;
        for (let out = from.pollTransmit(); out; out = from.pollTransmit()) {
          this.wire.push({ from: name, path: out.path, message: out.message });
          if (this.filter(name, out.message, this.wire.length - 1)) inFlight.push({ from: name, ...out });
        }
      }
      this.collect();
      if (inFlight.length === 0) return;
      const [datagram] = inFlight.splice(Math.floor(next() * inFlight.length), 1);
      const to = datagram!.from === "a" ? this.b : this.a;
      to.handleDatagram(
        this.now,
        {
          localAddress: datagram!.path.remoteAddress,
          localPort: datagram!.path.remotePort,
          remoteAddress: datagram!.path.localAddress,
          remotePort: datagram!.path.localPort,
        },
        datagram!.message,
      );
    }
    throw new Error("IkePair.driveInterleaved: still busy after 10000 deliveries");
  }

  /** Moves the clock to the next deadline of either side (or by `ms`) and drives. */
  advance(ms?: number): void {
    const next = [this.a.pollTimeout(), this.b.pollTimeout()].filter((t): t is number => t !== undefined);
    this.now = ms === undefined ? Math.max(this.now, Math.min(...next)) : this.now + ms;
    this.a.handleTimeout(this.now);
    this.b.handleTimeout(this.now);
    this.drive();
  }

  collect(): void {
    for (let e = this.a.pollEvent(); e; e = this.a.pollEvent()) this.eventsA.push(e);
    for (let e = this.b.pollEvent(); e; e = this.b.pollEvent()) this.eventsB.push(e);
  }

  types(side: "a" | "b"): string[] {
    return (side === "a" ? this.eventsA : this.eventsB).filter((e) => e.type !== "log").map((e) => e.type);
  }
}

function endpoint(text: string, seed: number, cookieThreshold?: number): IkeEndpoint {
  const config = parseIpsecConfig(text, "pair.yaml");
  return new IkeEndpoint({
    ...(cookieThreshold === undefined ? {} : { cookieThreshold }),
    // The certificate fixtures are valid from 2026-06-01 to 2036-05-31.
    wallClock: () => new Date("2027-01-01T00:00:00Z"),
    random: deterministicRandom(`ike-pair-${seed}`),
    connections: resolveConnections(config),
    sharedKey: (local, remote) => sharedKeyFor(config.sharedKeys, local, remote),
  });
}

export const PATH_A_TO_B: IkePath = {
  localAddress: "198.18.1.101",
  localPort: 500,
  remoteAddress: "198.18.1.11",
  remotePort: 500,
};

/** A PSK connection between a (198.18.1.101) and b (198.18.1.11). */
export function pskConfig(
  side: "a" | "b",
  options: { psk?: string; proposals?: string; esp?: string; dpd?: string; extra?: string } = {},
): string {
  const [me, peer] = side === "a" ? ["198.18.1.101", "198.18.1.11"] : ["198.18.1.11", "198.18.1.101"];
  return `
connections:
  test:
    local_addrs: [${me}]
    remote_addrs: [${peer}]
    proposals: [${options.proposals ?? "aes128gcm16-prfsha256-x25519"}]
    local: { auth: psk, id: ${me} }
    remote: { auth: psk, id: ${peer} }
    dpd_delay: ${options.dpd ?? "0s"}
${options.extra ?? ""}
    children:
      net:
        local_ts: [dynamic]
        remote_ts: [dynamic]
        esp_proposals: [${options.esp ?? "aes128gcm16"}]
secrets:
  ike:
    - id: [${me}, ${peer}]
      secret: "${options.psk ?? "pavise-pair-secret"}"
`;
}
