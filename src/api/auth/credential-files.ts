import { readFile, stat } from "node:fs/promises";
import { PaviseError } from "../../util/errors.js";
import { TOKEN_DIGEST_PATTERN } from "./bearer-token.js";
import { parsePasswordHash, type PasswordHash } from "./password-hash.js";
import { SESSION_KEY_MIN_BYTES } from "./session-token.js";

/**
 * The API's secret files on a node (design §3: only their paths are in the cluster file, which
 * `config apply` stores in etcd): a user's scrypt hash, a user's token digests, the session
 * key. A file others may read is used and warned about, as the IPsec PSK files are
 * (package-ipsec-host.ts): refusing it would lock every user out over a mode bit.
 */
export const API_CREDENTIALS_INVALID = "API_CREDENTIALS_INVALID";

export interface CredentialRead<T> {
  value: T;
  /** "FILE (what) may be read by others (mode 644): chmod 600 FILE". */
  warnings: string[];
}

export async function readPasswordHashFile(
  file: string,
  user: string,
): Promise<CredentialRead<PasswordHash>> {
  const what = `the password hash of API user ${user}`;
  const { text, warnings } = await readSecret(file, what, `pavise api passwd ${user} --file ${file}`);
  const parsed = parsePasswordHash(text);
  if (!parsed.ok) {
    throw new PaviseError(API_CREDENTIALS_INVALID, `${file} (${what}) ${parsed.reason}`, {
      where: { file },
      hint: `write it again with pavise api passwd ${user} --file ${file}`,
    });
  }
  return { value: parsed.value, warnings };
}

/** One digest per line, so a token can be replaced without a gap (old and new both valid). */
export async function readTokenDigestFile(file: string, user: string): Promise<CredentialRead<string[]>> {
  const what = `the token digests of API user ${user}`;
  const { text, warnings } = await readSecret(file, what, `pavise api token ${user} --file ${file}`);
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const bad = lines.findIndex((line) => !TOKEN_DIGEST_PATTERN.test(line));
  if (lines.length === 0 || bad !== -1) {
    throw new PaviseError(
      API_CREDENTIALS_INVALID,
      lines.length === 0
        ? `${file} (${what}) is empty`
        : `${file} (${what}) line ${bad + 1} is not a SHA-256 in hex`,
      { where: { file }, hint: `make a token with pavise api token ${user} --file ${file}` },
    );
  }
  return { value: lines, warnings };
}

/**
 * The session key: at least 32 random bytes, the same on every node. Written as raw bytes
 * (`head -c 32 /dev/urandom`), hex or base64; a text form is recognised by its alphabet.
 */
export async function readSessionKeyFile(file: string): Promise<CredentialRead<Buffer>> {
  const what = "the API session key";
  const make = `head -c 32 /dev/urandom > ${file}; chmod 600 ${file} (and copy it to every node)`;
  const { bytes, warnings } = await readSecretBytes(file, what, make);
  const text = bytes.toString("latin1").trim();
  let key = bytes;
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) key = Buffer.from(text, "hex");
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) && text.length >= 43) key = Buffer.from(text, "base64");
  if (key.length < SESSION_KEY_MIN_BYTES) {
    throw new PaviseError(
      API_CREDENTIALS_INVALID,
      `${file} (${what}) has ${key.length} bytes, needs at least ${SESSION_KEY_MIN_BYTES}`,
      {
        where: { file },
        hint: make,
      },
    );
  }
  return { value: key, warnings };
}

async function readSecret(
  file: string,
  what: string,
  make: string,
): Promise<{ text: string; warnings: string[] }> {
  const { bytes, warnings } = await readSecretBytes(file, what, make);
  return { text: bytes.toString("utf8"), warnings };
}

async function readSecretBytes(
  file: string,
  what: string,
  make: string,
): Promise<{ bytes: Buffer; warnings: string[] }> {
  let bytes: Buffer;
  let mode: number;
  try {
    mode = (await stat(file)).mode;
    // Bounded: these files are a line or a key; a huge file is a wrong path.
    bytes = await readFile(file);
  } catch (err) {
    throw new PaviseError(
      API_CREDENTIALS_INVALID,
      `cannot read ${file} (${what}): ${(err as Error).message}`,
      {
        where: { file },
        hint: `create it on this node: ${make}`,
      },
    );
  }
  if (bytes.length > 64 * 1024) {
    throw new PaviseError(
      API_CREDENTIALS_INVALID,
      `${file} (${what}) has ${bytes.length} bytes, which no credential file has`,
      {
        where: { file },
        hint: "check the path in the cluster file's api: section",
      },
    );
  }
  const warnings =
    (mode & 0o077) !== 0
      ? [`${file} (${what}) may be read by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${file}`]
      : [];
  return { bytes, warnings };
}
