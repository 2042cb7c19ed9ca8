/**
 * One log file per package (Serviceguard's script_log_file): what the executor did for the
 * package ("adding 198.18.1.50/24 on lan0"), what its start and halt scripts printed, and what
 * its services write. Lines from the executor and from scripts are stamped (UTC, ms) and say
 * who speaks; services write to the file directly (they get its descriptor as stdout and
 * stderr), so they keep logging if the daemon dies under them, and their lines are as they
 * print them.
 */

import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { PaviseError } from "../../util/errors.js";

export const DEFAULT_LOG_DIRECTORY = "/var/log/pavise";

/** The package's log file: its own logFile if it names one, else <directory>/<package>.log. */
export function packageLogPath(
  pkg: { name: string; logFile: string | undefined },
  directory: string,
): string {
  return pkg.logFile ?? join(directory, `${pkg.name}.log`);
}

/** `2026-11-27T13:02:10.231Z executor: adding 198.18.1.50/24 on lan0`, one line per line of text. */
export function formatLogLines(at: number, source: string, text: string): string {
  const stamp = new Date(at).toISOString();
  return (
    text
      .replace(/\r?\n$/, "")
      .split(/\r?\n/)
      .map((line) => `${stamp} ${source}: ${line}`)
      .join("\n") + "\n"
  );
}

export class PackageLog {
  private constructor(
    readonly path: string,
    private descriptor: number | undefined,
  ) {}

  /** Opens (and creates, with its directory) the log file for appending. */
  static open(path: string): PackageLog {
    try {
      mkdirSync(dirname(path), { recursive: true });
      return new PackageLog(path, openSync(path, "a", 0o640));
    } catch (err) {
      throw new PaviseError(
        "EXECUTOR_LOG_UNWRITABLE",
        `cannot open package log ${path}: ${(err as Error).message}`,
        {
          where: { file: path },
          hint: "give the package a log_file in a writable directory, or make the directory writable for the daemon",
          cause: err,
        },
      );
    }
  }

  /** The open descriptor (append mode), for a service's stdout and stderr. */
  get fd(): number {
    if (this.descriptor === undefined) throw new Error(`package log ${this.path} is closed`);
    return this.descriptor;
  }

  write(source: string, text: string, at: number = Date.now()): void {
    if (this.descriptor === undefined) return;
    // Synchronous: a line is tens of bytes, and the order of lines is the order of events.
    writeSync(this.descriptor, formatLogLines(at, source, text));
  }

  close(): void {
    if (this.descriptor === undefined) return;
    closeSync(this.descriptor);
    this.descriptor = undefined;
  }
}
