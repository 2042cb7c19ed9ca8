import type { ChildConfig, ConnectionConfig, IpsecConfig } from "../config/ipsec-config.js";
import { parseProposalString, type ProposalTransforms } from "../crypto/transforms.js";
import { type ConfigProblem, PaviseError } from "../../util/errors.js";
import { encodeAuthIdentity } from "../auth/auth-identity.js";
import { loadLocalCredentials, loadPeerTrust, type LocalCredentials } from "../auth/pubkey-authenticator.js";
import type { TrustStore } from "../auth/certificates.js";
import { formatIdentity } from "../config/identity.js";

/** A connection with its proposal strings parsed, as the IKE core uses it. */
export interface ResolvedConnection {
  config: ConnectionConfig;
  ikeProposals: ProposalTransforms[];
  children: ResolvedChild[];
  /** Our certificate chain and private key (local.auth: pubkey). */
  localCredentials?: LocalCredentials;
  /** Trust anchors and pinned certificates for the peer (remote.auth: pubkey). */
  peerTrust?: TrustStore;
}

export interface ResolvedChild {
  config: ChildConfig;
  espProposals: ProposalTransforms[];
}

/** Parses every proposal of the configuration; each bad keyword is one problem with its key. */
export function resolveConnections(config: IpsecConfig, file?: string): ResolvedConnection[] {
  const problems: ConfigProblem[] = [];
  const parse = (text: string, protocol: "ike" | "esp", key: string): ProposalTransforms[] => {
    try {
      return [parseProposalString(text, protocol)];
    } catch (err) {
      const error = err as PaviseError;
      problems.push({
        ...(file ? { file } : {}),
        key,
        value: text,
        message: error.message,
        hint: error.hint ?? "write e.g. aes128gcm16-prfsha256-x25519",
      });
      return [];
    }
  };
  const resolved = config.connections.map((connection) => {
    const base = `connections.${connection.name}`;
    for (const side of ["local", "remote"] as const) {
      const id = connection[side].id;
      if (id.kind !== "any") {
        const wire = encodeAuthIdentity(id);
        if (!wire.ok)
          problems.push({
            ...(file ? { file } : {}),
            key: `${base}.${side}.id`,
            value: formatIdentity(id),
            message: wire.error.message,
            hint: 'write e.g. "C=CH, O=Org, CN=gw" or gw.example.org',
          });
      }
    }
    let localCredentials: LocalCredentials | undefined;
    let peerTrust: TrustStore | undefined;
    if (connection.local.auth === "pubkey") {
      const loaded = loadLocalCredentials(connection.local);
      if (loaded.ok) localCredentials = loaded.value;
      else
        problems.push({
          ...(file ? { file } : {}),
          key: `${base}.local`,
          value: connection.local.key,
          message: loaded.error.message,
          hint: "give certs: [your certificate (and intermediates)] and key: its private key, PEM or DER",
        });
    }
    if (connection.remote.auth === "pubkey") {
      const loaded = loadPeerTrust(connection.remote);
      if (!loaded.ok)
        problems.push({
          ...(file ? { file } : {}),
          key: `${base}.remote.cacerts`,
          value: connection.remote.cacerts,
          message: loaded.error.message,
          hint: "give cacerts: [the CA certificates you trust]",
        });
      else if (loaded.value.anchors.length === 0 && connection.remote.certs.length === 0) {
        problems.push({
          ...(file ? { file } : {}),
          key: `${base}.remote.cacerts`,
          value: [],
          message: "certificate authentication needs a trust anchor",
          hint: "give cacerts: [ca.crt] (or the peer's own certificate in certs)",
        });
      } else peerTrust = loaded.value;
    }
    return {
      config: connection,
      ikeProposals: connection.proposals.flatMap((p, i) => parse(p, "ike", `${base}.proposals[${i}]`)),
      ...(localCredentials ? { localCredentials } : {}),
      ...(peerTrust ? { peerTrust } : {}),
      children: connection.children.map((child) => ({
        config: child,
        espProposals: child.espProposals.flatMap((p, i) =>
          parse(p, "esp", `${base}.children.${child.name}.esp_proposals[${i}]`),
        ),
      })),
    };
  });
  if (problems.length > 0) {
    throw new PaviseError("IPSEC_CONFIG_INVALID", `IPsec configuration has ${problems.length} problem(s)`, {
      ...(file ? { where: { file } } : {}),
      problems,
    });
  }
  return resolved;
}
