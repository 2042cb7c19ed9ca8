import { readFileSync } from "node:fs";
import { EtcdError } from "./errors.js";

/**
 * An etcd user's token for the JSON gateway. etcd (3.4.10 and later, with --client-cert-auth)
 * refuses every gateway request whose client certificate has a Common Name ("CommonName of
 * client sending a request against gateway will be ignored"): the gateway cannot pass the
 * certificate's identity on. So Pavise's clients present a cluster-CA certificate without a CN
 * (it only gets the connection through TLS) and prove who they are with an etcd user and
 * password: POST /v3/auth/authenticate gives a token, sent as the Authorization header of
 * every call. A token etcd no longer knows (a member restarted, the TTL of
 * --auth-token-ttl ran out, the user's password was changed) is asked for again once, with the
 * password file read again: rotating a password is writing the file, then `etcdctl user passwd`.
 * Logging in costs etcd a bcrypt check and a Raft round, so the clients of one process share the
 * token of a user (GatewayAuth.shared), and ask for none until etcd wants one.
 */
export interface EtcdUserCredentials {
  user: string;
  /** A file holding the password (its first line; it stays out of the configuration). */
  passwordFile: string;
}

/** What the gateway answers on /v3/auth/authenticate. */
interface AuthenticateAnswer {
  token?: string;
}

const sharedAuth = new Map<string, GatewayAuth>();

export class GatewayAuth {
  /** The one GatewayAuth of these credentials in this process (its clients share the token). */
  static shared(credentials: EtcdUserCredentials): GatewayAuth {
    const key = `${credentials.user}\0${credentials.passwordFile}`;
    let auth = sharedAuth.get(key);
    if (!auth) {
      auth = new GatewayAuth(credentials);
      sharedAuth.set(key, auth);
    } else {
      readPassword(credentials);
    }
    return auth;
  }

  private token: Promise<string> | undefined;
  /** The token `token` resolved to, once it has. */
  private value: string | undefined;

  constructor(readonly credentials: EtcdUserCredentials) {
    // Read now so that a missing file is reported when the client is made, not on first use.
    readPassword(credentials);
  }

  /** The token in hand, if any (nothing is asked). */
  get known(): string | undefined {
    return this.value;
  }

  /**
   * The current token, asking for one with `post` when there is none. Calls that come while one
   * is asked for share it.
   */
  current(post: (path: string, body: unknown) => Promise<unknown>): Promise<string> {
    if (!this.token) {
      const asking = Promise.resolve()
        .then(() =>
          post("/v3/auth/authenticate", {
            name: this.credentials.user,
            password: readPassword(this.credentials),
          }),
        )
        .then((answer) => {
          const token = (answer as AuthenticateAnswer).token;
          if (!token) {
            throw new EtcdError("ETCD_AUTH_FAILED", `etcd gave user ${this.credentials.user} no token`, {
              hint: "is authentication enabled in etcd (etcdctl auth enable)?",
            });
          }
          this.value = token;
          return token;
        });
      this.token = asking;
      // A failed attempt is not kept: the next call asks again.
      asking.catch(() => {
        if (this.token === asking) this.token = undefined;
      });
    }
    return this.token;
  }

  /** Forgets `token` after etcd refused it, so the next call asks for a new one. */
  refused(token: string): void {
    if (this.value !== token) return;
    this.value = undefined;
    this.token = undefined;
  }
}

/** etcd refused the token itself (not the user's rights): ask for a new one and try again. */
export function isTokenRefused(error: EtcdError): boolean {
  return /invalid auth token|user name is empty/.test(error.message);
}

function readPassword(credentials: EtcdUserCredentials): string {
  let text: string;
  try {
    text = readFileSync(credentials.passwordFile, "utf8");
  } catch (err) {
    throw new EtcdError(
      "ETCD_CONFIG_INVALID",
      `cannot read the password file of etcd user ${credentials.user}, ${credentials.passwordFile}: ${(err as Error).message}`,
      { hint: "give the path of a readable file that holds the user's password as etcd.tls.password_file" },
    );
  }
  const password = text.split("\n")[0]!.trim();
  if (password === "") {
    throw new EtcdError(
      "ETCD_CONFIG_INVALID",
      `the password file of etcd user ${credentials.user}, ${credentials.passwordFile}, is empty`,
      { hint: "write the password the user was created with (etcdctl user add NAME) on its first line" },
    );
  }
  return password;
}
