import type { SharedKey } from "../config/ipsec-config.js";
import type { Identity } from "../config/identity.js";
import { encodeIdentity, identityMatches, type WireIdentity } from "./identity-payload.js";

function sameIdentity(a: Identity, b: Identity): boolean {
  if (a.kind === "any" || b.kind === "any") return a.kind === b.kind;
  const wa = encodeIdentity(a);
  const wb = encodeIdentity(b);
  return (
    !("error" in wa) && !("error" in wb) && wa.idType === wb.idType && Buffer.compare(wa.data, wb.data) === 0
  );
}

/**
 * Finds the pre-shared key for a pair of identities the way strongSwan does: a secret whose id
 * list names both ends wins over one that names either, which wins over one that names none (a
 * default secret). Ties go to the first in the file.
 */
export function sharedKeyFor(
  keys: readonly SharedKey[],
  local: Identity,
  remote: WireIdentity,
): Uint8Array | undefined {
  let best: { score: number; secret: Uint8Array } | undefined;
  for (const key of keys) {
    const namesLocal = key.ids.some((id) => sameIdentity(id, local));
    const namesRemote = key.ids.some((id) => id.kind !== "any" && identityMatches(id, remote));
    if (key.ids.length > 0 && !namesLocal && !namesRemote) continue;
    const score = (namesLocal ? 1 : 0) + (namesRemote ? 2 : 0);
    if (!best || score > best.score) best = { score, secret: key.secret };
  }
  return best?.secret;
}
