import { describe, expect, it } from "vitest";
import { may, summarise, type ApiAction, type Grant } from "../../src/api/auth/access-policy.js";

/**
 * The roles table of design §4 as cases, each named after the Serviceguard access control
 * policy it mirrors (USER_NAME / USER_HOST / USER_ROLE; host filtering is principal.ts's).
 */
interface Case {
  name: string;
  grants: Grant[];
  action: ApiAction;
  pkg?: string;
  allowed: boolean;
  /** The role the refusal names. */
  needs?: string;
}

const MONITOR: Grant[] = [{ role: "monitor" }];
const PKG_ADMIN_ALL: Grant[] = [{ role: "package_admin" }];
const JOHN_PKGA: Grant[] = [{ role: "package_admin", package: "pkgA" }];
const TWO_PACKAGES: Grant[] = [
  { role: "package_admin", package: "pkgA" },
  { role: "package_admin", package: "pkgB" },
];
const FULL: Grant[] = [{ role: "full_admin" }];

const CASES: Case[] = [
  // MONITOR: cmviewcl, nothing else.
  { name: "monitor reads the cluster", grants: MONITOR, action: "read", allowed: true },
  {
    name: "monitor may not read a package log",
    grants: MONITOR,
    action: "package-log",
    pkg: "pkgA",
    allowed: false,
    needs: "package_admin for pkgA or full_admin",
  },
  {
    name: "monitor may not cmhaltpkg",
    grants: MONITOR,
    action: "package-operate",
    pkg: "pkgA",
    allowed: false,
  },
  {
    name: "monitor may not set a resource",
    grants: MONITOR,
    action: "package-resource",
    pkg: "pkgA",
    allowed: false,
  },
  {
    name: "monitor may not cmhaltnode",
    grants: MONITOR,
    action: "node-operate",
    allowed: false,
    needs: "full_admin",
  },
  // PACKAGE_ADMIN in the cluster file: every package, no node.
  { name: "cluster-wide package_admin reads", grants: PKG_ADMIN_ALL, action: "read", allowed: true },
  {
    name: "cluster-wide package_admin moves any package",
    grants: PKG_ADMIN_ALL,
    action: "package-operate",
    pkg: "pkgZ",
    allowed: true,
  },
  {
    name: "cluster-wide package_admin reads any log",
    grants: PKG_ADMIN_ALL,
    action: "package-log",
    pkg: "pkgZ",
    allowed: true,
  },
  {
    name: "cluster-wide package_admin sets any resource",
    grants: PKG_ADMIN_ALL,
    action: "package-resource",
    pkg: "pkgZ",
    allowed: true,
  },
  {
    name: "cluster-wide package_admin may not cmhaltnode",
    grants: PKG_ADMIN_ALL,
    action: "node-operate",
    allowed: false,
    needs: "full_admin",
  },
  // Serviceguard's example: john is PACKAGE_ADMIN in pkgA's file only.
  {
    name: "john (pkgA only) reads the cluster (PACKAGE_ADMIN implies MONITOR)",
    grants: JOHN_PKGA,
    action: "read",
    allowed: true,
  },
  {
    name: "john (pkgA only) halts pkgA",
    grants: JOHN_PKGA,
    action: "package-operate",
    pkg: "pkgA",
    allowed: true,
  },
  {
    name: "john (pkgA only) reads pkgA's log",
    grants: JOHN_PKGA,
    action: "package-log",
    pkg: "pkgA",
    allowed: true,
  },
  {
    name: "john (pkgA only) may not halt pkgB",
    grants: JOHN_PKGA,
    action: "package-operate",
    pkg: "pkgB",
    allowed: false,
    needs: "package_admin for pkgB or full_admin",
  },
  {
    name: "john (pkgA only) may not read pkgB's log",
    grants: JOHN_PKGA,
    action: "package-log",
    pkg: "pkgB",
    allowed: false,
  },
  {
    name: "john (pkgA only) may not act on an unnamed package",
    grants: JOHN_PKGA,
    action: "package-operate",
    allowed: false,
    needs: "package_admin (all packages) or full_admin",
  },
  { name: "john (pkgA only) may not cmhaltnode", grants: JOHN_PKGA, action: "node-operate", allowed: false },
  {
    name: "package names are exact (no prefix match)",
    grants: JOHN_PKGA,
    action: "package-operate",
    pkg: "pkgAB",
    allowed: false,
  },
  {
    name: "package names are exact (case matters)",
    grants: JOHN_PKGA,
    action: "package-operate",
    pkg: "pkga",
    allowed: false,
  },
  {
    name: "package_admin of two packages: the second",
    grants: TWO_PACKAGES,
    action: "package-resource",
    pkg: "pkgB",
    allowed: true,
  },
  {
    name: "package_admin of two packages: not a third",
    grants: TWO_PACKAGES,
    action: "package-resource",
    pkg: "pkgC",
    allowed: false,
  },
  // FULL_ADMIN: everything the API offers.
  { name: "full_admin reads", grants: FULL, action: "read", allowed: true },
  {
    name: "full_admin moves any package",
    grants: FULL,
    action: "package-operate",
    pkg: "pkgA",
    allowed: true,
  },
  { name: "full_admin reads any log", grants: FULL, action: "package-log", pkg: "pkgA", allowed: true },
  { name: "full_admin cmhaltnode", grants: FULL, action: "node-operate", allowed: true },
  // No grant at all (a user whose USER_HOST did not match is filtered to this).
  { name: "no grant may not even read", grants: [], action: "read", allowed: false, needs: "monitor" },
  { name: "no grant may not act", grants: [], action: "package-operate", pkg: "pkgA", allowed: false },
  // A malformed grant from code: full_admin is never package-scoped.
  {
    name: "a package-scoped full_admin does not reach nodes",
    grants: [{ role: "full_admin", package: "pkgA" }],
    action: "node-operate",
    allowed: false,
  },
];

describe("access policy (Serviceguard roles)", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const decision = may({ user: "john", grants: c.grants }, c.action, c.pkg);
      expect(decision.ok).toBe(c.allowed);
      if (!decision.ok) {
        expect(decision.message).toMatch(/^john may not .+: this needs /);
        if (c.needs) expect(decision.needs).toBe(c.needs);
      }
    });
  }

  it("says who, what and which role in a refusal", () => {
    const decision = may({ user: "bob", grants: PKG_ADMIN_ALL }, "node-operate");
    expect(decision).toEqual({
      ok: false,
      needs: "full_admin",
      message: "bob may not halt or run a node: this needs full_admin",
    });
  });

  it("covers every action (the table is total)", () => {
    const actions: ApiAction[] = [
      "read",
      "package-log",
      "package-operate",
      "package-resource",
      "node-operate",
    ];
    for (const action of actions) expect(CASES.some((c) => c.action === action && c.allowed)).toBe(true);
    for (const action of actions) expect(may({ user: "x", grants: FULL }, action, "p").ok).toBe(true);
  });

  it("summarises grants for GET /v1/session", () => {
    expect(summarise(MONITOR)).toEqual({ role: "monitor", packages: [] });
    expect(summarise(PKG_ADMIN_ALL)).toEqual({ role: "package_admin", packages: "all" });
    expect(summarise(TWO_PACKAGES)).toEqual({ role: "package_admin", packages: ["pkgA", "pkgB"] });
    expect(summarise(FULL)).toEqual({ role: "full_admin", packages: "all" });
    expect(summarise([])).toEqual({ role: undefined, packages: [] });
  });
});
