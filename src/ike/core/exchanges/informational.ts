// INFORMATIONAL (RFC 7296 §1.4): liveness checks and the deletion of the IKE SA or Child SAs.
import { ExchangeType } from "../../codec/header.js";
import type { InnerPayload } from "../../codec/payload.js";
import { PayloadType } from "../../codec/payload-type.js";
import { ProtocolId } from "../../codec/sa.js";
import { spiBytes, spiNumber } from "../payload-helpers.js";
import type { ExchangeContext, Task } from "./exchange-context.js";

/** Starts an INFORMATIONAL task of ours; false when it turned out to have nothing to do. */
export function startInformational(
  ike: ExchangeContext,
  now: number,
  task: Extract<Task, { kind: "dpd" | "delete-ike" | "delete-child" }>,
): boolean {
  switch (task.kind) {
    case "dpd":
      return sendInformational(ike, now, task, []);
    case "delete-ike":
      if (ike.state.phase.name === "established") {
        ike.state.phase = { name: "deleting" };
        for (const child of [...ike.state.children]) ike.removeChild(child, "IKE SA deleted");
      }
      return sendInformational(ike, now, task, [
        { type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] },
      ]);
    case "delete-child": {
      const child = ike.state.children.find((c) => c.keys.spiIn === task.spiIn);
      if (!child) return false;
      return sendInformational(ike, now, task, [
        {
          type: PayloadType.DELETE,
          protocolId: ProtocolId.ESP,
          spiSize: 4,
          spis: [spiBytes(child.keys.spiIn)],
        },
      ]);
    }
  }
}

function sendInformational(ike: ExchangeContext, now: number, task: Task, inner: InnerPayload[]): boolean {
  ike.state.pending = { kind: "informational", task };
  ike.request(now, ExchangeType.INFORMATIONAL, inner);
  return true;
}

export function answerInformational(
  ike: ExchangeContext,
  now: number,
  messageId: number,
  inner: InnerPayload[],
): void {
  const deletes = inner.filter((p) => p.type === PayloadType.DELETE);
  if (deletes.some((d) => d.protocolId === ProtocolId.IKE)) {
    ike.respond(ExchangeType.INFORMATIONAL, messageId, []);
    if (ike.state.phase.name === "rekeyed") ike.retire(now);
    else ike.close(now, "deleted by the peer", "deleted-by-peer");
    return;
  }
  // §1.4.1: answer a Child SA delete with the deletes of our inbound halves.
  const ours: Uint8Array[] = [];
  for (const d of deletes) {
    if (d.protocolId !== ProtocolId.ESP) continue;
    for (const spi of d.spis) {
      const child = ike.state.children.find((c) => c.keys.spiOut === spiNumber(spi));
      if (!child) continue;
      ours.push(spiBytes(child.keys.spiIn));
      ike.removeChild(child, "deleted by the peer", true);
    }
  }
  ike.respond(
    ExchangeType.INFORMATIONAL,
    messageId,
    ours.length > 0 ? [{ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: ours }] : [],
  );
}

export function handleInformationalResponse(
  ike: ExchangeContext,
  now: number,
  inner: InnerPayload[],
  task: Task,
): void {
  if (task.kind === "delete-ike") {
    if (ike.state.phase.name === "rekeyed") ike.retire(now);
    else ike.close(now, "deleted");
  } else if (task.kind === "delete-child") {
    const child = ike.state.children.find((c) => c.keys.spiIn === task.spiIn);
    if (child) ike.removeChild(child, task.reason);
  }
  void inner;
}
