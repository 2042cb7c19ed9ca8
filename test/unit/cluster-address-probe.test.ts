import { describe, expect, it } from "vitest";
import { arpingReplyMac } from "../../src/cluster/executor/address-probe.js";

// What iputils arping 20221126 (Debian 12) printed for `arping -D -c 1 -w 1 -I vb ADDRESS`
// between two network namespaces: the address held by the other one, and one nobody has.
const ANSWERED = `ARPING 198.18.99.1 from 0.0.0.0 vb
Unicast reply from 198.18.99.1 [F2:AC:61:02:36:E0]  0.524ms
Sent 1 probes (1 broadcast(s))
Received 1 response(s)
`;
const SILENT = `ARPING 198.18.99.3 from 0.0.0.0 vb
Sent 1 probes (1 broadcast(s))
Received 0 response(s)
`;

describe("ARP probe (RFC 5227 §2.1.1) through arping -D", () => {
  it("reads the MAC of the host that answered", () => {
    expect(arpingReplyMac(ANSWERED, "198.18.99.1")).toBe("f2:ac:61:02:36:e0");
  });

  it("finds no answer when nobody replied, or when the reply is for another address", () => {
    expect(arpingReplyMac(SILENT, "198.18.99.3")).toBeUndefined();
    expect(arpingReplyMac(ANSWERED, "198.18.99.10")).toBeUndefined();
  });

  it("reads a reply line that arrived alone (stdout comes in pieces)", () => {
    expect(arpingReplyMac(ANSWERED.split("\n")[1]!, "198.18.99.1")).toBe("f2:ac:61:02:36:e0");
    expect(arpingReplyMac("Unicast reply from 198.18.99.1 [F2:AC:61:02:3", "198.18.99.1")).toBeUndefined();
  });
});
