import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueCertificate } from "../../src/lab/lab-ca.js";
import { run } from "../../src/util/run.js";
import { consoleArtifactsDir, spkiPin, withConsoleBrowser } from "../support/console-browser.js";
import { stubCertificates, type StubCa } from "../support/https-stub.js";

// The console tests trust the lab's API servers by pinning their keys, never by ignoring
// certificate errors: a page served with a lab-CA certificate loads with its pin, and fails
// without it and with the pin of another key.

describe("console browser: the SPKI pin of the lab's certificates", () => {
  let dir: string;
  let certs: StubCa;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pavise-cbpin-"));
    certs = await stubCertificates(dir, "cbpin");
    server = createServer(
      { cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key) },
      (_req, res) => {
        res.writeHead(200, { "content-type": "text/html" });
        res.end(
          '<!doctype html><html lang="en"><title>pin</title><h1>served with a lab-CA certificate</h1></html>',
        );
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("computes the pin as openssl does (SHA-256 of the DER SubjectPublicKeyInfo, base64)", async () => {
    const byOpenssl = await run([
      "sh",
      "-c",
      `openssl x509 -in ${certs.server.cert} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`,
    ]);
    expect(spkiPin(readFileSync(certs.server.cert))).toBe(byOpenssl.stdout.trim());
  });

  it("loads the page with the server's pin", async () => {
    const pin = spkiPin(readFileSync(certs.server.cert));
    await withConsoleBrowser({ pins: [pin] }, async (b) => {
      console.log(
        `chromium ${b.versions.chromium}, playwright-core ${b.versions.playwright}; launch ${b.launchMs.toFixed(0)} ms; artifacts in ${consoleArtifactsDir()}`,
      );
      const response = await b.page.goto(url);
      expect(response?.status()).toBe(200);
      await expect(b.page.getByRole("heading").textContent()).resolves.toBe(
        "served with a lab-CA certificate",
      );
      await b.screenshot("pin-loaded");
    });
  });

  it("fails without the pin, and with the pin of another key", async () => {
    await withConsoleBrowser({}, async (b) => {
      await expect(b.page.goto(url)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
    });
    const other = await issueCertificate(certs.ca, "other-api", ["127.0.0.1"]);
    await withConsoleBrowser({ pins: [spkiPin(readFileSync(other.cert))] }, async (b) => {
      await expect(b.page.goto(url)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
    });
  });
});
