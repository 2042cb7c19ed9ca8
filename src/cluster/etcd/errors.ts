import { PaviseError } from "../../util/errors.js";

/**
 * Why an etcd request failed, as far as the caller needs to know to decide what to do next:
 *
 * - ETCD_UNREACHABLE: no member answered (refused, unreachable, timed out before it was sent).
 *   Nothing was applied.
 * - ETCD_NO_LEADER: the member answered but has no leader (its side of a partition has no
 *   quorum). Nothing was applied; another member may do better.
 * - ETCD_OUTCOME_UNKNOWN: a write was sent and no answer came; it may or may not have been
 *   applied. Read back before deciding (ownership.ts does).
 * - ETCD_LEASE_NOT_FOUND: the lease has expired or was revoked: everything bound to it is gone.
 * - ETCD_COMPACTED: the revision asked for has been compacted away.
 * - ETCD_REQUEST_FAILED: etcd refused the request (the message is etcd's).
 * - ETCD_CONFIG_INVALID: bad endpoints or TLS files.
 * - ETCD_AUTH_FAILED: etcd's authentication is on and the user or its password was not accepted
 *   (or none was given).
 * - ETCD_PERMISSION_DENIED: the user was accepted, but none of its roles allows this key
 *   (etcdctl role grant-permission).
 */
export type EtcdErrorCode =
  | "ETCD_UNREACHABLE"
  | "ETCD_NO_LEADER"
  | "ETCD_OUTCOME_UNKNOWN"
  | "ETCD_LEASE_NOT_FOUND"
  | "ETCD_COMPACTED"
  | "ETCD_REQUEST_FAILED"
  | "ETCD_CONFIG_INVALID"
  | "ETCD_AUTH_FAILED"
  | "ETCD_PERMISSION_DENIED";

export class EtcdError extends PaviseError {
  declare readonly code: EtcdErrorCode;
  /** gRPC status code etcd gave, when it gave one (5: not found, 11: out of range, 14: unavailable). */
  readonly grpcCode: number | undefined;
  /** The member that answered or was tried last. */
  readonly endpoint: string | undefined;

  constructor(
    code: EtcdErrorCode,
    message: string,
    options: { grpcCode?: number; endpoint?: string; hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, { hint: options.hint, cause: options.cause });
    this.name = "EtcdError";
    this.grpcCode = options.grpcCode;
    this.endpoint = options.endpoint;
  }

  /** Nothing was applied, and another member (or a later attempt) may succeed. */
  get retryable(): boolean {
    return this.code === "ETCD_UNREACHABLE" || this.code === "ETCD_NO_LEADER";
  }
}

/**
 * Maps etcd's error text and gRPC code (from the gateway's JSON) to one of our codes. "no leader"
 * and "too many requests" are refused before anything is proposed to Raft; "request timed out"
 * and "leader changed" come after the proposal, which may still be applied.
 */
export function etcdErrorFromGateway(message: string, grpcCode: number, endpoint: string): EtcdError {
  const options = { grpcCode, endpoint };
  if (/requested lease not found/.test(message))
    return new EtcdError("ETCD_LEASE_NOT_FOUND", message, options);
  if (/required revision has been compacted/.test(message)) {
    return new EtcdError("ETCD_COMPACTED", message, options);
  }
  const text = `${endpoint}: ${message}`;
  if (/permission denied/.test(message)) {
    return new EtcdError("ETCD_PERMISSION_DENIED", text, {
      ...options,
      hint: "the etcd user has no role that allows this key: use the credentials of a user that may (see README, Protecting cluster traffic)",
    });
  }
  if (/authentication failed|user name is empty|invalid auth token/.test(message)) {
    return new EtcdError("ETCD_AUTH_FAILED", text, {
      ...options,
      hint: "etcd's authentication is on: give etcd.tls.user and etcd.tls.password_file of a user etcd knows (for operator commands: PAVISE_ETCD_USER and PAVISE_ETCD_PASSWORD_FILE)",
    });
  }
  if (/no leader|too many requests|not capable/.test(message))
    return new EtcdError("ETCD_NO_LEADER", text, options);
  if (
    /timed out|leader changed|deadline exceeded|canceled|stopped/.test(message) ||
    grpcCode === 4 ||
    grpcCode === 14
  ) {
    return new EtcdError("ETCD_OUTCOME_UNKNOWN", text, options);
  }
  return new EtcdError("ETCD_REQUEST_FAILED", text, options);
}
