import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { apiError, type ApiFailure } from "./api-errors.js";
import type { Checked } from "./body-checks.js";

/**
 * A request's JSON body (design §2): JSON only, at most 16 KiB, complete within 5 s. Every
 * write must say `Content-Type: application/json`, even with an empty body: an HTML form on
 * another site cannot send that type, which (with SameSite=Strict cookies and the Origin check)
 * is the CSRF defence (design §5). The caps keep a slow or huge upload from holding the daemon's
 * event loop or memory (design §12 risk 1).
 */
export interface BodyLimits {
  maxBytes: number;
  deadlineMs: number;
}

export const BODY_LIMITS: BodyLimits = { maxBytes: 16 * 1024, deadlineMs: 5_000 };

export interface BodySource {
  headers: IncomingHttpHeaders;
  stream: Readable;
}

/**
 * The parsed body (undefined when empty), or the answer to give. After a failure the rest of
 * the body is not read: the server answers with `Connection: close` (the failure's header).
 */
export async function readJsonBody(
  source: BodySource,
  limits: BodyLimits = BODY_LIMITS,
): Promise<Checked<unknown>> {
  const refused = checkHeaders(source.headers, limits);
  if (refused) return { ok: false, failure: refused };
  const text = await collect(source.stream, limits);
  if (typeof text !== "string") return { ok: false, failure: text };
  if (text.trim() === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return {
      ok: false,
      failure: apiError("API_BAD_REQUEST", `the body is not JSON: ${(err as Error).message.slice(0, 120)}`, {
        hint: 'send a JSON object, e.g. {"node": "n2"}',
        where: { key: "" },
      }),
    };
  }
}

function checkHeaders(headers: IncomingHttpHeaders, limits: BodyLimits): ApiFailure | undefined {
  const type = (headers["content-type"] ?? "").toLowerCase();
  const [media, ...parameters] = type.split(";").map((part) => part.trim());
  const charset = parameters
    .find((p) => p.startsWith("charset="))
    ?.slice(8)
    .replace(/"/g, "");
  if (media !== "application/json" || (charset !== undefined && charset !== "utf-8")) {
    return closing(
      apiError(
        "API_UNSUPPORTED_MEDIA_TYPE",
        `a write must send Content-Type: application/json, not ${printable(type) || "none"}`,
        {
          hint: "add -H 'Content-Type: application/json' (and a body, {} when there is nothing to say)",
        },
      ),
    );
  }
  const encoding = headers["content-encoding"];
  if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
    return closing(
      apiError("API_UNSUPPORTED_MEDIA_TYPE", `Content-Encoding ${printable(encoding)} is not accepted`, {
        hint: "send the JSON uncompressed: bodies are small",
      }),
    );
  }
  const length = headers["content-length"];
  if (length !== undefined && Number(length) > limits.maxBytes) return tooLarge(limits);
  return undefined;
}

/** The body as text, or the failure: too large, not UTF-8, or not complete in time. */
function collect(stream: Readable, limits: BodyLimits): Promise<string | ApiFailure> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const done = (result: string | ApiFailure): void => {
      clearTimeout(timer);
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      bytes += buffer.length;
      if (bytes > limits.maxBytes) return done(tooLarge(limits));
      chunks.push(buffer);
    };
    const onEnd = (): void => {
      try {
        // RFC 8259 §8.1: JSON between systems is UTF-8; a byte sequence that is not is refused.
        done(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks)));
      } catch {
        done(
          closing(
            apiError("API_BAD_REQUEST", "the body is not UTF-8", {
              hint: "send JSON in UTF-8 (RFC 8259 §8.1)",
              where: { key: "" },
            }),
          ),
        );
      }
    };
    const onError = (): void =>
      done(
        closing(
          apiError("API_BAD_REQUEST", "the body could not be read", { hint: "send the request again" }),
        ),
      );
    const timer = setTimeout(
      () =>
        done(
          closing(
            apiError("API_REQUEST_TIMEOUT", `the body did not arrive within ${limits.deadlineMs / 1000} s`, {
              hint: "send the whole body at once",
            }),
          ),
        ),
      limits.deadlineMs,
    );
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onError);
    stream.resume();
  });
}

function tooLarge(limits: BodyLimits): ApiFailure {
  return closing(
    apiError("API_BODY_TOO_LARGE", `the body is larger than ${limits.maxBytes / 1024} KiB`, {
      hint: "action bodies are a few fields; check what is being sent",
    }),
  );
}

function closing(failure: ApiFailure): ApiFailure {
  return { ...failure, headers: { ...failure.headers, connection: "close" } };
}

function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}
