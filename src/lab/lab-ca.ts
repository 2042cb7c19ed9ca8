import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../util/run.js";

/**
 * A certificate authority of the lab's own, made with the openssl command: etcd peers and
 * clients authenticate each other with certificates it signs (ECDSA P-256, 30 days).
 */
export interface LabCertificate {
  cert: string;
  key: string;
}

export interface LabCa {
  dir: string;
  caCert: string;
  caKey: string;
}

export async function createLabCa(dir: string, labName: string): Promise<LabCa> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca: LabCa = { dir, caCert: join(dir, "ca.crt"), caKey: join(dir, "ca.key") };
  await run([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    ca.caKey,
    "-out",
    ca.caCert,
    "-days",
    "30",
    "-subj",
    `/CN=pavise lab ${labName} CA`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return ca;
}

/**
 * Issues a certificate usable as TLS server and client, valid for the given IP addresses. Its
 * subject is CN=<name> unless `subject` is given (etcd-auth.ts: clients of etcd's JSON gateway
 * need one without CN).
 */
export async function issueCertificate(
  ca: LabCa,
  name: string,
  ipAddresses: readonly string[],
  subject = `/CN=${name}`,
): Promise<LabCertificate> {
  const key = join(ca.dir, `${name}.key`);
  const csr = join(ca.dir, `${name}.csr`);
  const cert = join(ca.dir, `${name}.crt`);
  const extensions = join(ca.dir, `${name}.ext`);
  const altNames = ipAddresses.map((ip) => `IP:${ip}`).join(",");
  writeFileSync(
    extensions,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
      ...(altNames ? [`subjectAltName=${altNames}`] : []),
      "",
    ].join("\n"),
  );
  await run([
    "openssl",
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    subject,
  ]);
  await run([
    "openssl",
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.caCert,
    "-CAkey",
    ca.caKey,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "30",
    "-extfile",
    extensions,
  ]);
  return { cert, key };
}
