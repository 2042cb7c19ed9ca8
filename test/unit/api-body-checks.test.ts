import { describe, expect, it } from "vitest";
import { API_ERROR_STATUS } from "../../src/api/http/api-errors.js";
import {
  checkLoginBody,
  checkMaintenanceBody,
  checkNodeActionBody,
  checkPackageActionBody,
  checkResourceBody,
  DEFAULT_TIMEOUT_MS,
  MAX_TIMEOUT_MS,
  pointerTo,
  type Checked,
} from "../../src/api/http/body-checks.js";
import { isName } from "../../src/cluster/config/names.js";
import { randomJson, randomObject, type JsonNear } from "../support/random-json.js";
import { seededRandom } from "../support/seeded-random.js";

function failureOf<T>(result: Checked<T>): { code: string; key: unknown; value?: unknown; message: string } {
  if (result.ok) throw new Error(`accepted ${JSON.stringify(result.value)}`);
  const { code, message, where } = result.failure.body.error;
  return { code, key: where?.key, message, ...(where && "value" in where ? { value: where.value } : {}) };
}

describe("body checks", () => {
  it("fills in the defaults of an empty or absent body", () => {
    expect(checkPackageActionBody("move", {})).toEqual({
      ok: true,
      value: { wait: true, timeoutMs: DEFAULT_TIMEOUT_MS },
    });
    expect(checkPackageActionBody("run", undefined)).toEqual({
      ok: true,
      value: { wait: true, timeoutMs: DEFAULT_TIMEOUT_MS },
    });
    expect(checkNodeActionBody({})).toEqual({
      ok: true,
      value: { force: false, wait: true, timeoutMs: DEFAULT_TIMEOUT_MS },
    });
  });

  it("accepts each body as design §5 writes it", () => {
    expect(checkPackageActionBody("move", { node: "n3", wait: false, timeoutMs: 5000 })).toEqual({
      ok: true,
      value: { node: "n3", wait: false, timeoutMs: 5000 },
    });
    expect(checkMaintenanceBody({ on: true })).toMatchObject({ ok: true, value: { on: true } });
    expect(checkResourceBody({ status: "down", node: "n1" })).toEqual({
      ok: true,
      value: { status: "down", node: "n1" },
    });
    expect(checkNodeActionBody({ force: true })).toMatchObject({ ok: true, value: { force: true } });
    expect(checkLoginBody({ user: "alice", password: "s3cret" })).toEqual({
      ok: true,
      value: { user: "alice", password: "s3cret" },
    });
  });

  // Each bad body: the code, and the JSON pointer of the field at fault.
  const BAD: [string, () => Checked<unknown>, string, string][] = [
    ["not an object", () => checkPackageActionBody("run", [1]), "API_BAD_REQUEST", ""],
    ["null", () => checkNodeActionBody(null), "API_BAD_REQUEST", ""],
    ["a string", () => checkMaintenanceBody("on"), "API_BAD_REQUEST", ""],
    ["unknown field", () => checkPackageActionBody("run", { nodes: "n1" }), "API_UNKNOWN_FIELD", "/nodes"],
    [
      "unknown field with / and ~",
      () => checkPackageActionBody("run", { "a/b~c": 1 }),
      "API_UNKNOWN_FIELD",
      "/a~1b~0c",
    ],
    [
      "halt takes no node (cmhaltpkg)",
      () => checkPackageActionBody("halt", { node: "n1" }),
      "API_UNKNOWN_FIELD",
      "/node",
    ],
    ["node not a string", () => checkPackageActionBody("move", { node: 3 }), "API_BAD_REQUEST", "/node"],
    [
      "node not a name",
      () => checkPackageActionBody("move", { node: "n1/../x" }),
      "API_BAD_REQUEST",
      "/node",
    ],
    ["wait not boolean", () => checkPackageActionBody("run", { wait: "yes" }), "API_BAD_REQUEST", "/wait"],
    ["timeout zero", () => checkPackageActionBody("run", { timeoutMs: 0 }), "API_BAD_REQUEST", "/timeoutMs"],
    [
      "timeout too long",
      () => checkNodeActionBody({ timeoutMs: MAX_TIMEOUT_MS + 1 }),
      "API_BAD_REQUEST",
      "/timeoutMs",
    ],
    [
      "timeout fractional",
      () => checkMaintenanceBody({ on: false, timeoutMs: 1.5 }),
      "API_BAD_REQUEST",
      "/timeoutMs",
    ],
    ["maintenance without on", () => checkMaintenanceBody({}), "API_BAD_REQUEST", "/on"],
    ["maintenance on as text", () => checkMaintenanceBody({ on: "on" }), "API_BAD_REQUEST", "/on"],
    ["resource status", () => checkResourceBody({ status: "UP", node: "n1" }), "API_BAD_REQUEST", "/status"],
    ["resource without node", () => checkResourceBody({ status: "up" }), "API_BAD_REQUEST", "/node"],
    ["node force as text", () => checkNodeActionBody({ force: "true" }), "API_BAD_REQUEST", "/force"],
    ["login without user", () => checkLoginBody({ password: "x" }), "API_BAD_REQUEST", "/user"],
    [
      "login with empty password",
      () => checkLoginBody({ user: "a", password: "" }),
      "API_BAD_REQUEST",
      "/password",
    ],
    [
      "login with a huge password",
      () => checkLoginBody({ user: "a", password: "x".repeat(2000) }),
      "API_BAD_REQUEST",
      "/password",
    ],
  ];
  for (const [name, run, code, key] of BAD) {
    it(`refuses: ${name}`, () => {
      const failure = failureOf(run());
      expect(failure.code).toBe(code);
      expect(failure.key).toBe(key);
    });
  }

  it("never echoes a password, even one of the wrong type", () => {
    for (const password of [12345678, ["hunter2"], { p: "hunter2" }, "", "hunter2".repeat(500)]) {
      const result = checkLoginBody({ user: "alice", password });
      expect(JSON.stringify(result)).not.toContain("hunter2");
      expect(JSON.stringify(result)).not.toContain("12345678");
    }
  });

  it("escapes JSON pointer tokens (RFC 6901 §3)", () => {
    expect(pointerTo("a~/b")).toBe("/a~0~1b");
    expect(pointerTo("")).toBe("/");
  });
});

const CHECKERS: {
  name: string;
  near: JsonNear;
  run: (body: unknown) => Checked<unknown>;
  valid: (value: unknown) => boolean;
}[] = [
  ...(["run", "halt", "move", "enable", "disable"] as const).map((kind) => ({
    name: `package ${kind}`,
    near: { keys: ["node", "wait", "timeoutMs"], values: ["n1", "web", 60000, true, false] },
    run: (body: unknown) => checkPackageActionBody(kind, body),
    valid: (v: unknown) => {
      const b = v as { node?: unknown; wait: unknown; timeoutMs: unknown };
      return (
        (b.node === undefined || (kind !== "halt" && typeof b.node === "string" && isName(b.node))) &&
        waitValid(b)
      );
    },
  })),
  {
    name: "maintenance",
    near: { keys: ["on", "wait", "timeoutMs"], values: [true, false, 1000] },
    run: checkMaintenanceBody,
    valid: (v) =>
      typeof (v as { on: unknown }).on === "boolean" && waitValid(v as { wait: unknown; timeoutMs: unknown }),
  },
  {
    name: "resource",
    near: { keys: ["status", "node"], values: ["up", "down", "n1"] },
    run: checkResourceBody,
    valid: (v) => {
      const b = v as { status: unknown; node: unknown };
      return (b.status === "up" || b.status === "down") && typeof b.node === "string" && isName(b.node);
    },
  },
  {
    name: "node",
    near: { keys: ["force", "wait", "timeoutMs"], values: [true, false, 30000] },
    run: checkNodeActionBody,
    valid: (v) =>
      typeof (v as { force: unknown }).force === "boolean" &&
      waitValid(v as { wait: unknown; timeoutMs: unknown }),
  },
  {
    name: "login",
    near: { keys: ["user", "password"], values: ["alice", "pw"] },
    run: checkLoginBody,
    valid: (v) => {
      const b = v as { user: unknown; password: unknown };
      return (
        typeof b.user === "string" && b.user !== "" && typeof b.password === "string" && b.password !== ""
      );
    },
  },
];

function waitValid(b: { wait: unknown; timeoutMs: unknown }): boolean {
  return (
    typeof b.wait === "boolean" &&
    Number.isInteger(b.timeoutMs) &&
    (b.timeoutMs as number) >= 1 &&
    (b.timeoutMs as number) <= MAX_TIMEOUT_MS
  );
}

describe("body checks fuzz", () => {
  // Random JSON, biased toward each checker's own fields: never a throw, an accepted body always
  // well-typed, a refusal always a 400 with a known code, a pointer, a message and a fix.
  const RUNS = 3000;
  for (const checker of CHECKERS) {
    it(`${checker.name}: ${RUNS} random bodies`, () => {
      const seed = 0x5eed + checker.name.length * 7919;
      const random = seededRandom(seed);
      let accepted = 0;
      for (let i = 0; i < RUNS; i++) {
        const body = random() < 0.8 ? randomObject(random, checker.near) : randomJson(random, checker.near);
        let result: Checked<unknown>;
        try {
          result = checker.run(body);
        } catch (err) {
          throw new Error(`seed ${seed} run ${i}: threw ${String(err)} on ${JSON.stringify(body)}`);
        }
        if (result.ok) {
          accepted++;
          if (!checker.valid(result.value))
            throw new Error(
              `seed ${seed} run ${i}: accepted ${JSON.stringify(body)} as ${JSON.stringify(result.value)}`,
            );
          continue;
        }
        const { status, body: answer } = result.failure;
        const error = answer.error;
        const context = `seed ${seed} run ${i}: ${JSON.stringify(body)} → ${JSON.stringify(answer)}`;
        if (status !== 400 || API_ERROR_STATUS[error.code] !== 400)
          throw new Error(`status ${status}: ${context}`);
        if (!error.message || !error.hint) throw new Error(`incomplete: ${context}`);
        const key = error.where?.key;
        if (typeof key !== "string" || (key !== "" && !key.startsWith("/")))
          throw new Error(`no pointer: ${context}`);
        if (JSON.stringify(answer).length > 1000) throw new Error(`unbounded: ${context}`);
      }
      // The bias must reach accepted bodies too, or the fuzz only ever tests the first check.
      expect(accepted).toBeGreaterThan(RUNS / 100);
    });
  }
});
