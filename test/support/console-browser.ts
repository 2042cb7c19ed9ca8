import { X509Certificate, createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { packageRoot } from "../../src/util/package-paths.js";

// The browser of the console tests (design §10): Debian's chromium driven by playwright-core over
// CDP. The lab's API certificates are trusted by pinning exactly their public keys
// (--ignore-certificate-errors-spki-list), not by ignoring certificate errors: a page served
// with any other key fails as it would for a user. Screenshots go to artifacts/console/.

const require = createRequire(import.meta.url);

/** The browser binary: $PAVISE_CHROMIUM, or Debian's chromium package. */
export function chromiumPath(): string {
  return process.env.PAVISE_CHROMIUM ?? "/usr/bin/chromium";
}

/** Where the console tests' screenshots go (gitignored). */
export function consoleArtifactsDir(): string {
  return join(packageRoot(), "artifacts", "console");
}

/**
 * Chromium's pin of a certificate: base64 of the SHA-256 of its SubjectPublicKeyInfo (DER), the
 * form --ignore-certificate-errors-spki-list takes.
 */
export function spkiPin(certificatePem: string | Buffer): string {
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

/** The pins of certificate files (each node's API server certificate). */
export function spkiPinsOfFiles(files: readonly string[]): string[] {
  return files.map((file) => spkiPin(readFileSync(file)));
}

export interface ConsoleBrowser {
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  readonly versions: { chromium: string; playwright: string };
  /** Wall time of chromium.launch, ms. */
  readonly launchMs: number;
  /** A page in a context of its own (its own cookies: another user's session). */
  newPage(): Promise<Page>;
  /** Saves a full-page screenshot as artifacts/console/<step>.png; returns its path. */
  screenshot(step: string, page?: Page): Promise<string>;
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** SPKI pins to trust (spkiPin); none: only the system's trust store. */
  pins?: readonly string[];
  /** Viewport (default 1366×768, the size the console is designed to be readable at). */
  viewport?: { width: number; height: number };
}

export async function launchConsoleBrowser(options: LaunchOptions = {}): Promise<ConsoleBrowser> {
  const pins = options.pins ?? [];
  const started = performance.now();
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      ...(pins.length > 0 ? [`--ignore-certificate-errors-spki-list=${pins.join(",")}`] : []),
    ],
  });
  const launchMs = performance.now() - started;
  try {
    const viewport = options.viewport ?? { width: 1366, height: 768 };
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const versions = {
      chromium: browser.version(),
      playwright: (require("playwright-core/package.json") as { version: string }).version,
    };
    const dir = consoleArtifactsDir();
    mkdirSync(dir, { recursive: true });
    return {
      browser,
      context,
      page,
      versions,
      launchMs,
      async newPage() {
        return (await browser.newContext({ viewport })).newPage();
      },
      async screenshot(step, which = page) {
        const path = join(dir, `${step}.png`);
        await which.screenshot({ path, fullPage: true });
        return path;
      },
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/** Runs `body` with a launched browser and closes the browser afterwards, also when `body` fails. */
export async function withConsoleBrowser<T>(
  options: LaunchOptions,
  body: (b: ConsoleBrowser) => Promise<T>,
): Promise<T> {
  const b = await launchConsoleBrowser(options);
  try {
    return await body(b);
  } finally {
    await b.close();
  }
}
