import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { callControl } from "../ipsec/control.js";
import type { IkeSaStatus } from "../ipsec/sa-status.js";
import type { DaemonCounters } from "../ipsec/ipsec-daemon.js";
import { PaviseError } from "../util/errors.js";
import { distPath } from "../util/package-paths.js";
import type { HostRuntime, LabProcess } from "./host-runtime.js";
import { signalProcess, waitForExit } from "./processes.js";

/** `pavise ipsec serve` running in a lab host, driven through its control socket. */
export interface PaviseIpsec {
  host: string;
  process: LabProcess;
  configPath: string;
  controlSocket: string;
  sas(): Promise<IkeSaStatus[]>;
  /** What no SA accounts for: unknown SPIs, the datapath's own drops. */
  counters(): Promise<DaemonCounters>;
  initiate(name: string): Promise<IkeSaStatus>;
  terminate(name: string): Promise<number>;
  rekey(name: string, child?: string): Promise<number>;
  log(): string;
  stop(): Promise<void>;
}

let instances = 0;

/** Starts the IKE endpoint in a host with the given configuration and waits until it listens. */
export async function startPaviseIpsec(
  runtime: HostRuntime,
  host: string,
  configText: string,
  /** More `pavise ipsec serve` flags, e.g. ["--nat-keepalive", "1s"]. */
  serveArgs: readonly string[] = [],
): Promise<PaviseIpsec> {
  instances += 1;
  const dir = join(runtime.labDir, "hosts", host, `pavise-ipsec-${process.pid}-${instances}`);
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, "ipsec.yaml");
  const controlSocket = join(dir, "control.sock");
  writeFileSync(configPath, configText, { mode: 0o600 });
  const proc = await runtime.spawn(
    host,
    [
      process.execPath,
      distPath("cli/main.js"),
      "ipsec",
      "serve",
      "--config",
      configPath,
      "--control",
      controlSocket,
      ...serveArgs,
    ],
    { role: `pavise-ipsec-${instances}`, log: join(dir, "serve.log") },
  );
  const log = (): string => {
    try {
      return readFileSync(proc.log, "utf8");
    } catch {
      return "";
    }
  };
  const deadline = Date.now() + 10_000;
  // Ready when it listens for IKE and its control socket answers: the socket file appears at
  // bind, a moment before listen, and a call in between is refused (ECONNREFUSED).
  const answers = async (): Promise<boolean> =>
    callControl(controlSocket, "GET", "/v1/sas").then(
      () => true,
      () => false,
    );
  while (!log().includes("listening for IKE") || !existsSync(controlSocket) || !(await answers())) {
    if (Date.now() > deadline || /error\[/.test(log())) {
      await runtime.stop(proc);
      throw new PaviseError(
        "PAVISE_IPSEC_NOT_READY",
        `pavise ipsec serve on ${host} did not start: ${log().trim()}`,
        {
          hint: `read ${proc.log}`,
        },
      );
    }
    await sleep(20);
  }
  return {
    host,
    process: proc,
    configPath,
    controlSocket,
    sas: async () => ((await callControl(controlSocket, "GET", "/v1/sas")) as { sas: IkeSaStatus[] }).sas,
    counters: async () =>
      ((await callControl(controlSocket, "GET", "/v1/sas")) as { counters: DaemonCounters }).counters,
    initiate: async (name) =>
      (
        (await callControl(controlSocket, "POST", `/v1/initiate?name=${encodeURIComponent(name)}`)) as {
          sa: IkeSaStatus;
        }
      ).sa,
    terminate: async (name) =>
      (
        (await callControl(controlSocket, "POST", `/v1/terminate?name=${encodeURIComponent(name)}`)) as {
          terminated: number;
        }
      ).terminated,
    rekey: async (name, child) =>
      (
        (await callControl(
          controlSocket,
          "POST",
          `/v1/rekey?name=${encodeURIComponent(name)}${child ? `&child=${encodeURIComponent(child)}` : ""}`,
        )) as { rekeyed: number }
      ).rekeyed,
    log,
    // SIGTERM: the daemon deletes its SAs (telling the peers), then exits; SIGKILL if it hangs.
    stop: async () => {
      signalProcess(proc, "SIGTERM");
      await waitForExit(proc, 5_000);
      await runtime.stop(proc);
    },
  };
}
