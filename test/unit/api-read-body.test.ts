import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { BODY_LIMITS, readJsonBody } from "../../src/api/http/read-body.js";

const JSON_TYPE = { "content-type": "application/json" };

function source(chunks: (string | Buffer)[], headers: Record<string, string> = JSON_TYPE) {
  return { headers, stream: Readable.from(chunks) };
}

async function codeOf(promise: ReturnType<typeof readJsonBody>): Promise<string> {
  const result = await promise;
  return result.ok ? "ok" : result.failure.body.error.code;
}

describe("read body", () => {
  it("parses a JSON body sent in pieces, and an empty one as absent", async () => {
    expect(await readJsonBody(source(['{"node":', ' "n2"}']))).toEqual({ ok: true, value: { node: "n2" } });
    expect(await readJsonBody(source([]))).toEqual({ ok: true, value: undefined });
    expect(await readJsonBody(source(["{}"], { "content-type": "Application/JSON; charset=utf-8" }))).toEqual(
      { ok: true, value: {} },
    );
  });

  it("refuses anything but application/json, even with an empty body (CSRF: forms cannot send it)", async () => {
    for (const type of [
      "",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
    ]) {
      const result = await readJsonBody(source([], type === "" ? {} : { "content-type": type }));
      expect(result.ok, type).toBe(false);
      if (!result.ok) {
        expect(result.failure.status).toBe(415);
        expect(result.failure.headers.connection).toBe("close");
      }
    }
    expect(await codeOf(readJsonBody(source(["{}"], { ...JSON_TYPE, "content-encoding": "gzip" })))).toBe(
      "API_UNSUPPORTED_MEDIA_TYPE",
    );
  });

  it("refuses a body over 16 KiB, by its Content-Length or as it arrives", async () => {
    const big = "x".repeat(BODY_LIMITS.maxBytes + 1);
    const declared = await readJsonBody(source([], { ...JSON_TYPE, "content-length": String(big.length) }));
    expect(!declared.ok && declared.failure.status).toBe(413);
    // Chunked: no length given; stopped once the cap is passed, not read to the end.
    let pulled = 0;
    const endless = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(1024, 0x20));
      },
    });
    const streamed = await readJsonBody({ headers: JSON_TYPE, stream: endless });
    expect(!streamed.ok && streamed.failure.body.error.code).toBe("API_BODY_TOO_LARGE");
    expect(pulled).toBeLessThan(40);
    endless.destroy();
    // Exactly at the cap is fine.
    const atCap = `"${"x".repeat(BODY_LIMITS.maxBytes - 2)}"`;
    expect((await readJsonBody(source([atCap]))).ok).toBe(true);
  });

  it("refuses JSON that does not parse, with the root pointer", async () => {
    const result = await readJsonBody(source(['{"node": ']));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure.body.error).toMatchObject({ code: "API_BAD_REQUEST", where: { key: "" } });
    expect(result.failure.body.error.message).toMatch(/^the body is not JSON: /);
  });

  it("refuses bytes that are not UTF-8 (RFC 8259 §8.1), also when a character is split between chunks", async () => {
    expect(await codeOf(readJsonBody(source([Buffer.from([0x22, 0xff, 0x22])])))).toBe("API_BAD_REQUEST");
    const e = Buffer.from('"é"');
    expect(await readJsonBody(source([e.subarray(0, 2), e.subarray(2)]))).toEqual({ ok: true, value: "é" });
  });

  it("gives up on a body that does not arrive in time (408), and on a broken stream", async () => {
    const stalled = new PassThrough();
    stalled.write('{"node":');
    const started = Date.now();
    const result = await readJsonBody(
      { headers: JSON_TYPE, stream: stalled },
      { ...BODY_LIMITS, deadlineMs: 100 },
    );
    expect(!result.ok && result.failure.status).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    const broken = new PassThrough();
    setImmediate(() => broken.destroy(new Error("ECONNRESET")));
    expect(await codeOf(readJsonBody({ headers: JSON_TYPE, stream: broken }))).toBe("API_BAD_REQUEST");
  });
});
