import { readFile } from "node:fs/promises";
import { newBearerToken, TOKEN_DIGEST_PATTERN, tokenDigest } from "../api/auth/bearer-token.js";
import { DEFAULT_SCRYPT, hashPassword } from "../api/auth/password-hash.js";
import { readClusterConfig } from "../cluster/config/cluster-config.js";
import { didYouMean } from "../cluster/config/did-you-mean.js";
import type { ClusterConfig } from "../cluster/config/model.js";
import { PaviseError } from "../util/errors.js";
import { writeSecretFile } from "../util/write-secret-file.js";
import { makeOutput } from "./output.js";
import { processSecretInput, type SecretInput } from "./secret-input.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const API_USAGE = `usage:
  pavise api passwd USER (--config FILE | --file PATH) [--json]
      set USER's console password. It is read twice from the terminal (not echoed), or as the
      first line of stdin when stdin is not a terminal. Writes scrypt$N$r$p$salt$hash to the
      user's password_file (api.users in the cluster FILE) or to PATH, mode 0600.
  pavise api token USER (--config FILE | --file PATH) [--append] [--json]
      make a bearer token for USER: prints it once, and writes its SHA-256 to the user's
      token_file (or PATH), mode 0600. --append keeps the tokens already in the file (rotation).

The files are secrets of each node: copy them to every node (root, 0600). Only their paths go in
the cluster file (api.users[].password_file / token_file).`;

/** NIST SP 800-63B §5.1.1.2: at least 8 characters; the API refuses more than 1024. */
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;

export type CredentialKind = "password" | "token";

export interface ApiCommandIo {
  secrets: SecretInput;
  /** Progress and notes (stderr), kept out of stdout so a token can be captured alone. */
  note(line: string): void;
}

export function apiCommand(args: string[], io?: ApiCommandIo): Promise<number> | number {
  const [sub, ...rest] = args;
  switch (sub) {
    case "passwd":
      return apiPasswd(rest, io ?? processIo());
    case "token":
      return apiToken(rest, io ?? processIo());
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(`${API_USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw usageError(`unknown api command '${sub}'`, API_USAGE);
  }
}

function processIo(): ApiCommandIo {
  return { secrets: processSecretInput(), note: (line) => process.stderr.write(`${line}\n`) };
}

export interface PasswdResult {
  user: string;
  file: string;
  scrypt: { N: number; r: number; p: number };
}

export interface TokenResult {
  user: string;
  file: string;
  token: string;
  /** How many tokens the file now accepts. */
  tokens: number;
}

async function apiPasswd(args: string[], io: ApiCommandIo): Promise<number> {
  const { user, file, json } = target(args, "password");
  const password = await newPassword(user, io.secrets);
  await writeSecretFile(file, `${await hashPassword(password)}\n`);
  const result: PasswdResult = { user, file, scrypt: DEFAULT_SCRYPT };
  makeOutput(json).result(
    result,
    () =>
      `${user}: password hash written to ${file} (scrypt N=${DEFAULT_SCRYPT.N} r=${DEFAULT_SCRYPT.r} p=${DEFAULT_SCRYPT.p}); copy it to every node (root, 0600)`,
  );
  return 0;
}

async function apiToken(args: string[], io: ApiCommandIo): Promise<number> {
  const { user, file, json, append } = target(args, "token");
  const kept = append ? await existingDigests(file) : [];
  const token = newBearerToken();
  const digests = [...kept, tokenDigest(token)];
  await writeSecretFile(file, `${digests.join("\n")}\n`);
  const result: TokenResult = { user, file, token, tokens: digests.length };
  if (json) {
    makeOutput(true).result(result, () => "");
  } else {
    // The token alone on stdout: TOKEN=$(pavise api token prometheus --config F).
    process.stdout.write(`${token}\n`);
    io.note(
      `${user}: token printed above (shown only now); its SHA-256 is in ${file}${kept.length > 0 ? ` with ${kept.length} earlier` : ""}. Copy the file to every node (root, 0600), and send Authorization: Bearer <token>.`,
    );
  }
  return 0;
}

/** USER and where its file is: --file, or the user's entry in the cluster file. */
function target(
  args: string[],
  kind: CredentialKind,
): { user: string; file: string; json: boolean; append: boolean } {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      config: { type: "string" },
      file: { type: "string" },
      json: { type: "boolean" },
      append: { type: "boolean" },
    },
    API_USAGE,
    1,
  );
  const command = kind === "password" ? "passwd" : "token";
  if (values.append && kind === "password") throw usageError("--append is for api token", API_USAGE);
  const user = positionals[0];
  if (user === undefined) throw usageError(`api ${command} needs a USER`, API_USAGE);
  const config = values.config;
  const given = values.file;
  if ((config === undefined) === (given === undefined)) {
    throw usageError(
      `api ${command} needs either --config FILE (to find ${user}'s file) or --file PATH`,
      API_USAGE,
    );
  }
  const file = given ?? credentialFileOf(readClusterConfig(config ?? ""), user, kind, config ?? "");
  return { user, file, json: values.json === true, append: values.append === true };
}

/** Pure: the user's password_file or token_file as the cluster file names it. */
export function credentialFileOf(
  config: ClusterConfig,
  user: string,
  kind: CredentialKind,
  configFile: string,
): string {
  const key = kind === "password" ? "password_file" : "token_file";
  if (!config.api) {
    throw new PaviseError("API_NOT_CONFIGURED", `${configFile} has no api: section`, {
      where: { file: configFile, key: "api" },
      hint: "add an api: section with the user (docs/operator-surfaces-design.md §3), or give --file PATH",
    });
  }
  const names = config.api.users.map((u) => u.name);
  const entry = config.api.users.find((u) => u.name === user);
  if (!entry) {
    const onlyPackage = config.packages.find((p) => p.access?.some((a) => a.user === user));
    throw usageError(
      onlyPackage
        ? `${user} is in package ${onlyPackage.name}'s access:, which authenticates by client certificate only`
        : `no user ${user} in api.users of ${configFile}${didYouMean(user, names)}`,
      `users: ${names.join(", ") || "(none)"}\n${API_USAGE}`,
    );
  }
  const file = kind === "password" ? entry.passwordFile : entry.tokenFile;
  if (file === undefined) {
    const index = config.api.users.indexOf(entry);
    throw new PaviseError("API_NO_CREDENTIAL_FILE", `${user} has no ${key} in ${configFile}`, {
      where: { file: configFile, key: `api.users[${index}].${key}` },
      hint: `add ${key}: /etc/pavise/api/users/${user}.${kind === "password" ? "scrypt" : "sha256"} to the user, or give --file PATH`,
    });
  }
  return file;
}

async function newPassword(user: string, secrets: SecretInput): Promise<string> {
  const password = await secrets.read(`New password for ${user}: `);
  if ([...password].length < MIN_PASSWORD || password.length > MAX_PASSWORD) {
    throw new PaviseError(
      "API_PASSWORD_REFUSED",
      `the password must have ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`,
      {
        hint: secrets.interactive ? "run the command again" : "give the password as the first line of stdin",
      },
    );
  }
  if (secrets.interactive && (await secrets.read("Again: ")) !== password) {
    throw new PaviseError("API_PASSWORD_REFUSED", "the two passwords differ; nothing was written", {
      hint: "run the command again",
    });
  }
  return password;
}

/** The digests already in a token file; a missing file is none, a broken one is an error. */
async function existingDigests(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new PaviseError("API_CREDENTIALS_INVALID", `cannot read ${file}: ${(err as Error).message}`, {
      where: { file },
    });
  }
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const bad = lines.findIndex((l) => !TOKEN_DIGEST_PATTERN.test(l));
  if (bad !== -1) {
    throw new PaviseError("API_CREDENTIALS_INVALID", `${file} line ${bad + 1} is not a SHA-256 in hex`, {
      where: { file },
      hint: "run without --append to start the file afresh",
    });
  }
  return lines;
}
