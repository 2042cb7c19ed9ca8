import type { IkeSaKeys, IkeSaSuite } from "../crypto/key-derivation.js";
import type { ChildSaKeys } from "./events.js";
import type { IkePath } from "./ike-path.js";
import type { TrafficSelector } from "./traffic-selector.js";

/**
 * The complete state of an established IKE SA and its Child SAs as plain JSON (bytes as
 * base64), so another node can take over exactly where this one stopped: both message-ID
 * counters and the last response (for a repeated request) are part of it (RFC 6311 §2).
 */
export interface IkeSaSnapshot {
  version: 1;
  connection: string;
  path: IkePath;
  initiator: boolean;
  spiI: string;
  spiR: string;
  suite: IkeSaSuite;
  keys: Record<keyof IkeSaKeys, string>;
  dhGroupId: number;
  remoteId: { idType: number; data: string } | undefined;
  peerFragmentation: boolean;
  window: {
    nextRequestId: number;
    expectedPeerRequestId: number;
    lastResponse: { messageId: number; datagrams: string[] } | undefined;
  };
  createdAt: number;
  lastHeardAt: number;
  rekeyAt: number | undefined;
  expireAt: number | undefined;
  children: ChildSnapshot[];
}

export interface ChildSnapshot {
  child: string;
  keys: Omit<ChildSaKeys, "keyIn" | "keyOut" | "localTs" | "remoteTs"> & {
    keyIn: { encKey: string; integKey: string };
    keyOut: { encKey: string; integKey: string };
    localTs: SelectorSnapshot[];
    remoteTs: SelectorSnapshot[];
  };
  createdAt: number;
  rekeyAt: number | undefined;
  expireAt: number | undefined;
}

type SelectorSnapshot = Omit<TrafficSelector, "start" | "end"> & { start: string; end: string };

export const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");
export const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64"));

export function selectorToJson(ts: TrafficSelector): SelectorSnapshot {
  return { ...ts, start: b64(ts.start), end: b64(ts.end) };
}

export function selectorFromJson(ts: SelectorSnapshot): TrafficSelector {
  return { ...ts, start: unb64(ts.start), end: unb64(ts.end) };
}

export function childKeysToJson(keys: ChildSaKeys): ChildSnapshot["keys"] {
  return {
    ...keys,
    keyIn: { encKey: b64(keys.keyIn.encKey), integKey: b64(keys.keyIn.integKey) },
    keyOut: { encKey: b64(keys.keyOut.encKey), integKey: b64(keys.keyOut.integKey) },
    localTs: keys.localTs.map(selectorToJson),
    remoteTs: keys.remoteTs.map(selectorToJson),
  };
}

export function childKeysFromJson(keys: ChildSnapshot["keys"]): ChildSaKeys {
  return {
    ...keys,
    keyIn: { encKey: unb64(keys.keyIn.encKey), integKey: unb64(keys.keyIn.integKey) },
    keyOut: { encKey: unb64(keys.keyOut.encKey), integKey: unb64(keys.keyOut.integKey) },
    localTs: keys.localTs.map(selectorFromJson),
    remoteTs: keys.remoteTs.map(selectorFromJson),
  };
}
