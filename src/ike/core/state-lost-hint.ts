import { ExchangeType } from "../codec/header.js";
import type { IkeMessage } from "../codec/message.js";
import { NotifyType } from "../codec/notify.js";
import { PayloadType } from "../codec/payload-type.js";

/**
 * Hints that a peer lost our SAs (RFC 7296 §1.5, §2.21.4): an unprotected INVALID_IKE_SPI
 * answer to one of our requests, or an unprotected INVALID_SPI notification about our ESP.
 * Anyone can forge them, so they MUST NOT change an SA; they may only make us check liveness
 * sooner, and at most once per HINT_INTERVAL_MS per peer address, so a flood of forgeries
 * costs at most one INFORMATIONAL exchange per IKE SA per interval.
 */
export const HINT_INTERVAL_MS = 2_000;

export type StateLostNotify = "INVALID_IKE_SPI" | "INVALID_SPI";

/**
 * What a hint names: INVALID_IKE_SPI answers a request with its IKE SPIs as they were (§2.21.4);
 * INVALID_SPI carries the ESP SPI the peer did not know (§3.10.1), our outbound SPI. The
 * endpoint acts only on hints that name one of its live SAs, so an answer to the DELETE of an SA
 * we already dropped, or a blind forgery, does nothing.
 */
export type StateLostHint =
  | { notify: "INVALID_IKE_SPI"; spiI: Uint8Array; spiR: Uint8Array }
  | { notify: "INVALID_SPI"; espSpi: number | undefined };

/** The hint a message carries, if it is one: a response, unprotected, with either notify. */
export function stateLostHint(message: IkeMessage): StateLostHint | undefined {
  const header = message.header;
  // §1.5: both one-way messages have the Response flag set; we never answer them (no loops).
  if (!header.response || header.exchangeType === ExchangeType.IKE_SA_INIT || message.encrypted)
    return undefined;
  for (const payload of message.payloads) {
    if (payload.type !== PayloadType.NOTIFY) continue;
    if (payload.notifyType === NotifyType.INVALID_IKE_SPI)
      return { notify: "INVALID_IKE_SPI", spiI: header.initiatorSpi, spiR: header.responderSpi };
    if (payload.notifyType === NotifyType.INVALID_SPI) {
      // The SPI in the notify's SPI field or, as some senders put it, in its data.
      const bytes =
        payload.spi.length === 4 ? payload.spi : payload.data.length === 4 ? payload.data : undefined;
      return { notify: "INVALID_SPI", espSpi: bytes ? Buffer.from(bytes).readUInt32BE(0) : undefined };
    }
  }
  return undefined;
}

/** One acted-on hint per peer address per HINT_INTERVAL_MS; forgets addresses once quiet. */
export class HintRateLimit {
  private readonly lastActed = new Map<string, number>();

  allow(now: number, address: string): boolean {
    for (const [peer, at] of this.lastActed) if (now - at >= HINT_INTERVAL_MS) this.lastActed.delete(peer);
    if (this.lastActed.has(address)) return false;
    this.lastActed.set(address, now);
    return true;
  }
}
