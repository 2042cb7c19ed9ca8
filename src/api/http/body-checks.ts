import { isName, NAME_RULE } from "../../cluster/config/names.js";
import { apiError, type ApiFailure } from "./api-errors.js";

/**
 * The shape of each action's JSON body (design §5), checked before anything is read or
 * written. Total: any parsed JSON in, a typed body or a 400 out; nothing here throws on input.
 * The first problem is reported, with its JSON pointer (RFC 6901) in `where.key` so a client
 * can point at the field. Whether a named node or package exists is the operator core's
 * question (known-names.ts, with did-you-mean), not a shape question.
 */
export type Checked<T> = { ok: true; value: T } | { ok: false; failure: ApiFailure };

/** How long an action may wait for its goal: the CLI's --timeout, in ms. */
export const MAX_TIMEOUT_MS = 600_000;
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface WaitOptions {
  wait: boolean;
  timeoutMs: number;
}

/** cmrunpkg [-n node], cmhaltpkg, cmmodpkg -e/-d [-n node], and a move (halt, then run on node). */
export type PackageActionKind = "run" | "halt" | "move" | "enable" | "disable";

export interface PackageActionBody extends WaitOptions {
  node?: string | undefined;
}

/** cmmodpkg -m on|off. */
export interface MaintenanceBody extends WaitOptions {
  on: boolean;
}

/** cmsetresource: a generic resource of a package, on one node. */
export interface ResourceBody {
  status: "up" | "down";
  node: string;
}

/** cmhaltnode [-f] / cmrunnode. */
export interface NodeActionBody extends WaitOptions {
  force: boolean;
}

export interface LoginBody {
  user: string;
  password: string;
}

type Raw = Record<string, unknown>;

/** Lengths beyond any real value: refused before they reach scrypt or a message. */
const MAX_USER_LENGTH = 64;
const MAX_PASSWORD_LENGTH = 1024;

export function checkPackageActionBody(kind: PackageActionKind, body: unknown): Checked<PackageActionBody> {
  // cmhaltpkg halts wherever the package runs: a node would mean nothing.
  const keys = kind === "halt" ? ["wait", "timeoutMs"] : ["node", "wait", "timeoutMs"];
  return checked(body, keys, (raw) => {
    const node = optionalName(raw, "node");
    if (typeof node === "object") return node;
    const wait = waitOptions(raw);
    if ("failure" in wait) return wait;
    return { ok: true, value: { ...wait, ...(node !== undefined ? { node } : {}) } };
  });
}

export function checkMaintenanceBody(body: unknown): Checked<MaintenanceBody> {
  return checked(body, ["on", "wait", "timeoutMs"], (raw) => {
    if (raw.on === undefined)
      return bad("/on", undefined, "on is missing", 'send {"on": true} or {"on": false}');
    if (typeof raw.on !== "boolean")
      return bad("/on", raw.on, "on must be true or false", 'send {"on": true} or {"on": false}');
    const wait = waitOptions(raw);
    if ("failure" in wait) return wait;
    return { ok: true, value: { on: raw.on, ...wait } };
  });
}

export function checkResourceBody(body: unknown): Checked<ResourceBody> {
  return checked(body, ["status", "node"], (raw) => {
    if (raw.status !== "up" && raw.status !== "down") {
      return bad(
        "/status",
        raw.status,
        `status must be "up" or "down"`,
        'send {"status": "up", "node": "n1"}',
      );
    }
    if (raw.node === undefined) {
      return bad(
        "/node",
        undefined,
        "node is missing: a generic resource is set on one node",
        'send {"status": "up", "node": "n1"}',
      );
    }
    const node = optionalName(raw, "node");
    if (typeof node === "object") return node;
    return { ok: true, value: { status: raw.status, node: node as string } };
  });
}

export function checkNodeActionBody(body: unknown): Checked<NodeActionBody> {
  return checked(body, ["force", "wait", "timeoutMs"], (raw) => {
    if (raw.force !== undefined && typeof raw.force !== "boolean") {
      return bad(
        "/force",
        raw.force,
        "force must be true or false",
        'send {"force": true} to halt even if packages are left nowhere to run',
      );
    }
    const wait = waitOptions(raw);
    if ("failure" in wait) return wait;
    return { ok: true, value: { force: raw.force === true, ...wait } };
  });
}

export function checkLoginBody(body: unknown): Checked<LoginBody> {
  return checked(body, ["user", "password"], (raw) => {
    const example = 'send {"user": "alice", "password": "…"}';
    if (typeof raw.user !== "string" || raw.user === "" || raw.user.length > MAX_USER_LENGTH) {
      return bad(
        "/user",
        typeof raw.user === "string" ? undefined : raw.user,
        `user must be a name of 1–${MAX_USER_LENGTH} characters`,
        example,
      );
    }
    // The password is never echoed back, not even a wrong type of it.
    if (
      typeof raw.password !== "string" ||
      raw.password === "" ||
      raw.password.length > MAX_PASSWORD_LENGTH
    ) {
      return bad(
        "/password",
        undefined,
        `password must be a string of 1–${MAX_PASSWORD_LENGTH} characters`,
        example,
      );
    }
    return { ok: true, value: { user: raw.user, password: raw.password } };
  });
}

/** RFC 6901 §3: a member name as a JSON pointer token ("~" → "~0", "/" → "~1"). */
export function pointerTo(key: string): string {
  return `/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
}

/** The body must be an object of known keys; then the body's own checks run. */
function checked<T>(body: unknown, keys: readonly string[], check: (raw: Raw) => Checked<T>): Checked<T> {
  // An empty body is an empty object: every field of every action is optional or named missing.
  const value = body === undefined ? {} : body;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return bad(
      "",
      shown(value),
      "the body must be a JSON object",
      `send e.g. {} or {${keys.map((k) => `"${k}": …`).join(", ")}}`,
    );
  }
  const raw = value as Raw;
  for (const key of Object.keys(raw)) {
    if (keys.includes(key)) continue;
    return {
      ok: false,
      failure: apiError("API_UNKNOWN_FIELD", `unknown field ${JSON.stringify(printable(key))}`, {
        hint: keys.length > 0 ? `the fields here are: ${keys.join(", ")}` : "send an empty object",
        where: { key: pointerTo(printable(key)) },
      }),
    };
  }
  return check(raw);
}

function optionalName(raw: Raw, key: string): string | undefined | { ok: false; failure: ApiFailure } {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !isName(value)) {
    return bad(
      pointerTo(key),
      shown(value),
      `${key} must be a name: ${NAME_RULE}`,
      `send e.g. {"${key}": "n1"}`,
    );
  }
  return value;
}

function waitOptions(raw: Raw): WaitOptions | { ok: false; failure: ApiFailure } {
  if (raw.wait !== undefined && typeof raw.wait !== "boolean") {
    return bad(
      "/wait",
      shown(raw.wait),
      "wait must be true or false",
      'send {"wait": false} to get 202 without waiting for the goal',
    );
  }
  const timeout = raw.timeoutMs;
  if (
    timeout !== undefined &&
    (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMEOUT_MS)
  ) {
    return bad(
      "/timeoutMs",
      shown(timeout),
      `timeoutMs must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`,
      `send e.g. {"timeoutMs": ${DEFAULT_TIMEOUT_MS}}`,
    );
  }
  return { wait: raw.wait !== false, timeoutMs: timeout ?? DEFAULT_TIMEOUT_MS };
}

function bad(
  pointer: string,
  value: unknown,
  message: string,
  hint: string,
): { ok: false; failure: ApiFailure } {
  return {
    ok: false,
    failure: apiError("API_BAD_REQUEST", message, {
      hint,
      where: value === undefined ? { key: pointer } : { key: pointer, value },
    }),
  };
}

/** A value safe to echo: a short primitive as it is, anything else by its kind. */
function shown(value: unknown): unknown {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "string") return printable(value);
  if (Array.isArray(value)) return "(an array)";
  return `(${typeof value === "object" ? "an object" : typeof value})`;
}

function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}
