import type { ApiConfig } from "../../cluster/config/model.js";
import { PaviseError } from "../../util/errors.js";
import {
  readPasswordHashFile,
  readSessionKeyFile,
  readTokenDigestFile,
  type CredentialRead,
} from "./credential-files.js";
import type { PasswordHash } from "./password-hash.js";

/**
 * Every credential file the `api:` section names, read on one node when its server starts or
 * the policy is rebuilt. One bad file costs only its user that way of logging in (reported
 * in `problems`), never the API for everyone: the other users, and certificates, still work.
 */
export interface ApiCredentials {
  /** user → scrypt hash, for POST /v1/session. */
  passwords: Map<string, PasswordHash>;
  /** token digest → user (principal.ts). */
  tokenUsers: Map<string, string>;
  /** Undefined when not configured or unreadable: then no password sessions on this node. */
  sessionKey: Buffer | undefined;
  /** Files others may read (used anyway). */
  warnings: string[];
  /** Files that could not be used, each with its file and fix. */
  problems: PaviseError[];
}

export async function loadApiCredentials(api: ApiConfig): Promise<ApiCredentials> {
  const out: ApiCredentials = {
    passwords: new Map(),
    tokenUsers: new Map(),
    sessionKey: undefined,
    warnings: [],
    problems: [],
  };
  const take = async <T>(read: Promise<CredentialRead<T>>): Promise<T | undefined> => {
    try {
      const result = await read;
      out.warnings.push(...result.warnings);
      return result.value;
    } catch (err) {
      if (!(err instanceof PaviseError)) throw err;
      out.problems.push(err);
      return undefined;
    }
  };
  const shared = new Set<string>();
  if (api.sessionKeyFile !== undefined) out.sessionKey = await take(readSessionKeyFile(api.sessionKeyFile));
  for (const user of api.users) {
    if (user.passwordFile !== undefined) {
      const hash = await take(readPasswordHashFile(user.passwordFile, user.name));
      if (hash) out.passwords.set(user.name, hash);
    }
    if (user.tokenFile !== undefined) {
      for (const digest of (await take(readTokenDigestFile(user.tokenFile, user.name))) ?? []) {
        if (shared.has(digest)) continue;
        const other = out.tokenUsers.get(digest);
        if (other !== undefined && other !== user.name) {
          // One token for two users would make the principal depend on file order: neither gets it.
          out.problems.push(
            new PaviseError(
              "API_CREDENTIALS_INVALID",
              `${user.tokenFile} holds a token that ${other}'s token file holds too`,
              {
                where: { file: user.tokenFile },
                hint: `make a new token for each: pavise api token ${user.name} --file ${user.tokenFile}`,
              },
            ),
          );
          out.tokenUsers.delete(digest);
          shared.add(digest);
          continue;
        }
        out.tokenUsers.set(digest, user.name);
      }
    }
  }
  return out;
}
