import { describe, expect, it } from "vitest";
import { clusterStateFrom, snapshotFrom } from "../../src/cluster/agent/cluster-state.js";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import type { KeyValue } from "../../src/cluster/etcd/wire.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import type { OperatorResult } from "../../src/cluster/operator/perform-action.js";
import { statusView, type EtcdMemberAnswer } from "../../src/cli/status-render.js";
import { summarise } from "../../src/api/auth/access-policy.js";
import { API_ERROR_CODES, apiError } from "../../src/api/http/api-errors.js";
import {
  checkLoginBody,
  checkMaintenanceBody,
  checkNodeActionBody,
  checkPackageActionBody,
  checkResourceBody,
  type Checked,
} from "../../src/api/http/body-checks.js";
import { API_SCHEMAS } from "../../src/api/openapi/schemas.js";
import type { StreamReset, StreamSnapshot } from "../../src/api/stream/stream-messages.js";
import { ApiSchemaValidator } from "../support/api-schema-validator.js";
import { eventAt, statusViewAt } from "../support/memory-view-source.js";
import { randomJson, randomObject, type JsonNear } from "../support/random-json.js";
import { seededRandom } from "../support/seeded-random.js";

// The API's JSON Schemas (openapi/schemas.ts) against the code that makes and checks the
// bodies: views from the real statusView(), errors from apiError(), and the action bodies,
// where schema and body-checks.ts must accept exactly the same bodies.
const validator = new ApiSchemaValidator();
const valid = (name: string, value: unknown): string | undefined => validator.problems(name, value);

const config = parseClusterConfig(`cluster_name: demo
etcd:
  endpoints: [http://198.18.2.11:2379, http://198.18.2.12:2379]
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
nodes:
  - { name: n1, interfaces: [{ subnet: public, primary: lan0, standby: [lan1] }] }
  - { name: n2, interfaces: [{ subnet: public, primary: lan0 }] }
packages:
  - name: web
    node_name: [n1, n2]
    ip_address: [{ address: 198.18.1.50, subnet: public }]
    services: [{ name: echo, command: "sleep 1000" }]
  - name: db
    node_name: [n2, n1]
    ip_address: [{ address: 198.18.1.51, subnet: public }]
  - name: batch
    node_name: [n1, n2]
    auto_run: no
    dependencies:
      - { name: needs-db, package: db, condition: up, location: same_node }
`);

function realStatusView() {
  const keys = new ClusterKeys("/pavise/demo/");
  const kv = (key: string, value: unknown, lease = "0"): KeyValue => ({
    key,
    value: JSON.stringify(value),
    createRevision: 1,
    modRevision: 1,
    version: 1,
    lease,
  });
  const T = Date.UTC(2026, 10, 27, 14);
  const snapshot = snapshotFrom(
    keys,
    {
      nodes: [kv(keys.node("n2"), { name: "n2", status: "up", since: T }, "22")],
      owners: [kv(keys.owner("web", "n2"), { node: "n2" }, "22")],
      status: [
        kv(keys.status("web", "n2"), { package: "web", node: "n2", status: "up", since: T + 1 }, "22"),
        kv(
          keys.status("db", "n2"),
          { package: "db", node: "n2", status: "failed", reason: "exit 1", since: T },
          "22",
        ),
      ],
      placements: kv(keys.placements, { web: ["n2"], db: ["n2"] }),
      leader: kv(keys.leader, "n2", "22"),
    },
    42,
  );
  const etcd: EtcdMemberAnswer[] = [
    { endpoint: "http://198.18.2.11:2379", reachable: false, error: "cannot connect" },
    { endpoint: "http://198.18.2.12:2379", reachable: true, memberId: "2", leader: "2" },
  ];
  return statusView({ config, state: clusterStateFrom(config, snapshot), snapshot, etcd });
}

describe("API schemas", () => {
  it("every component schema compiles under ajv's strict 2020-12 mode", () => {
    for (const name of Object.keys(API_SCHEMAS)) expect(() => validator.validator(name), name).not.toThrow();
  });

  it("StatusView describes what statusView() makes (through JSON, as the API sends it)", () => {
    const view = JSON.parse(JSON.stringify(realStatusView())) as unknown;
    expect(valid("StatusView", view)).toBeUndefined();
    expect(valid("StatusView", { ...(view as object), servedBy: "n1", revision: 42 })).toBeUndefined();
    expect(valid("StatusView", statusViewAt(7))).toBeUndefined();
    // And it can fail: a status the code never makes, a missing field, an unknown field.
    const broken = JSON.parse(JSON.stringify(view)) as { nodes: { status: string }[]; packages: object[] };
    broken.nodes[0]!.status = "sleeping";
    expect(valid("StatusView", broken)).toMatch(/status/);
    const { healthy: _h, ...noHealthy } = view as Record<string, unknown>;
    expect(valid("StatusView", noHealthy)).toMatch(/healthy/);
    const extra = JSON.parse(JSON.stringify(view)) as { packages: Record<string, unknown>[] };
    extra.packages[0]!.colour = "red";
    expect(valid("StatusView", extra)).toMatch(/additional/);
  });

  it("EventView, the stream's messages, Session and OperatorResult", () => {
    expect(
      valid("EventView", eventAt(5, "plan-move", { reason: "node n1 failed", from: "n1" })),
    ).toBeUndefined();
    expect(valid("EventView", { ...eventAt(5), revision: "5" })).toMatch(/revision/);
    const snapshot: StreamSnapshot = { status: statusViewAt(9), events: [eventAt(8)] };
    expect(valid("StreamSnapshot", snapshot)).toBeUndefined();
    const reset: StreamReset = { reason: "compacted", lastEventId: "3" };
    expect(valid("StreamReset", reset)).toBeUndefined();
    for (const grants of [
      [],
      [{ role: "monitor" as const }],
      [{ role: "package_admin" as const, package: "web" }],
    ]) {
      const session = JSON.parse(
        JSON.stringify({ user: "alice", auth: "password", ...summarise(grants) }),
      ) as unknown;
      expect(valid("Session", session), JSON.stringify(session)).toBeUndefined();
    }
    const results: OperatorResult[] = [
      {
        command: "pavise pkg move web",
        serviceguard: "cmhaltpkg web; cmrunpkg -n n2 web",
        by: "alice@h",
        intent: { requestedNode: "n2" },
        ok: true,
        waited: true,
        ms: 812,
        state: "web: up on n2",
      },
      {
        command: "pavise pkg halt web",
        serviceguard: "cmhaltpkg web",
        by: "alice@h",
        intent: undefined,
        ok: true,
        waited: false,
      },
      {
        command: "pavise pkg run web",
        serviceguard: "cmrunpkg web",
        by: "a@h",
        intent: {},
        ok: false,
        waited: true,
        ms: 60000,
        state: "web: down",
        reason: "timed out",
      },
    ];
    for (const r of results) expect(valid("OperatorResult", JSON.parse(JSON.stringify(r)))).toBeUndefined();
  });

  it("ErrorBody describes apiError() for every code, and the body checks' failures", () => {
    for (const code of API_ERROR_CODES) {
      const failure = apiError(code, `m ${code}`, { hint: "h", where: { key: "/x", value: 3 } });
      expect(valid("ErrorBody", JSON.parse(JSON.stringify(failure.body))), code).toBeUndefined();
    }
    const bad = checkResourceBody({ status: "sideways" });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(valid("ErrorBody", bad.failure.body)).toBeUndefined();
    expect(valid("ErrorBody", { error: { code: "NOT_A_CODE", message: "x" } })).toMatch(/code/);
  });

  describe("action bodies: the schema accepts exactly what body-checks.ts accepts", () => {
    const WAIT_VALUES = [true, false, 1, 600_000, 600_001, 0, 60_000, 1.5, "60000", "true"];
    const NAMES = ["n1", "web-1", "a", "a.b_c", "-n1", "n1-", "x".repeat(39), "x".repeat(40), "", "é", "n 1"];
    const cases: {
      schema: string;
      check: (body: unknown) => Checked<unknown>;
      near: JsonNear;
    }[] = [
      ...(["run", "move", "enable", "disable"] as const).map((kind) => ({
        schema: "PackageActionBody",
        check: (b: unknown) => checkPackageActionBody(kind, b),
        near: { keys: ["node", "wait", "timeoutMs"], values: [...NAMES, ...WAIT_VALUES] },
      })),
      {
        schema: "PackageHaltBody",
        check: (b: unknown) => checkPackageActionBody("halt", b),
        near: { keys: ["node", "wait", "timeoutMs"], values: [...NAMES, ...WAIT_VALUES] },
      },
      {
        schema: "MaintenanceBody",
        check: checkMaintenanceBody,
        near: { keys: ["on", "wait", "timeoutMs"], values: [true, false, ...WAIT_VALUES] },
      },
      {
        schema: "ResourceBody",
        check: checkResourceBody,
        near: { keys: ["status", "node"], values: ["up", "down", "UP", ...NAMES] },
      },
      {
        schema: "NodeActionBody",
        check: checkNodeActionBody,
        near: { keys: ["force", "wait", "timeoutMs"], values: [true, false, ...WAIT_VALUES] },
      },
      {
        schema: "LoginBody",
        check: checkLoginBody,
        near: {
          keys: ["user", "password"],
          values: ["alice", "", "a".repeat(64), "a".repeat(65), "p".repeat(1024), "p".repeat(1025), "é", 7],
        },
      },
    ];

    /** Every combination of the near values (or the key absent) over the checker's keys. */
    function* combinations(near: JsonNear): Generator<Record<string, unknown>> {
      const [first, ...rest] = near.keys;
      if (first === undefined) {
        yield {};
        return;
      }
      for (const tail of combinations({ keys: rest, values: near.values })) {
        yield tail;
        for (const value of near.values) yield { [first]: value, ...tail };
      }
    }

    for (const [i, c] of cases.entries()) {
      it(`${c.schema} (case ${i + 1})`, () => {
        const validate = validator.validator(c.schema);
        let accepted = 0;
        let refused = 0;
        const compare = (body: unknown, what: string): void => {
          const byCheck = c.check(body).ok;
          expect(validate(body), `${what}: ${JSON.stringify(body)}`).toBe(byCheck);
          if (byCheck) accepted++;
          else refused++;
        };
        for (const body of combinations(c.near)) compare(body, "combination");
        for (let seed = 1; seed <= 3000; seed++) {
          const random = seededRandom(seed);
          compare(
            random() < 0.85 ? randomObject(random, c.near) : randomJson(random, c.near),
            `seed ${seed}`,
          );
        }
        // Both sides were reached, so the comparison said something.
        expect(accepted).toBeGreaterThanOrEqual(10);
        expect(refused).toBeGreaterThanOrEqual(10);
      });
    }

    it("one deliberate deviation: lengths beyond the BMP (JSON Schema counts code points, the check UTF-16 units)", () => {
      const user = "😀".repeat(40); // 40 code points, 80 UTF-16 units
      expect(checkLoginBody({ user, password: "p" }).ok).toBe(false);
      expect(validator.validator("LoginBody")({ user, password: "p" })).toBe(true);
      // Counted as JavaScript counts, they agree again.
      const asJavaScript = new ApiSchemaValidator(API_SCHEMAS, { unicode: false });
      expect(asJavaScript.validator("LoginBody")({ user, password: "p" })).toBe(false);
    });
  });
});
