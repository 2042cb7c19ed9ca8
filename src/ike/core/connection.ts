import type { ChildConfig, ConnectionConfig, IpsecConfig } from "../config/ipsec-config.js";
import { parseProposalString, type ProposalTransforms } from "../crypto/transforms.js";
import { type ConfigProblem, PaviseError } from "../../util/errors.js";
import { encodeIdentity } from "./identity-payload.js";

/** A connection with its proposal strings parsed, as the IKE core uses it. */
export interface ResolvedConnection {
  config: ConnectionConfig;
  ikeProposals: ProposalTransforms[];
  children: ResolvedChild[];
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
      if (id.kind === "dn") {
        problems.push({
          ...(file ? { file } : {}),
          key: `${base}.${side}.id`,
          value: id.value,
          message: "distinguished-name identities are not supported yet",
          hint: "use an address, FQDN or email identity for now",
        });
      } else if (id.kind !== "any" && "error" in encodeIdentity(id)) {
        problems.push({
          ...(file ? { file } : {}),
          key: `${base}.${side}.id`,
          value: id,
          message: "cannot be encoded",
          hint: "check the identity",
        });
      }
    }
    if (connection.local.auth === "pubkey" || connection.remote.auth === "pubkey") {
      problems.push({
        ...(file ? { file } : {}),
        key: `${base}.local.auth`,
        value: "pubkey",
        message: "certificate authentication is not supported yet",
        hint: "use auth: psk for now",
      });
    }
    return {
      config: connection,
      ikeProposals: connection.proposals.flatMap((p, i) => parse(p, "ike", `${base}.proposals[${i}]`)),
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
