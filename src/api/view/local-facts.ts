import { open } from "node:fs/promises";
import type { ClusterConfig } from "../../cluster/config/model.js";
import { DEFAULT_LOG_DIRECTORY, packageLogPath } from "../../cluster/executor/package-log.js";
import type { IkeSaStatus } from "../../ipsec/sa-status.js";
import { PaviseError } from "../../util/errors.js";
import type { LogTail } from "../schema/view-types.js";

export type { LogTail };

/**
 * What only this node knows (design §1, §2 `routes/owner-proxy.ts`): the live SAs of a package
 * it owns (PackageIpsecHost.sas, in the agent's memory) and the tail of a package's log file
 * (on this node's disk). Every other read comes from the shared view cache.
 */
export interface LocalFacts {
  node: string;
  ipsecSas(pkg: string): IkeSaStatus[];
  logTail(pkg: string, lines: number): Promise<LogTail>;
}

/** The most lines a log tail gives (design §5). */
export const MAX_LOG_LINES = 2000;
/** The most bytes read from the end of a log for a tail: 2,000 lines of up to 2 KiB. */
const MAX_TAIL_BYTES = 4 * 1024 * 1024;
const CHUNK = 64 * 1024;

export interface DaemonLocalFactsOptions {
  node: string;
  /** The configuration in force (the package's log_file). */
  config: () => ClusterConfig | undefined;
  /** The daemon's --log-dir. */
  logDirectory: string | undefined;
  /** The agent's SAs of one package (NodeAgent.ipsecSas(pkg).sas); undefined while it starts. */
  sas: (pkg: string) => IkeSaStatus[] | undefined;
}

/** LocalFacts over the daemon's agent and its package log files. */
export function daemonLocalFacts(options: DaemonLocalFactsOptions): LocalFacts {
  return {
    node: options.node,
    ipsecSas: (pkg) => options.sas(pkg) ?? [],
    logTail: async (pkg, lines) => {
      const config = options.config()?.packages.find((p) => p.name === pkg);
      if (!config) {
        throw new PaviseError(
          "NO_SUCH_PACKAGE",
          `no package ${JSON.stringify(pkg)} in the configuration ${options.node} runs`,
        );
      }
      const file = packageLogPath(config, options.logDirectory ?? DEFAULT_LOG_DIRECTORY);
      return {
        node: options.node,
        file,
        lines: await tailLines(file, Math.min(lines, MAX_LOG_LINES), options.node),
      };
    },
  };
}

/**
 * The last `count` lines of a file, read backwards from its end in 64 KiB steps (a package log
 * grows without bound: never read it whole), at most 4 MiB. A last line without its newline
 * (a service mid-write) is a line too.
 */
export async function tailLines(file: string, count: number, node: string): Promise<string[]> {
  if (count <= 0) return [];
  let handle;
  try {
    handle = await open(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PaviseError(
      "API_NOT_FOUND",
      code === "ENOENT"
        ? `there is no log at ${file} on ${node}: the package has not run there`
        : `cannot read the log ${file} on ${node}: ${(err as Error).message}`,
      { where: { file }, hint: "name the node the package runs or ran on with ?node=" },
    );
  }
  try {
    const size = (await handle.stat()).size;
    let start = size;
    const chunks: Buffer[] = [];
    let newlines = 0;
    // Bytes, decoded once at the end: a chunk boundary may cut a UTF-8 character.
    while (start > 0 && size - start < MAX_TAIL_BYTES && newlines <= count) {
      const length = Math.min(CHUNK, start);
      start -= length;
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, start);
      chunks.unshift(buffer);
      for (const byte of buffer) if (byte === 0x0a) newlines++;
    }
    const lines = Buffer.concat(chunks).toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    // The first piece may be the end of a line cut by the read's start: drop it unless it is the file's start.
    if (start > 0) lines.shift();
    return lines.slice(-count);
  } finally {
    await handle.close();
  }
}
