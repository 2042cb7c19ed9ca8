import { spawn } from "node:child_process";
import { PaviseError } from "./errors.js";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Data written to the command's standard input. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command (SIGKILL) after this many milliseconds. */
  timeoutMs?: number;
  /** Accept a non-zero exit status instead of throwing. */
  allowFailure?: boolean;
}

/**
 * Runs a command without a shell and collects its output. A non-zero exit is an error
 * (code RUN_FAILED) that carries the command line and its stderr, unless allowFailure is set.
 */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError("run: argv must not be empty");
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: options.env ?? process.env,
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, options.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(
        new PaviseError("RUN_NOT_FOUND", `cannot run ${file}: ${err.message}`, {
          hint:
            err.code === "ENOENT"
              ? `install the program that provides ${file} (scripts/setup.sh does)`
              : undefined,
          cause: err,
        }),
      );
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const status = code ?? 128;
      if (timedOut) {
        reject(
          new PaviseError("RUN_TIMEOUT", `${argv.join(" ")} did not finish within ${options.timeoutMs} ms`),
        );
      } else if (status !== 0 && !options.allowFailure) {
        const reason = signal ? `was killed by ${signal}` : `exited with status ${status}`;
        reject(
          new PaviseError("RUN_FAILED", `${argv.join(" ")} ${reason}: ${stderr.trim() || stdout.trim()}`),
        );
      } else {
        resolve({ code: status, stdout, stderr });
      }
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}
