import { PaviseError } from "../../util/errors.js";

/** A PSK tunnel between two hosts (or a host and a subnet), as one side configures it. */
export interface PskTunnel {
  /** Connection name; also the CHILD_SA name unless `child` is given. */
  name: string;
  child?: string;
  localAddress: string;
  remoteAddress: string;
  /** IKE identities; default to the addresses. */
  localId?: string;
  remoteId?: string;
  /** Written hex-encoded, so any text works without swanctl.conf quoting. */
  psk: string;
  /** IKE proposal; default aes128gcm16-prfsha256-x25519. */
  proposals?: string;
  /** ESP proposal; default aes128gcm16. */
  espProposals?: string;
  /** Default: the local address as /32 (host-to-host). */
  localTs?: string[];
  /** Default: the remote address as /32; a subnet makes a host-to-subnet tunnel. */
  remoteTs?: string[];
  /** What charon does after loading: nothing, install a trap, or initiate at once. */
  startAction?: "none" | "trap" | "start";
  /** IKE SA rekey interval, e.g. "30s" (charon's default 4h). */
  rekeyTime?: string;
  /** CHILD_SA mode (default tunnel). */
  mode?: "tunnel" | "transport";
  /** Hard IKE SA lifetime beyond rekey_time (charon's default: 10 % of rekey_time). */
  overTime?: string;
  /** CHILD_SA rekey interval, e.g. "20s" (charon's default 1h). */
  childRekeyTime?: string;
  /** IKEv2 liveness check interval, e.g. "2s"; off when absent (charon's default). */
  dpdDelay?: string;
  /** What to do with the CHILD_SA when DPD declares the peer dead. */
  dpdAction?: "clear" | "trap" | "restart";
  /** How many times charon tries to set up the IKE SA (0: for ever; charon's default 1). */
  keyingtries?: number;
  /**
   * Force ESP in UDP even without NAT (default true). kernel-libipsec only speaks ESP-in-UDP;
   * without it the CHILD_SA cannot be installed.
   */
  encap?: boolean;
}

// Names and values appear unquoted in the settings syntax, which ends a value at a newline and
// gives meaning to braces, '=', '#', quotes and whitespace.
const SAFE_VALUE = /^[A-Za-z0-9._:/@%+,*-]+$/;
// Traffic selectors may also carry "[protocol/port]".
const SAFE_SELECTOR = /^[A-Za-z0-9._:/@%+,*[\]-]+$/;
// Section names (connection, child) additionally may not contain '.' or ','.
const SAFE_NAME = /^[A-Za-z0-9_-]+$/;

function checked(key: string, value: string, pattern: RegExp = SAFE_VALUE): string {
  if (!pattern.test(value)) {
    throw new PaviseError(
      "SWANCTL_CONFIG_INVALID",
      `${key} ${JSON.stringify(value)} cannot be written to swanctl.conf`,
      {
        where: { key, value },
        hint: `use only ${pattern.source}`,
      },
    );
  }
  return value;
}

function hostPrefix(address: string): string {
  return address.includes(":") ? `${address}/128` : `${address}/32`;
}

/**
 * Renders one tunnel in swanctl.conf syntax: a `connections` and a `secrets` section. Files with
 * several tunnels may concatenate the outputs; charon merges sections of the same name.
 */
export function renderPskTunnel(tunnel: PskTunnel): string {
  const name = checked("name", tunnel.name, SAFE_NAME);
  const child = checked("child", tunnel.child ?? tunnel.name, SAFE_NAME);
  const localAddress = checked("localAddress", tunnel.localAddress);
  const remoteAddress = checked("remoteAddress", tunnel.remoteAddress);
  const localId = checked("localId", tunnel.localId ?? localAddress);
  const remoteId = checked("remoteId", tunnel.remoteId ?? remoteAddress);
  const localTs = (tunnel.localTs ?? [hostPrefix(localAddress)]).map((ts) =>
    checked("localTs", ts, SAFE_SELECTOR),
  );
  const remoteTs = (tunnel.remoteTs ?? [hostPrefix(remoteAddress)]).map((ts) =>
    checked("remoteTs", ts, SAFE_SELECTOR),
  );
  const optional = (key: string, option: string, value: string | undefined): string[] =>
    value === undefined ? [] : [`${key} = ${checked(option, value)}`];
  if (tunnel.psk === "") {
    throw new PaviseError("SWANCTL_CONFIG_INVALID", "psk must not be empty", { where: { key: "psk" } });
  }

  const lines = [
    "connections {",
    `  ${name} {`,
    "    version = 2",
    `    local_addrs = ${localAddress}`,
    `    remote_addrs = ${remoteAddress}`,
    `    proposals = ${checked("proposals", tunnel.proposals ?? "aes128gcm16-prfsha256-x25519")}`,
    `    encap = ${tunnel.encap === false ? "no" : "yes"}`,
    ...optional("dpd_delay", "dpdDelay", tunnel.dpdDelay).map((line) => `    ${line}`),
    ...optional("rekey_time", "rekeyTime", tunnel.rekeyTime).map((line) => `    ${line}`),
    ...optional("keyingtries", "keyingtries", tunnel.keyingtries?.toString()).map((line) => `    ${line}`),
    ...optional("over_time", "overTime", tunnel.overTime).map((line) => `    ${line}`),
    "    local {",
    "      auth = psk",
    `      id = ${localId}`,
    "    }",
    "    remote {",
    "      auth = psk",
    `      id = ${remoteId}`,
    "    }",
    "    children {",
    `      ${child} {`,
    `        mode = ${tunnel.mode ?? "tunnel"}`,
    `        esp_proposals = ${checked("espProposals", tunnel.espProposals ?? "aes128gcm16")}`,
    `        local_ts = ${localTs.join(",")}`,
    `        remote_ts = ${remoteTs.join(",")}`,
    `        start_action = ${tunnel.startAction ?? "none"}`,
    ...optional("dpd_action", "dpdAction", tunnel.dpdAction).map((line) => `        ${line}`),
    ...optional("rekey_time", "childRekeyTime", tunnel.childRekeyTime).map((line) => `        ${line}`),
    "      }",
    "    }",
    "  }",
    "}",
    "secrets {",
    `  ike-${name} {`,
    `    id-local = ${localId}`,
    `    id-remote = ${remoteId}`,
    // swanctl reads a 0x prefix as hex: no quoting or escaping of the secret's characters.
    `    secret = 0x${Buffer.from(tunnel.psk, "utf8").toString("hex")}`,
    "  }",
    "}",
    "",
  ];
  return lines.join("\n");
}

/** A certificate-authenticated tunnel: own certificate and key, the peer's identity and CA. */
export interface CertTunnel {
  name: string;
  localAddress: string;
  remoteAddress: string;
  /** Own identity (must be in the certificate) and certificate file name in x509/. */
  localId: string;
  cert: string;
  remoteId: string;
  /** The CA certificate (file name in x509ca/) the peer's chain must lead to. */
  cacert: string;
  proposals?: string;
  espProposals?: string;
  /** IKE fragmentation (swanctl `fragmentation`); default yes. */
  fragmentation?: "yes" | "no" | "force";
}

/** Renders a certificate tunnel (host to host, tunnel mode, ESP in UDP) in swanctl.conf syntax. */
export function renderCertTunnel(tunnel: CertTunnel): string {
  const name = checked("name", tunnel.name, SAFE_NAME);
  const quoted = (key: string, value: string): string => {
    if (/["\\\n]/.test(value))
      throw new PaviseError(
        "SWANCTL_CONFIG_INVALID",
        `${key} cannot contain quotes, backslashes or newlines`,
        { where: { key, value } },
      );
    return `"${value}"`;
  };
  return [
    "connections {",
    `  ${name} {`,
    "    version = 2",
    `    local_addrs = ${checked("localAddress", tunnel.localAddress)}`,
    `    remote_addrs = ${checked("remoteAddress", tunnel.remoteAddress)}`,
    `    proposals = ${checked("proposals", tunnel.proposals ?? "aes128gcm16-prfsha256-x25519")}`,
    "    encap = yes",
    `    fragmentation = ${tunnel.fragmentation ?? "yes"}`,
    "    local {",
    "      auth = pubkey",
    `      id = ${quoted("localId", tunnel.localId)}`,
    `      certs = ${checked("cert", tunnel.cert)}`,
    "    }",
    "    remote {",
    "      auth = pubkey",
    `      id = ${quoted("remoteId", tunnel.remoteId)}`,
    `      cacerts = ${checked("cacert", tunnel.cacert)}`,
    "    }",
    "    children {",
    `      ${name} {`,
    "        mode = tunnel",
    `        esp_proposals = ${checked("espProposals", tunnel.espProposals ?? "aes128gcm16")}`,
    `        local_ts = ${hostPrefix(tunnel.localAddress)}`,
    `        remote_ts = ${hostPrefix(tunnel.remoteAddress)}`,
    "      }",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");
}
