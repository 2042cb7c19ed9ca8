import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../../util/errors.js";
import { run } from "../../util/run.js";
import type { HostRuntime, LabProcess } from "../host-runtime.js";
import { isSameProcessAlive, signalProcess, waitForExit } from "../processes.js";
import { ViciClient } from "./vici-client.js";
import type { ViciSection, ViciValue } from "./vici-codec.js";

/**
 * One strongSwan charon inside a lab host, driven over VICI: the reference IKE peer our own
 * stack is measured and tested against.
 *
 * Each instance owns `<labDir>/hosts/<host>/strongswan/`:
 *   run/             bind-mounted over /run in a private mount namespace, so charon's
 *                    compiled-in /var/run/charon.pid and our /run/charon.vici land here and two
 *                    charons never collide (/var/run is a symlink to /run on Debian)
 *   run/strongswan.conf, run/charon.log
 *   swanctl/         swanctl.conf files we load
 * The VICI socket is a filesystem object, so the test process reaches it from the root network
 * namespace at run/charon.vici.
 */

const CHARON = "/usr/lib/ipsec/charon";
const PLUGIN_DIR = "/usr/lib/ipsec/plugins";

/**
 * Plugins charon loads, explicitly: we do not read /etc/strongswan.d, where Debian ships
 * kernel-libipsec with `load = no` (FACTS.md "strongSwan set-up pitfalls").
 * - random nonce openssl kdf: the minimum for a PSK tunnel with AES-GCM and X25519 (checked by
 *   leaving plugins out). OpenSSL alone supplies the ciphers (using AES-NI where the CPU has
 *   it), so no slower software plugin can be picked for the ESP benchmark; Debian has no
 *   separate curve25519 plugin; without kdf the key derivation fails.
 * - pem pkcs1 pkcs8 x509 pubkey constraints: certificates, keys and chain constraints (basic
 *   constraints, path length), for certificate-based configs.
 * - kernel-libipsec: the user-space ESP datapath (this kernel has no XFRM); kernel-netlink for
 *   addresses, routes and the routing rule; socket-default for IKE and ESP-in-UDP; vici for us.
 */
export const CHARON_PLUGINS = [
  "random",
  "nonce",
  "openssl",
  "kdf",
  "pem",
  "pkcs1",
  "pkcs8",
  "x509",
  "pubkey",
  "constraints",
  "kernel-libipsec",
  "kernel-netlink",
  "socket-default",
  "vici",
] as const;

/** swanctl only parses configuration and credentials. */
const SWANCTL_PLUGINS = ["random", "openssl", "pem", "pkcs1", "pkcs8", "x509", "pubkey"] as const;

/**
 * Mark on charon's own IKE/ESP-in-UDP socket. kernel-libipsec routes the protected traffic into
 * its ipsec0 TUN through routing table 220; for a host-to-host tunnel (remote_ts = the peer's
 * own address) that route would also swallow the encapsulated ESP packets. kernel-netlink's
 * `fwmark = !MARK` makes the rule for table 220 skip marked packets, and socket-default marks
 * its socket, so charon's packets take the main table (kernel-libipsec `allow_peer_ts`).
 */
const BYPASS_MARK = "0x4b1d";

export type LogSubsystem =
  "default" | "dmn" | "mgr" | "ike" | "chd" | "job" | "cfg" | "knl" | "net" | "enc" | "esp" | "lib";

export interface CharonOptions {
  /** Log levels (-1..4) for charon.log; default: 1, with ike, cfg and chd at 2. */
  logLevels?: Partial<Record<LogSubsystem, number>>;
  /** How long charon may take until its VICI socket answers (default 10 s). */
  readyTimeoutMs?: number;
  /** Extra settings for the `charon` section of strongswan.conf, one per line (e.g. "dos_protection = no"). */
  settings?: string[];
}

const DEFAULT_LOG_LEVELS: Record<string, number> = { default: 1, ike: 2, cfg: 2, chd: 2 };

/** strongswan.conf for one lab charon: the whole configuration, nothing included. */
export function renderStrongswanConf(options: Pick<CharonOptions, "logLevels" | "settings"> = {}): string {
  const levels = { ...DEFAULT_LOG_LEVELS, ...options.logLevels };
  const indent = (n: number, lines: string[]): string[] => lines.map((line) => " ".repeat(n) + line);
  // The settings parser wants one setting per line and dislikes braces in comments.
  return [
    "# Written by pavise lab; charon reads it as STRONGSWAN_CONF=/run/strongswan.conf.",
    "charon {",
    `  load = ${CHARON_PLUGINS.join(" ")}`,
    ...indent(2, options.settings ?? []),
    "  filelog {",
    "    charon {",
    "      path = /run/charon.log",
    "      append = yes",
    "      flush_line = yes",
    "      time_format = %H:%M:%S",
    "      time_add_ms = yes",
    "      ike_name = yes",
    ...indent(
      6,
      Object.entries(levels).map(([subsystem, level]) => `${subsystem} = ${level}`),
    ),
    "    }",
    "  }",
    "  plugins {",
    "    kernel-libipsec {",
    "      allow_peer_ts = yes",
    "    }",
    "    kernel-netlink {",
    `      fwmark = !${BYPASS_MARK}`,
    "    }",
    "    socket-default {",
    `      fwmark = ${BYPASS_MARK}`,
    "    }",
    "    vici {",
    "      socket = unix:///run/charon.vici",
    "    }",
    "  }",
    "}",
    "swanctl {",
    `  load = ${SWANCTL_PLUGINS.join(" ")}`,
    "}",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// What list-sas reports, typed for the fields tests look at.

export interface ChildSaInfo {
  name: string;
  uniqueId: number;
  /** INSTALLED once the SA carries traffic. */
  state: string;
  mode: string;
  protocol: string;
  /** ESP in UDP; always true with kernel-libipsec. */
  encap: boolean;
  spiIn: string;
  spiOut: string;
  encrAlg: string | undefined;
  encrKeysize: number | undefined;
  /** Absent for AEAD ciphers (AES-GCM, ChaCha20-Poly1305). */
  integAlg: string | undefined;
  bytesIn: number;
  packetsIn: number;
  bytesOut: number;
  packetsOut: number;
  localTs: string[];
  remoteTs: string[];
}

export interface IkeSaInfo {
  /** The connection name. */
  name: string;
  uniqueId: number;
  /** ESTABLISHED once authenticated. */
  state: string;
  initiator: boolean;
  localHost: string;
  localPort: number;
  localId: string;
  remoteHost: string;
  remotePort: number;
  remoteId: string;
  encrAlg: string | undefined;
  encrKeysize: number | undefined;
  prfAlg: string | undefined;
  dhGroup: string | undefined;
  /** Seconds since the SA was established. */
  establishedSeconds: number | undefined;
  childSas: ChildSaInfo[];
  /** Everything charon sent, for fields not mapped above. */
  raw: ViciSection;
}

function text(section: ViciSection, key: string): string | undefined {
  const value = section[key];
  return typeof value === "string" ? value : undefined;
}

function count(section: ViciSection, key: string): number | undefined {
  const value = text(section, key);
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function list(section: ViciSection, key: string): string[] {
  const value = section[key];
  return Array.isArray(value) ? value : [];
}

function sections(value: ViciValue | undefined): [string, ViciSection][] {
  if (value === undefined || typeof value === "string" || Array.isArray(value)) return [];
  return Object.entries(value).filter((entry): entry is [string, ViciSection] => {
    const v = entry[1];
    return typeof v === "object" && !Array.isArray(v);
  });
}

function parseChildSa(child: ViciSection): ChildSaInfo {
  return {
    name: text(child, "name") ?? "",
    uniqueId: count(child, "uniqueid") ?? 0,
    state: text(child, "state") ?? "",
    mode: text(child, "mode") ?? "",
    protocol: text(child, "protocol") ?? "",
    encap: text(child, "encap") === "yes",
    spiIn: text(child, "spi-in") ?? "",
    spiOut: text(child, "spi-out") ?? "",
    encrAlg: text(child, "encr-alg"),
    encrKeysize: count(child, "encr-keysize"),
    integAlg: text(child, "integ-alg"),
    bytesIn: count(child, "bytes-in") ?? 0,
    packetsIn: count(child, "packets-in") ?? 0,
    bytesOut: count(child, "bytes-out") ?? 0,
    packetsOut: count(child, "packets-out") ?? 0,
    localTs: list(child, "local-ts"),
    remoteTs: list(child, "remote-ts"),
  };
}

/** Turns the `list-sa` events of a `list-sas` command (one IKE SA, keyed by name, each) into SAs. */
export function parseListSaEvents(events: readonly ViciSection[]): IkeSaInfo[] {
  return events.flatMap((event) =>
    sections(event).map(([name, ike]) => ({
      name,
      uniqueId: count(ike, "uniqueid") ?? 0,
      state: text(ike, "state") ?? "",
      initiator: text(ike, "initiator") === "yes",
      localHost: text(ike, "local-host") ?? "",
      localPort: count(ike, "local-port") ?? 0,
      localId: text(ike, "local-id") ?? "",
      remoteHost: text(ike, "remote-host") ?? "",
      remotePort: count(ike, "remote-port") ?? 0,
      remoteId: text(ike, "remote-id") ?? "",
      encrAlg: text(ike, "encr-alg"),
      encrKeysize: count(ike, "encr-keysize"),
      prfAlg: text(ike, "prf-alg"),
      dhGroup: text(ike, "dh-group"),
      establishedSeconds: count(ike, "established"),
      childSas: sections(ike["child-sas"]).map(([, child]) => parseChildSa(child)),
      raw: ike,
    })),
  );
}

// ---------------------------------------------------------------------------------------------

/** Commands answer `success = no` with an `errmsg` when they fail. */
function checkSuccess(command: string, response: ViciSection, code: string, hint: string): void {
  if (text(response, "success") === "yes") return;
  const reason = text(response, "errmsg") ?? "no reason given";
  throw new PaviseError(code, `charon refused ${command}: ${reason}`, { hint });
}

export class Charon {
  private stopped = false;

  constructor(
    private readonly runtime: HostRuntime,
    readonly host: string,
    /** `<labDir>/hosts/<host>/strongswan` */
    readonly dir: string,
    readonly labProcess: LabProcess,
  ) {}

  get runDir(): string {
    return join(this.dir, "run");
  }
  get viciPath(): string {
    return join(this.runDir, "charon.vici");
  }
  get logPath(): string {
    return join(this.runDir, "charon.log");
  }
  get confPath(): string {
    return join(this.runDir, "strongswan.conf");
  }
  get swanctlDir(): string {
    return join(this.dir, "swanctl");
  }

  /** Runs one VICI operation on a fresh connection: cheap on a unix socket, and never stale. */
  async vici<T>(use: (client: ViciClient) => Promise<T>): Promise<T> {
    const client = await ViciClient.connect(this.viciPath);
    try {
      return await use(client);
    } finally {
      client.close();
    }
  }

  /**
   * Replaces charon's connections and secrets with those in `swanctlConf` (swanctl.conf syntax,
   * one setting per line): `swanctl --load-all` also unloads what the file no longer has.
   */
  /**
   * Puts credential files where swanctl finds them next to its configuration: own
   * certificates in x509/, private keys in private/, trusted CAs in x509ca/. Load them (with
   * the connections) by calling loadConfig afterwards.
   */
  installCredentials(files: { certs?: string[]; keys?: string[]; cacerts?: string[] }): void {
    for (const [folder, list] of [
      ["x509", files.certs],
      ["private", files.keys],
      ["x509ca", files.cacerts],
    ] as const) {
      const dir = join(this.swanctlDir, folder);
      mkdirSync(dir, { recursive: true });
      for (const file of list ?? []) copyFileSync(file, join(dir, basename(file)));
    }
  }

  async loadConfig(swanctlConf: string): Promise<void> {
    const file = join(this.swanctlDir, "swanctl.conf");
    writeFileSync(file, swanctlConf.endsWith("\n") ? swanctlConf : `${swanctlConf}\n`);
    // swanctl wants --uri after the command (FACTS.md); it runs in the root namespace, where the
    // socket is reachable by its path.
    const result = await run(
      ["swanctl", "--load-all", "--noprompt", "--file", file, "--uri", `unix://${this.viciPath}`],
      { env: { ...process.env, STRONGSWAN_CONF: this.confPath }, timeoutMs: 20_000, allowFailure: true },
    );
    // A file swanctl cannot parse is reported on stderr with exit status 0, and swanctl then
    // loads an empty configuration, unloading every connection charon had.
    const unparsable = /invalid config file|syntax error/.test(result.stderr);
    if (result.code !== 0 || unparsable) {
      // swanctl complains about every missing credential folder; those lines are noise.
      const output = `${result.stdout}\n${result.stderr}`
        .split("\n")
        .filter((line) => line.trim() !== "" && !line.startsWith("opening directory"))
        .join("\n");
      throw new PaviseError("STRONGSWAN_CONFIG_REJECTED", `swanctl could not load ${file}:\n${output}`, {
        where: { file },
        hint:
          `check the file's syntax (one setting per line) and ${this.logPath}; ` +
          "charon may be left without connections, load a corrected file",
      });
    }
  }

  /** Brings up a CHILD_SA (and its IKE_SA), waiting until it is established or failed. */
  async initiate(options: { child: string; ike?: string; timeoutMs?: number }): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const request: ViciSection = { child: options.child, timeout: String(timeoutMs), "init-limits": "no" };
    if (options.ike !== undefined) request.ike = options.ike;
    // charon enforces the timeout itself; ours only catches a charon that never answers.
    const response = await this.vici((c) => c.request("initiate", request, { timeoutMs: timeoutMs + 5_000 }));
    checkSuccess(
      `initiate child ${options.child}`,
      response,
      "STRONGSWAN_INITIATE_FAILED",
      `see ${this.logPath}`,
    );
  }

  /**
   * All IKE_SAs with their CHILD_SAs and traffic counters. charon waits for an IKE_SA that one
   * of its threads is using (as `swanctl --list-sas` does): with `noblock` it would leave that
   * one out, and an SA busy just after `initiate` returned (installing its CHILD_SA, answering
   * the peer) looked absent — tests failed on it in CI. `noblock: true` skips busy ones.
   */
  async listSas(options: { ike?: string; noblock?: boolean } = {}): Promise<IkeSaInfo[]> {
    const request: ViciSection = options.noblock ? { noblock: "yes" } : {};
    if (options.ike !== undefined) request.ike = options.ike;
    const { events } = await this.vici((c) => c.streamedRequest("list-sas", "list-sa", request));
    return parseListSaEvents(events);
  }

  /**
   * Deletes the IKE_SAs of a connection, or the one with that unique id (and their CHILD_SAs),
   * telling the peer.
   */
  async terminate(options: ({ ike: string } | { ikeId: number }) & { timeoutMs?: number }): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const which: ViciSection = "ike" in options ? { ike: options.ike } : { "ike-id": String(options.ikeId) };
    const response = await this.vici((c) =>
      c.request("terminate", { ...which, timeout: String(timeoutMs) }, { timeoutMs: timeoutMs + 5_000 }),
    );
    checkSuccess(
      `terminate ike ${"ike" in options ? options.ike : `#${options.ikeId}`}`,
      response,
      "STRONGSWAN_TERMINATE_FAILED",
      `see ${this.logPath}`,
    );
  }

  /**
   * Rekeys the CHILD_SAs of that name (VICI `rekey`). charon only queues the CREATE_CHILD_SA
   * exchange and answers at once: poll listSas for the outcome. Returns how many matched.
   */
  async rekeyChild(options: { child: string; ike?: string }): Promise<number> {
    const request: ViciSection = { child: options.child };
    if (options.ike !== undefined) request.ike = options.ike;
    const response = await this.vici((c) => c.request("rekey", request));
    checkSuccess(`rekey child ${options.child}`, response, "STRONGSWAN_REKEY_FAILED", `see ${this.logPath}`);
    return count(response, "matches") ?? 0;
  }

  /**
   * The algorithms charon's loaded plugins offer (VICI `get-algorithms`), by kind ("encryption",
   * "aead", "integrity", "dh", ...): algorithm name (e.g. "CHACHA20_POLY1305") → plugin. What a
   * test checks before it blames a failed negotiation on the peer under test.
   */
  async algorithms(): Promise<Record<string, Record<string, string>>> {
    const response = await this.vici((c) => c.request("get-algorithms", {}));
    const kinds: Record<string, Record<string, string>> = {};
    for (const [kind, section] of sections(response)) {
      kinds[kind] = Object.fromEntries(
        Object.entries(section).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
      );
    }
    return kinds;
  }

  /** The last `lines` lines of charon.log (read from the end, the log may be large). */
  async logTail(lines = 40): Promise<string> {
    return tailFile(this.logPath, lines);
  }

  /**
   * Stops charon: SIGTERM first, so that it deletes its SAs and removes its routes and TUN
   * device, then SIGKILL if it has not gone after 5 s. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (isSameProcessAlive(this.labProcess)) await this.runtime.stop(this.labProcess, "SIGTERM");
    if (!(await waitForExit(this.labProcess, 5_000))) {
      signalProcess(this.labProcess, "SIGKILL");
      await waitForExit(this.labProcess, 5_000);
    }
  }
}

async function tailFile(path: string, lines: number): Promise<string> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return "";
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 256 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const all = buffer.toString("utf8").split("\n");
    if (all.at(-1) === "") all.pop();
    return all.slice(-lines).join("\n");
  } finally {
    await handle.close();
  }
}

/** Does something answer VICI `version` at this path? */
async function viciAnswers(path: string, timeoutMs: number): Promise<boolean> {
  try {
    const client = await ViciClient.connect(path, { timeoutMs });
    try {
      await client.request("version", {}, { timeoutMs });
      return true;
    } finally {
      client.close();
    }
  } catch {
    return false;
  }
}

/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Starts charon inside `host` and waits until its VICI socket answers. The caller stops it with
 * `charon.stop()` (a lab's `down` also ends it, as a tracked process).
 */
export async function startCharon(
  runtime: HostRuntime,
  host: string,
  options: CharonOptions = {},
): Promise<Charon> {
  runtime.namespaceOf(host); // LAB_UNKNOWN_HOST before anything is written
  const dir = join(runtime.labDir, "hosts", host, "strongswan");
  const runDir = join(dir, "run");
  const viciPath = join(runDir, "charon.vici");
  if (Buffer.byteLength(viciPath) > MAX_SOCKET_PATH) {
    throw new PaviseError(
      "STRONGSWAN_PATH_TOO_LONG",
      `the VICI socket path ${viciPath} is too long for a unix socket`,
      {
        hint: `use a shorter lab directory (PAVISE_LAB_ROOT); the limit is ${MAX_SOCKET_PATH} bytes`,
      },
    );
  }
  for (const plugin of CHARON_PLUGINS) {
    const file = join(PLUGIN_DIR, `libstrongswan-${plugin}.so`);
    if (!existsSync(file)) {
      throw new PaviseError("STRONGSWAN_PLUGIN_MISSING", `the strongSwan plugin ${plugin} is not installed`, {
        where: { file },
        hint: "install strongswan-charon, strongswan-swanctl and libcharon-extra-plugins (scripts/setup.sh)",
      });
    }
  }
  if (await viciAnswers(viciPath, 1_000)) {
    throw new PaviseError("STRONGSWAN_ALREADY_RUNNING", `a charon already answers on ${viciPath}`, {
      hint: "stop it first (charon.stop() or pavise lab down)",
    });
  }

  mkdirSync(runDir, { recursive: true });
  mkdirSync(join(dir, "swanctl"), { recursive: true });
  // Leftovers of a charon that was killed: a stale pid file makes charon refuse to start if the
  // PID now belongs to another process.
  rmSync(join(runDir, "charon.pid"), { force: true });
  rmSync(viciPath, { force: true });
  writeFileSync(join(runDir, "strongswan.conf"), renderStrongswanConf(options));

  // `unshare -m` gives charon a private mount namespace in which our run/ is /run. The run
  // directory and binary are positional parameters of the tiny script, so no quoting is needed;
  // `exec` keeps the PID the lab tracks the PID of charon itself.
  const labProcess = await runtime.spawn(
    host,
    [
      "unshare",
      "-m",
      "--propagation",
      "private",
      "--",
      "/bin/sh",
      "-c",
      'mount --bind "$1" /run && exec "$2"',
      "charon-in-lab",
      runDir,
      CHARON,
    ],
    { role: "charon", log: join(dir, "charon.out"), env: { STRONGSWAN_CONF: "/run/strongswan.conf" } },
  );
  const charon = new Charon(runtime, host, dir, labProcess);

  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (await viciAnswers(viciPath, 1_000)) return charon;
    const exited = !isSameProcessAlive(labProcess);
    if (exited || Date.now() > deadline) {
      await charon.stop();
      const tail = (await charon.logTail(15)) || (await tailFile(labProcess.log, 15));
      throw new PaviseError(
        "STRONGSWAN_NOT_READY",
        `charon on ${host} ${exited ? "exited" : `did not answer on ${viciPath} within ${readyTimeoutMs} ms`}` +
          (tail ? `; last log lines:\n${tail}` : ""),
        { where: { file: charon.logPath }, hint: `read ${charon.logPath} and ${labProcess.log}` },
      );
    }
    await sleep(50);
  }
}
