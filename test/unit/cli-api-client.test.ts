import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { connectionError, errorFromAnswer, forCli, NO_CREDENTIALS_HINT } from "../../src/cli/api-answer.js";
import { apiRequest } from "../../src/cli/api-client.js";
import { followOverApi } from "../../src/cli/api-event-follow.js";
import type { LoggedEvent } from "../../src/cli/events-render.js";
import { ANSWER_MARGIN_MS, apiActionCall, runOperatorOverApi } from "../../src/cli/api-operator.js";
import { apiTargetFrom, type ApiTarget } from "../../src/cli/api-target.js";
import { parseOperatorArgs } from "../../src/cli/operator-args.js";
import { createLabCa, issueCertificate, type LabCertificate } from "../../src/lab/lab-ca.js";
import { describeError, PaviseError } from "../../src/util/errors.js";

// `--api URL` (src/cli/api-*.ts): the options and credentials, the routes and bodies of each
// action, how API errors and failed connections become the CLI's errors, and the client
// against a real node:https server with a CA, a client certificate and a bearer token.

const usage = "usage: test";

describe("--api and its credentials", () => {
  it("no --api: etcd (undefined); an --api-* option alone is a usage error", () => {
    expect(apiTargetFrom({}, {}, usage)).toBeUndefined();
    expect(() => apiTargetFrom({ "api-cert": "c.crt" }, {}, usage)).toThrow(
      /--api-cert is for use with --api URL/,
    );
  });
  it("a client certificate, a token file, PAVISE_API_TOKEN, in that order; the CA from --api-ca or PAVISE_API_CA", () => {
    const url = "https://198.18.1.11:7443";
    const env = { PAVISE_API_TOKEN: " tok \n", PAVISE_API_CA: "/env/ca.crt" };
    const cert = apiTargetFrom({ api: url, "api-cert": "u.crt", "api-key": "u.key" }, env, usage)!;
    expect(cert.credentials).toEqual({ kind: "certificate", certFile: "u.crt", keyFile: "u.key" });
    expect(cert.caFile).toBe("/env/ca.crt");
    expect(cert.url.host).toBe("198.18.1.11:7443");
    const file = apiTargetFrom({ api: url, "api-token-file": "t", "api-ca": "ca.crt" }, env, usage)!;
    expect([file.credentials, file.caFile]).toEqual([{ kind: "token-file", file: "t" }, "ca.crt"]);
    expect(apiTargetFrom({ api: url }, env, usage)!.credentials).toEqual({ kind: "token", token: "tok" });
    expect(apiTargetFrom({ api: url }, {}, usage)).toMatchObject({
      caFile: undefined,
      credentials: { kind: "none" },
    });
  });
  it.each([
    [{ api: "198.18.1.11:7443" }, /is not an https:\/\/ URL|is not a URL/],
    [{ api: "http://198.18.1.11:7443" }, /not an https:\/\/ URL/],
    [{ api: "https://u:p@198.18.1.11:7443" }, /give the node's address only/],
    [{ api: "https://n1:7443", "api-cert": "c" }, /--api-cert needs --api-key/],
    [{ api: "https://n1:7443", "api-key": "k" }, /--api-key needs --api-cert/],
    [{ api: "https://n1:7443", "api-cert": "c", "api-key": "k", "api-token-file": "t" }, /not both/],
  ])("refuses %j as a usage error", (values, message) => {
    let thrown: unknown;
    try {
      apiTargetFrom(values, {}, usage);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PaviseError);
    expect((thrown as PaviseError).code).toBe("CLI_USAGE");
    expect((thrown as PaviseError).message).toMatch(message);
  });
  it("operator commands: --api instead of --config, not both; --timeout over the API at most 10m", () => {
    const spec = { min: 1, max: 1, what: "PKG" };
    const args = parseOperatorArgs(["web", "--api", "https://n1:7443", "-n", "n3"], usage, spec, {});
    expect([args.config, args.api?.url.href, args.node, args.waitGiven]).toEqual([
      "",
      "https://n1:7443/",
      "n3",
      false,
    ]);
    expect(() => parseOperatorArgs(["web"], usage, spec, {})).toThrow(/--config FILE .*, or --api URL/);
    expect(() => parseOperatorArgs(["web", "--config", "c", "--api", "https://n1"], usage, spec, {})).toThrow(
      /not both/,
    );
    expect(() =>
      parseOperatorArgs(["web", "--api", "https://n1", "--timeout", "11m"], usage, spec, {}),
    ).toThrow(/at most 10m/);
    expect(parseOperatorArgs(["web", "--api", "https://n1", "--no-wait"], usage, spec, {}).waitGiven).toBe(
      true,
    );
  });
});

describe("each action's route and body (the API's body checks)", () => {
  const wait = { wait: true, timeoutMs: 30_000 };
  it.each([
    [
      { kind: "package", action: "move", package: "web", node: "n3" },
      "/v1/packages/web/move",
      { node: "n3", ...wait },
    ],
    [{ kind: "package", action: "run", package: "web", node: undefined }, "/v1/packages/web/run", wait],
    [{ kind: "package", action: "halt", package: "web" }, "/v1/packages/web/halt", wait],
    [
      { kind: "package", action: "maintenance", package: "web", on: true },
      "/v1/packages/web/maintenance",
      { on: true, ...wait },
    ],
    [
      { kind: "node", action: "halt", node: "n2", force: true },
      "/v1/nodes/n2/halt",
      { force: true, ...wait },
    ],
    [
      { kind: "resource", package: "web", resource: "disk", status: "down", node: "n2" },
      "/v1/packages/web/resources/disk",
      { status: "down", node: "n2" },
    ],
  ] as const)("%j → POST %s", (action, path, body) => {
    const call = apiActionCall(action, wait);
    expect([call.method, call.path, call.body]).toEqual(["POST", path, body]);
    // The answer comes once the cluster got there: the request may take the timeout and a margin.
    expect(call.timeoutMs).toBe(
      action.kind === "resource" ? 60_000 + ANSWER_MARGIN_MS : 30_000 + ANSWER_MARGIN_MS,
    );
  });
  it("names are path segments, escaped; --no-wait asks the API not to wait", () => {
    const call = apiActionCall(
      { kind: "package", action: "halt", package: "a/b c" },
      { wait: false, timeoutMs: 60_000 },
    );
    expect(call.path).toBe("/v1/packages/a%2Fb%20c/halt");
    expect(call.body).toEqual({ wait: false, timeoutMs: 60_000 });
  });
});

describe("API errors and failed connections as the CLI's errors", () => {
  const url = "https://198.18.1.11:7443";
  it("an API error keeps its code, message, hint and where", () => {
    const body = {
      error: {
        code: "API_FORBIDDEN",
        message: "monitor may not run, halt, move or switch package web",
        hint: "ask for the role",
        where: { key: "/node" },
      },
    };
    const err = errorFromAnswer(url, 403, JSON.stringify(body));
    expect(err.toJSON()).toEqual(body.error);
    expect(describeError(err)).toBe(
      "error[API_FORBIDDEN]: monitor may not run, halt, move or switch package web\n  at: key /node\n  fix: ask for the role",
    );
  });
  it("a 401 to a command that sent no credentials gets the CLI's hint; with credentials the API's stays", () => {
    const body = {
      error: { code: "API_UNAUTHENTICATED", message: "this request carries no credentials", hint: "log in" },
    };
    const err = errorFromAnswer(url, 401, JSON.stringify(body));
    expect(forCli(err, false).toJSON()).toEqual({ ...body.error, hint: NO_CREDENTIALS_HINT });
    expect(forCli(err, true)).toBe(err);
    const forbidden = errorFromAnswer(
      url,
      403,
      JSON.stringify({ error: { code: "API_FORBIDDEN", message: "no" } }),
    );
    expect(forCli(forbidden, false)).toBe(forbidden);
  });
  it("an answer that is not the API's names the URL and shows what came", () => {
    const err = errorFromAnswer(url, 502, "<html>Bad Gateway</html>");
    expect(err.code).toBe("CLI_API_BAD_ANSWER");
    expect(err.message).toBe(`${url} answered 502 without an API error: "<html>Bad Gateway</html>"`);
  });
  it("no answer: the URL and the reason; an untrusted certificate points at --api-ca", () => {
    const refused = connectionError(url, { code: "ECONNREFUSED", message: "connect ECONNREFUSED" });
    expect([refused.code, refused.message]).toEqual([
      "CLI_API_UNREACHABLE",
      `cannot reach the API at ${url}: the connection was refused (nothing listens there)`,
    ]);
    const late = connectionError(url, { message: "no answer in time" }, 75_000);
    expect(late.message).toBe(`the API at ${url} did not answer within 75.0 s`);
    const untrusted = connectionError(url, {
      code: "SELF_SIGNED_CERT_IN_CHAIN",
      message: "self-signed certificate in certificate chain",
    });
    expect([untrusted.code, untrusted.hint]).toEqual([
      "CLI_API_UNTRUSTED",
      "give the cluster CA with --api-ca FILE (or PAVISE_API_CA)",
    ]);
    const other = connectionError(url, { code: "EWHATEVER", message: "something odd" });
    expect(other.message).toBe(`cannot reach the API at ${url}: something odd`);
  });
});

describe("the client against a real HTTPS server", () => {
  const dir = mkdtempSync(join(tmpdir(), "pavise-cli-api-client-"));
  let server: Server;
  let base = "";
  let caFile = "";
  let client: LabCertificate;
  let delayMs = 0;
  /** The Last-Event-ID of each stream request. */
  const streams: string[] = [];
  const seen: {
    method: string;
    url: string;
    auth: string | undefined;
    cn: string | undefined;
    body: string;
  }[] = [];

  beforeAll(async () => {
    const ca = await createLabCa(join(dir, "ca"), "cliapi");
    const cert = await issueCertificate(ca, "server", ["127.0.0.1"]);
    client = await issueCertificate(ca, "pkgadmin", []);
    caFile = ca.caCert;
    server = createServer(
      {
        cert: readFileSync(cert.cert),
        key: readFileSync(cert.key),
        ca: readFileSync(ca.caCert),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          const socket = req.socket as TLSSocket;
          const peer = socket.authorized ? String(socket.getPeerCertificate().subject?.CN) : undefined;
          seen.push({
            method: req.method!,
            url: req.url!,
            auth: req.headers.authorization,
            cn: peer,
            body,
          });
          const answer = (status: number, value: unknown): void => {
            setTimeout(() => {
              res.writeHead(status, { "content-type": "application/json" });
              res.end(JSON.stringify(value));
            }, delayMs);
          };
          if (req.url === "/v1/packages/wbe/move")
            return answer(404, {
              error: {
                code: "NO_SUCH_PACKAGE",
                message: 'no package "wbe" (did you mean "web"?)',
                hint: "name one",
              },
            });
          if (req.url === "/v1/packages/web/halt")
            return answer(409, {
              error: { code: "OPERATOR_REFUSED", message: "web cannot run on n2: disk is down" },
            });
          if (req.url?.startsWith("/v1/packages/web/"))
            return answer(200, {
              command: "pavise pkg move web --node n3",
              serviceguard: "cmhaltpkg web; cmrunpkg -n n3 web; cmmodpkg -e web",
              by: `${peer ?? "?"}@c1`,
              intent: {},
              ok: true,
              waited: true,
              ms: 1234,
              state: "web: up on n3",
            });
          if (req.url === "/v1/stream") {
            streams.push(req.headers["last-event-id"] as string);
            res.writeHead(200, { "content-type": "text/event-stream" });
            const ev = (revision: number): string =>
              JSON.stringify({ time: 1, node: "n1", kind: "operator", message: `m${revision}`, revision });
            if (streams.length === 1) {
              // A snapshot that repeats what was shown (5) and brings 6, then 6 again and 7, split mid-line.
              res.write(
                `retry: 2000\nevent: snapshot\nid: 6\ndata: ${JSON.stringify({ status: {}, events: [JSON.parse(ev(5)), JSON.parse(ev(6))] })}\n\n`,
              );
              res.write(`event: event\nid: 6\ndata: ${ev(6)}\n\nevent: event\nid: 7\nda`);
              res.end(`ta: ${ev(7)}\n\n`);
            } else {
              res.write(`: hb\n\nevent: event\nid: 8\ndata: ${ev(8)}\n\n`);
            }
            return;
          }
          if (req.url === "/text") {
            res.writeHead(200);
            return res.end("hello");
          }
          return answer(200, { path: req.url });
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    delayMs = 0;
  });

  const target = (
    credentials: ApiTarget["credentials"],
    ca: string | undefined = caFile,
    url = base,
  ): ApiTarget => ({
    url: new URL(url),
    caFile: ca,
    credentials,
  });

  it("sends the client certificate, or the bearer token from a file (trimmed), and a JSON body", async () => {
    const cert = target({ kind: "certificate", certFile: client.cert, keyFile: client.key });
    const answer = await apiRequest(cert, {
      method: "POST",
      path: "/v1/packages/web/run",
      body: { wait: true },
    });
    expect(answer.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({
      method: "POST",
      cn: "pkgadmin",
      auth: undefined,
      body: '{"wait":true}',
    });
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "s3cret\n");
    await apiRequest(target({ kind: "token-file", file: tokenFile }), { method: "GET", path: "/v1/status" });
    expect(seen.at(-1)).toMatchObject({
      method: "GET",
      url: "/v1/status",
      auth: "Bearer s3cret",
      cn: undefined,
    });
  });

  it("keeps a path in the URL as a prefix", async () => {
    const answer = await apiRequest(target({ kind: "none" }, caFile, `${base}/pavise/`), {
      method: "GET",
      path: "/v1/status",
    });
    expect(answer.body).toEqual({ path: "/pavise/v1/status" });
  });

  it("without the cluster CA the server is not trusted; a missing file is named", async () => {
    await expect(
      apiRequest({ ...target({ kind: "none" }), caFile: undefined }, { method: "GET", path: "/v1/status" }),
    ).rejects.toMatchObject({
      code: "CLI_API_UNTRUSTED",
      hint: "give the cluster CA with --api-ca FILE (or PAVISE_API_CA)",
    });
    expect(() =>
      apiRequest(target({ kind: "none" }, join(dir, "nope.crt")), { method: "GET", path: "/" }),
    ).toThrow(/cannot read --api-ca .*nope\.crt/);
  });

  it("a slow answer is given up after the deadline, naming the URL", async () => {
    delayMs = 1_000;
    const started = performance.now();
    await expect(
      apiRequest(target({ kind: "none" }), { method: "GET", path: "/v1/status", timeoutMs: 200 }),
    ).rejects.toMatchObject({
      code: "CLI_API_UNREACHABLE",
      message: `the API at ${base} did not answer within 0.2 s`,
    });
    expect(performance.now() - started).toBeLessThan(900);
  });

  it("a 2xx answer that is not JSON is refused", async () => {
    await expect(
      apiRequest(target({ kind: "none" }), { method: "GET", path: "/text" }),
    ).rejects.toMatchObject({
      code: "CLI_API_BAD_ANSWER",
    });
  });

  it("an action: the CLI's line on stdout (exit 0); an unknown package is a usage error (2), a refusal stays itself (1)", async () => {
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => out.push(String(c)) > 0);
    vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => err.push(String(c)) > 0);
    const cert = target({ kind: "certificate", certFile: client.cert, keyFile: client.key });
    const options = { json: false, wait: true, timeoutMs: 5_000 };
    const move = { kind: "package", action: "move", package: "web", node: "n3" } as const;
    expect(await runOperatorOverApi(cert, move, options, usage, ["NO_SUCH_PACKAGE"])).toBe(0);
    expect(out.join("")).toBe("web: up on n3 (1.2 s)\n");
    expect(err.join("")).toBe(
      `pavise pkg move web --node n3: recorded in etcd by pkgadmin@c1 (through ${base})\n`,
    );
    await expect(
      runOperatorOverApi(cert, { ...move, package: "wbe" }, options, usage, ["NO_SUCH_PACKAGE"]),
    ).rejects.toMatchObject({
      code: "CLI_USAGE",
      message: 'no package "wbe" (did you mean "web"?)',
      hint: `\n${usage}`,
    });
    await expect(
      runOperatorOverApi(cert, { kind: "package", action: "halt", package: "web" }, options, usage, [
        "NO_SUCH_PACKAGE",
      ]),
    ).rejects.toMatchObject({ code: "OPERATOR_REFUSED", message: "web cannot run on n2: disk is down" });
  });

  it("events --follow: the stream after the last shown revision, each event once; resumes with Last-Event-ID", async () => {
    const err: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => err.push(String(c)) > 0);
    const printed: LoggedEvent[] = [];
    const stop = new AbortController();
    const following = followOverApi(
      target({ kind: "none" }),
      5,
      (e) => {
        printed.push(e);
        if (e.revision === 8) stop.abort();
      },
      stop.signal,
    );
    expect(await following).toBe(0);
    expect(printed.map((e) => e.revision)).toEqual([6, 7, 8]);
    expect(streams).toEqual(["5", "7"]);
    expect(err.join("")).toBe("the stream ended; resuming from revision 7 in 2 s\n");
  });
});
