import type { NotifyPayload } from "../codec/notify.js";
import type { Payload } from "../codec/payload.js";
import { PayloadType } from "../codec/payload-type.js";
import { TsType, isAddressRange, type TsPayload } from "../codec/ts.js";
import type { TrafficSelector } from "./traffic-selector.js";

/** Small conversions between payload objects and the core's own types. */

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function spiNumber(spi: Uint8Array): number {
  return spi.length === 4 ? Buffer.from(spi).readUInt32BE(0) : 0;
}

export function spiBytes(spi: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, spi);
  return bytes;
}

export function notifiesOf(payloads: readonly Payload[]): NotifyPayload[] {
  return payloads.filter((p): p is NotifyPayload => p.type === PayloadType.NOTIFY);
}

export function hasNotify(payloads: readonly Payload[], notifyType: number): boolean {
  return notifiesOf(payloads).some((n) => n.notifyType === notifyType);
}

/** The payload type whose `type` field admits T (ID payloads serve both IDi and IDr). */
export type PayloadOf<T> = Payload extends infer P
  ? P extends { type: infer U }
    ? T extends U
      ? P
      : never
    : never
  : never;

export function find<T extends Payload["type"]>(
  payloads: readonly Payload[],
  type: T,
): PayloadOf<T> | undefined {
  return payloads.find((p) => p.type === type) as PayloadOf<T> | undefined;
}

export function toWireSelector(ts: TrafficSelector): TsPayload["selectors"][number] {
  return {
    tsType: ts.family === 4 ? TsType.IPV4_ADDR_RANGE : TsType.IPV6_ADDR_RANGE,
    ipProtocol: ts.protocol,
    startPort: ts.portStart,
    endPort: ts.portEnd,
    startAddress: ts.start,
    endAddress: ts.end,
  };
}

export function fromWireSelectors(payload: TsPayload | undefined): TrafficSelector[] {
  return (payload?.selectors ?? []).filter(isAddressRange).map((s) => ({
    family: s.tsType === TsType.IPV4_ADDR_RANGE ? 4 : 6,
    protocol: s.ipProtocol,
    portStart: s.startPort,
    portEnd: s.endPort,
    start: s.startAddress,
    end: s.endAddress,
  }));
}

/** A random number in [0, max) from injected random bytes (for lifetime jitter). */
export function randomBelow(random: (n: number) => Uint8Array, max: number): number {
  if (max <= 0) return 0;
  return Buffer.from(random(4)).readUInt32BE(0) % max;
}
