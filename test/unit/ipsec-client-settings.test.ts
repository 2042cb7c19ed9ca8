import { describe, expect, it } from "vitest";
import { parseIpsecConfig } from "../../src/ike/config/ipsec-config.js";
import { PaviseError } from "../../src/util/errors.js";

/** The client settings of issue #6 kind 1, in swanctl.conf(5) vocabulary. */
const CLIENT = (connection: string, child: string): string => `
connections:
  web:
    local_addrs: [198.18.1.101]
    remote_addrs: [198.18.1.50]
    local: { auth: psk, id: 198.18.1.101 }
    remote: { auth: psk, id: 198.18.1.50 }
${connection}
    children:
      net:
        local_ts: [dynamic]
${child}
`;

function problems(text: string): { key: string; message: string; hint: string }[] {
  try {
    parseIpsecConfig(text, "client.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(PaviseError);
    return (err as PaviseError).problems.map((p) => ({ key: p.key, message: p.message, hint: p.hint }));
  }
  throw new Error("the configuration was accepted");
}

describe("Pavise client settings (dpd_delay, dpd_action, close_action, keyingtries, retransmit)", () => {
  it("reads the fast-recovery settings", () => {
    const config = parseIpsecConfig(
      CLIENT(
        "    dpd_delay: 1s\n    keyingtries: 0\n    retransmit: { timeout: 500ms, base: 1.5, tries: 2 }",
        "        dpd_action: restart\n        close_action: start",
      ),
    );
    const [web] = config.connections;
    expect(web).toMatchObject({
      dpdDelayMs: 1000,
      keyingtries: 0,
      retransmit: { timeoutMs: 500, base: 1.5, tries: 2 },
    });
    expect(web?.children[0]).toMatchObject({ dpdAction: "restart", closeAction: "start" });
  });

  it("defaults as swanctl: keyingtries 1, close_action none, dpd_action clear", () => {
    const [web] = parseIpsecConfig(CLIENT("", "")).connections;
    expect(web?.keyingtries).toBe(1);
    expect(web?.children[0]).toMatchObject({ dpdAction: "clear", closeAction: "none" });
  });

  it.each([
    ["    keyingtries: -1", "", "connections.web.keyingtries", /whole number/],
    ["    keyingtries: 1.5", "", "connections.web.keyingtries", /whole number/],
    ["    keyingtries: forever", "", "connections.web.keyingtries", /whole number/],
    ["", "        close_action: restart", "connections.web.children.net.close_action", /one of none, start/],
    ["", "        close_action: trap", "connections.web.children.net.close_action", /trap is not supported/],
    [
      "",
      "        dpd_action: reboot",
      "connections.web.children.net.dpd_action",
      /one of clear, restart, trap/,
    ],
    ["    dpd_delay: often", "", "connections.web.dpd_delay", /not a duration/],
    ["    retransmit: { tries: 2.5 }", "", "connections.web.retransmit.tries", /whole number/],
  ])("refuses %j %j at %s", (connection, child, key, message) => {
    const found = problems(CLIENT(connection, child));
    expect(found.map((p) => p.key)).toEqual([key]);
    expect(found[0]?.message).toMatch(message);
    expect(found[0]?.hint).not.toBe("");
  });
});
