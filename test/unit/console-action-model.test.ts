import { describe, expect, it } from "vitest";
import { may } from "../../src/api/auth/access-policy.js";
import { API_ROLES } from "../../src/cluster/config/api-model.js";
import type { SessionInfo } from "../../src/console/model/api-shapes.js";
import {
  mayOperateNodes,
  mayOperatePackage,
  moveChoices,
  moveTargets,
  nodeActions,
  nodeConfirmText,
  nodeRequest,
  packageActions,
  packageConfirmText,
  packageRequest,
} from "../../src/console/model/action-model.js";
import { API_ROLE_NAMES } from "../../src/console/model/roles.js";
import { statusN1Failed, statusThreeUp } from "./console-fixtures.js";

const monitor: SessionInfo = { user: "mona", role: "monitor", packages: [] };
const webAdmin: SessionInfo = { user: "pat", role: "package_admin", packages: ["web"] };
const allAdmin: SessionInfo = { user: "pam", role: "package_admin", packages: "all" };
const full: SessionInfo = { user: "alice", role: "full_admin", packages: "all" };

describe("console action model", () => {
  it("names the roles as the configuration does", () => {
    expect(API_ROLE_NAMES).toEqual(API_ROLES);
  });

  it("agrees with the access policy on who may operate packages and nodes", () => {
    const subjects = [
      { session: monitor, grants: [{ role: "monitor" as const }] },
      {
        session: webAdmin,
        grants: [{ role: "monitor" as const }, { role: "package_admin" as const, package: "web" }],
      },
      { session: allAdmin, grants: [{ role: "package_admin" as const }] },
      { session: full, grants: [{ role: "full_admin" as const }] },
    ];
    for (const { session, grants } of subjects) {
      const subject = { user: session.user, grants };
      for (const pkg of ["web", "db"]) {
        expect(mayOperatePackage(session, pkg), `${session.user} ${pkg}`).toBe(
          may(subject, "package-operate", pkg).ok,
        );
      }
      expect(mayOperateNodes(session), session.user).toBe(may(subject, "node-operate").ok);
    }
    expect(mayOperatePackage(undefined, "web")).toBe(false);
  });

  it("offers a monitor nothing, a package admin only its packages", () => {
    const view = statusThreeUp();
    const [web, db] = view.packages;
    expect(packageActions(monitor, web!, view)).toEqual([]);
    expect(packageActions(webAdmin, db!, view)).toEqual([]);
    expect(packageActions(webAdmin, web!, view).map((a) => a.label)).toEqual([
      "Halt",
      "Move…",
      "Disable switching",
      "Start maintenance",
    ]);
    expect(nodeActions(allAdmin, view.nodes[0]!)).toEqual([]);
    expect(nodeActions(full, view.nodes[0]!)).toEqual([{ kind: "node-halt", label: "Halt node" }]);
  });

  it("offers what would change something now", () => {
    const view = statusN1Failed();
    const db = view.packages[1]!;
    // db: running on n2, switching disabled.
    expect(packageActions(full, db, view).map((a) => a.kind)).toEqual([
      "halt",
      "move",
      "enable",
      "maintenance-on",
    ]);
    const web = view.packages[0]!;
    Object.assign(web, {
      nodes: [],
      status: "down",
      state: "halted",
      haltedByOperator: true,
      maintenance: true,
    });
    expect(packageActions(full, web, view).map((a) => a.label)).toEqual([
      "Run",
      "Disable switching",
      "End maintenance",
    ]);
    expect(nodeActions(full, view.nodes[0]!)).toEqual([{ kind: "node-run", label: "Run node" }]);
  });

  it("without the server's choices, moves only to nodes that are up, not its own, not disabled, not failed", () => {
    const view = statusN1Failed();
    const web = view.packages[0]!; // on n2; n1 failed
    expect(moveChoices(web, view)).toEqual([
      { node: "n1", eligible: false, why: "node n1 is failed" },
      { node: "n3", eligible: true },
    ]);
    expect(moveTargets(web, view)).toEqual(["n3"]);
    expect(moveChoices({ ...web, disabledNodes: ["n3"] }, view)[1]).toEqual({
      node: "n3",
      eligible: false,
      why: "node switching is disabled for web on n3",
    });
    expect(moveTargets({ ...web, failedOn: [{ node: "n3", reason: undefined }] }, view)).toEqual([]);
    // With the server's choices (GET /v1/packages nodeChoices), those decide, in node_name order.
    const up = statusThreeUp(); // web on n1, every node up
    const choices = [
      { node: "n3", eligible: true },
      { node: "n1", eligible: true },
      { node: "n2", eligible: false, why: "resource disk is down on n2" },
    ];
    expect(moveChoices(up.packages[0]!, up, choices)).toEqual([choices[0], choices[2]]);
    expect(moveTargets(up.packages[0]!, up, choices)).toEqual(["n3"]);
    expect(moveTargets(web, view, [{ node: "n2", eligible: true }])).toEqual([]);
    // With no target, no Move button.
    expect(packageActions(full, { ...web, disabledNodes: ["n3"] }, view).map((a) => a.kind)).not.toContain(
      "move",
    );
  });

  it("asks in words what will happen", () => {
    const view = statusThreeUp();
    const web = view.packages[0]!;
    expect(packageConfirmText("move", web, "n3")).toBe("Move web from n1 to n3? Clients see a short gap.");
    expect(packageConfirmText("halt", web)).toBe(
      "Halt web on n1? Its services stop and its addresses go away until someone runs it again.",
    );
    expect(packageConfirmText("disable", web)).toContain("keeps running on n1");
    expect(nodeConfirmText("node-halt", "n2")).toMatch(/^Halt node n2\?/);
  });

  it("posts each action with wait: false to its route", () => {
    expect(packageRequest("move", "web", "n3")).toEqual({
      method: "POST",
      path: "/v1/packages/web/move",
      body: { node: "n3", wait: false },
    });
    expect(packageRequest("halt", "web")).toEqual({
      method: "POST",
      path: "/v1/packages/web/halt",
      body: { wait: false },
    });
    expect(packageRequest("maintenance-off", "web").body).toEqual({ on: false, wait: false });
    expect(packageRequest("enable", "a/b").path).toBe("/v1/packages/a%2Fb/enable");
    expect(nodeRequest("node-run", "n1")).toEqual({
      method: "POST",
      path: "/v1/nodes/n1/run",
      body: { wait: false },
    });
  });
});
