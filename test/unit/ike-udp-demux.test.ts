import { describe, expect, it } from "vitest";
import { classifyDatagram, frameIkeMessage } from "../../src/ike/core/udp-demux.js";

const header = new Uint8Array(28).fill(1);

describe("datagrams on the IKE ports (RFC 3948 §2)", () => {
  it("port 500 carries IKE only", () => {
    expect(classifyDatagram(500, header)).toEqual({ kind: "ike", message: header });
    expect(classifyDatagram(500, new Uint8Array(10))).toMatchObject({ kind: "invalid" });
  });

  it("port 4500: non-ESP marker means IKE, 0xFF a keepalive, anything else ESP", () => {
    const framed = frameIkeMessage(4500, header);
    expect(Array.from(framed.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(classifyDatagram(4500, framed)).toEqual({ kind: "ike", message: header });
    expect(classifyDatagram(4500, Uint8Array.of(0xff))).toEqual({ kind: "keepalive" });
    const esp = Uint8Array.of(0xc0, 0xff, 0xee, 0x01, 0, 0, 0, 1, 9, 9);
    expect(classifyDatagram(4500, esp)).toEqual({ kind: "esp", packet: esp });
    expect(classifyDatagram(4500, Uint8Array.of(0, 0, 0, 0, 1))).toMatchObject({ kind: "invalid" });
    expect(classifyDatagram(4500, Uint8Array.of(1, 2))).toMatchObject({ kind: "invalid" });
    expect(classifyDatagram(4500, new Uint8Array(0))).toMatchObject({ kind: "invalid" });
  });

  it("port 500 frames nothing", () => {
    expect(frameIkeMessage(500, header)).toBe(header);
  });
});
