/**
 * The CLI's client for a node's HTTPS API (`--api URL`): one JSON request with the user's
 * credentials (api-target.ts), checked against the cluster CA, with an overall deadline. A
 * success is the parsed JSON body; anything else is a PaviseError (api-answer.ts) that the CLI
 * prints as it prints its own errors, naming the URL when there was no answer.
 */

import { readFileSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import { PaviseError } from "../util/errors.js";
import {
  badAnswer,
  CLI_API_CREDENTIALS,
  connectionError,
  errorFromAnswer,
  forCli,
  parseJson,
} from "./api-answer.js";
import { type ApiTarget, apiUrlText } from "./api-target.js";

/** How long a read may take; an action waits for its goal, so it gets its timeout on top. */
export const API_READ_TIMEOUT_MS = 15_000;

export interface ApiCall {
  method: "GET" | "POST";
  /** The route, e.g. /v1/status (put after the URL's own path, if any). */
  path: string;
  body?: unknown;
  timeoutMs?: number;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** One request to the API; resolves with a 2xx answer's JSON, rejects with a PaviseError. */
export function apiRequest(target: ApiTarget, call: ApiCall): Promise<ApiAnswer> {
  const url = apiUrlText(target);
  const timeoutMs = call.timeoutMs ?? API_READ_TIMEOUT_MS;
  const sent = target.credentials.kind !== "none";
  const options = requestOptions(target, call);
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  return new Promise<ApiAnswer>((resolve, reject) => {
    let timedOut = false;
    const req = request(
      {
        ...options,
        headers: {
          ...options.headers,
          ...(payload === undefined
            ? {}
            : { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(connectionError(url, err, timedOut ? timeoutMs : undefined)));
        res.on("end", () => {
          clearTimeout(deadline);
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return reject(forCli(errorFromAnswer(url, status, text), sent));
          const body = parseJson(text);
          if (body === null || typeof body !== "object")
            return reject(badAnswer(url, `answered ${status} without JSON`, text));
          resolve({ status, body });
        });
      },
    );
    // An overall deadline: an action's answer comes only when the cluster got there.
    const deadline = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error("no answer in time"));
    }, timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(deadline);
      reject(connectionError(url, err, timedOut ? timeoutMs : undefined));
    });
    req.end(payload);
  });
}

function requestOptions(target: ApiTarget, call: ApiCall): RequestOptions {
  const { url } = target;
  const headers: Record<string, string> = { accept: "application/json" };
  const tls: Pick<RequestOptions, "ca" | "cert" | "key"> = {};
  if (target.caFile !== undefined)
    tls.ca = readCredential(target.caFile, "--api-ca", "the cluster CA's certificate (PEM)");
  const credentials = target.credentials;
  if (credentials.kind === "certificate") {
    tls.cert = readCredential(
      credentials.certFile,
      "--api-cert",
      "your client certificate (PEM) from the cluster CA",
    );
    tls.key = readCredential(credentials.keyFile, "--api-key", "your client certificate's private key (PEM)");
  } else if (credentials.kind === "token-file") {
    const token = readCredential(
      credentials.file,
      "--api-token-file",
      "the bearer token pavise api token printed",
    )
      .toString("utf8")
      .trim();
    if (token === "") {
      throw new PaviseError(CLI_API_CREDENTIALS, `--api-token-file ${credentials.file} is empty`, {
        where: { file: credentials.file },
        hint: "put the token that pavise api token printed in it",
      });
    }
    headers.authorization = `Bearer ${token}`;
  } else if (credentials.kind === "token") {
    headers.authorization = `Bearer ${credentials.token}`;
  }
  return {
    method: call.method,
    // URL.hostname keeps an IPv6 address's brackets; the socket wants it bare.
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? 443 : Number(url.port),
    path: `${url.pathname.replace(/\/$/, "")}${call.path}`,
    headers,
    agent: false,
    ...tls,
  };
}

function readCredential(file: string, option: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PaviseError(CLI_API_CREDENTIALS, `cannot read ${option} ${file}: ${(err as Error).message}`, {
      where: { file },
      hint: `${option} names ${what}`,
    });
  }
}

export interface ApiStream {
  /** Resolves when the server ends the stream (or close() was called), rejects on a failure. */
  ended: Promise<void>;
  close(): void;
}

/**
 * A live stream (GET /v1/stream, text/event-stream): `onText` gets its text as it comes. The
 * deadline covers the answer's start only; the stream itself lasts until either side ends it.
 * A refusal (401, 403, 429…) rejects with the API's error, as apiRequest does.
 */
export function apiStream(
  target: ApiTarget,
  path: string,
  headers: Record<string, string>,
  onText: (text: string) => void,
): ApiStream {
  const url = apiUrlText(target);
  const options = requestOptions(target, { method: "GET", path });
  const sent = target.credentials.kind !== "none";
  let closed = false;
  let req: ReturnType<typeof request> | undefined;
  const ended = new Promise<void>((resolve, reject) => {
    let timedOut = false;
    req = request(
      { ...options, headers: { ...options.headers, ...headers, accept: "text/event-stream" } },
      (res) => {
        clearTimeout(deadline);
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            reject(forCli(errorFromAnswer(url, status, Buffer.concat(chunks).toString("utf8")), sent)),
          );
          return;
        }
        res.setEncoding("utf8");
        res.on("data", (text: string) => onText(text));
        res.on("end", () => resolve());
        res.on("close", () => resolve());
      },
    );
    const deadline = setTimeout(() => {
      timedOut = true;
      req?.destroy(new Error("no answer in time"));
    }, API_READ_TIMEOUT_MS);
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(deadline);
      if (closed) resolve();
      else reject(connectionError(url, err, timedOut ? API_READ_TIMEOUT_MS : undefined));
    });
    req.end();
  });
  return {
    ended,
    close() {
      closed = true;
      req?.destroy();
    },
  };
}
