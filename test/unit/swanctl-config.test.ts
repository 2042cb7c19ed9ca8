import { describe, expect, it } from "vitest";
import { renderPskTunnel } from "../../src/lab/strongswan/swanctl-config.js";
import { PaviseError } from "../../src/util/errors.js";

// The swanctl.conf the lab writes for a strongSwan peer: the liveness settings of a client the
// cluster cannot contact (docs/ipsec-packages-design.md §1, §9 kind 3) land in the right section.
const BASE = { name: "web", localAddress: "198.18.1.101", remoteAddress: "198.18.1.50", psk: "k" };

/** The lines of the section that opens with `header` (e.g. "web {"), up to its closing brace. */
function section(conf: string, header: string): string[] {
  const lines = conf.split("\n").map((l) => l.trim());
  const start = lines.indexOf(header);
  expect(start, `section ${header} in:\n${conf}`).toBeGreaterThanOrEqual(0);
  let depth = 0;
  const body: string[] = [];
  for (const line of lines.slice(start)) {
    if (line.endsWith("{")) depth++;
    if (line === "}") depth--;
    if (depth === 1 && !line.endsWith("{") && line !== "}") body.push(line);
    if (depth === 0) break;
  }
  return body;
}

describe("renderPskTunnel: liveness settings of a kind-3 client", () => {
  it("writes dpd_delay and keyingtries on the connection, dpd_action on the child", () => {
    const conf = renderPskTunnel({ ...BASE, dpdDelay: "1s", dpdAction: "restart", keyingtries: 0 });
    const connection = section(conf, "web {");
    expect(connection).toContain("dpd_delay = 1s");
    expect(connection).toContain("keyingtries = 0");
    expect(connection).not.toContain("dpd_action = restart");
    // The child section is the second "web {" (the child is named like the connection).
    const child = section(conf.slice(conf.indexOf("children {")), "web {");
    expect(child).toContain("dpd_action = restart");
    expect(child).not.toContain("keyingtries = 0");
  });

  it("leaves keyingtries out unless asked (charon's default: 1)", () => {
    expect(renderPskTunnel(BASE)).not.toMatch(/keyingtries/);
    expect(renderPskTunnel({ ...BASE, keyingtries: 3 })).toMatch(/^ {4}keyingtries = 3$/m);
  });

  it("refuses a keyingtries that is not a whole number >= 0, naming the key", () => {
    for (const bad of [-1, 1.5, Number.NaN]) {
      let error: unknown;
      try {
        renderPskTunnel({ ...BASE, keyingtries: bad });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PaviseError);
      expect((error as PaviseError).code).toBe("SWANCTL_CONFIG_INVALID");
      expect((error as PaviseError).where).toMatchObject({ key: "keyingtries" });
    }
  });
});
