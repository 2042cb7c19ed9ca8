import { createHash } from "node:crypto";
import { addressBytes } from "../config/traffic-selector-spec.js";

/**
 * NAT_DETECTION_*_IP data (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP address | port). In the
 * IKE_SA_INIT request SPIr is zero.
 */
export function natDetectionHash(
  spiI: Uint8Array,
  spiR: Uint8Array,
  address: string,
  port: number,
): Uint8Array {
  const portBytes = Uint8Array.of(port >> 8, port & 0xff);
  return new Uint8Array(
    createHash("sha1").update(spiI).update(spiR).update(addressBytes(address)).update(portBytes).digest(),
  );
}

/**
 * Whether the hashes a peer sent show a NAT between us: its source hash must match where the
 * packet came from, its destination hash where it arrived. Any mismatch means "NAT" — which is
 * also how a peer fakes NAT to force UDP encapsulation (§2.23), as Pavise itself does.
 */
export function natDetected(
  received: { source: Uint8Array[]; destination: Uint8Array | undefined },
  spiI: Uint8Array,
  spiR: Uint8Array,
  path: { localAddress: string; localPort: number; remoteAddress: string; remotePort: number },
): { behindNat: boolean; peerBehindNat: boolean } {
  const expectSource = natDetectionHash(spiI, spiR, path.remoteAddress, path.remotePort);
  const expectDestination = natDetectionHash(spiI, spiR, path.localAddress, path.localPort);
  const peerBehindNat =
    received.source.length > 0 && !received.source.some((h) => Buffer.compare(h, expectSource) === 0);
  const behindNat =
    received.destination !== undefined && Buffer.compare(received.destination, expectDestination) !== 0;
  return { behindNat, peerBehindNat };
}
