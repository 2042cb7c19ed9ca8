/**
 * Reading certificates and private keys from the files a connection names (`certs`, `cacerts`,
 * `key`), in the forms strongSwan's `pki` and OpenSSL write: PEM (one or more blocks) or DER;
 * private keys as PKCS#8, PKCS#1 (RSA) or SEC1 (EC). Encrypted keys are refused with a hint.
 */
import { type KeyObject, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { type AuthResult, authFail, authOk } from "./auth-result.js";
import { type Certificate, parseCertificate } from "./certificates.js";

function readBytes(path: string, what: string): AuthResult<Buffer> {
  try {
    return authOk(readFileSync(path));
  } catch (error) {
    return authFail(
      "AUTH_FILE_UNREADABLE",
      `${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

function isPem(bytes: Buffer): boolean {
  return bytes.subarray(0, 4096).toString("latin1").includes("-----BEGIN ");
}

/** Certificates from PEM text (every CERTIFICATE block) or from DER bytes (one certificate). */
export function parseCertificates(bytes: Uint8Array, source = "certificate data"): AuthResult<Certificate[]> {
  const buffer = Buffer.from(bytes);
  const ders: Uint8Array[] = [];
  if (isPem(buffer)) {
    for (const m of buffer.toString("latin1").matchAll(PEM_BLOCK)) {
      if (m[1] === "CERTIFICATE" || m[1] === "X509 CERTIFICATE") ders.push(Buffer.from(m[2] ?? "", "base64"));
    }
    if (ders.length === 0)
      return authFail("AUTH_BAD_CERTIFICATE", `${source}: no CERTIFICATE block in the PEM text`);
  } else {
    ders.push(buffer);
  }
  const certs: Certificate[] = [];
  for (const der of ders) {
    const cert = parseCertificate(der);
    if (!cert.ok) return authFail(cert.error.code, `${source}: ${cert.error.message}`);
    certs.push(cert.value);
  }
  return authOk(certs);
}

export function loadCertificateFile(path: string): AuthResult<Certificate[]> {
  const bytes = readBytes(path, "certificate file");
  return bytes.ok ? parseCertificates(bytes.value, path) : bytes;
}

/** All certificates of several files, in order. */
export function loadCertificateFiles(paths: readonly string[]): AuthResult<Certificate[]> {
  const all: Certificate[] = [];
  for (const path of paths) {
    const certs = loadCertificateFile(path);
    if (!certs.ok) return certs;
    all.push(...certs.value);
  }
  return authOk(all);
}

/** A private key from PEM or DER bytes (PKCS#8, PKCS#1 RSA, SEC1 EC; unencrypted). */
export function parsePrivateKey(bytes: Uint8Array, source = "private key"): AuthResult<KeyObject> {
  const buffer = Buffer.from(bytes);
  if (isPem(buffer)) {
    const text = buffer.toString("latin1");
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
      return authFail("AUTH_BAD_PRIVATE_KEY", `${source}: encrypted private keys are not supported`);
    }
    try {
      return authOk(createPrivateKey({ key: text, format: "pem" }));
    } catch (error) {
      return authFail("AUTH_BAD_PRIVATE_KEY", `${source}: ${(error as Error).message}`);
    }
  }
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    try {
      return authOk(createPrivateKey({ key: buffer, format: "der", type }));
    } catch {
      // try the next form
    }
  }
  return authFail(
    "AUTH_BAD_PRIVATE_KEY",
    `${source}: not an unencrypted PKCS#8, PKCS#1 or SEC1 private key (PEM or DER)`,
  );
}

export function loadPrivateKeyFile(path: string): AuthResult<KeyObject> {
  const bytes = readBytes(path, "private key file");
  return bytes.ok ? parsePrivateKey(bytes.value, path) : bytes;
}
