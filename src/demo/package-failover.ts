import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { etcdHealth } from "../lab/etcd.js";
import { CLIENT_ADDRESS, PACKAGE_IKE_ID, startStrongswanClient, writeLabPsk } from "../lab/ipsec-package.js";
import type { Lab } from "../lab/lab.js";
import { labClusterFile, startLabDaemons } from "../lab/lab-cluster-file.js";
import {
  createLabApiCredentials,
  labApiNodes,
  LAB_TOKEN_USER,
  type LabApiCredentials,
} from "../lab/api-credentials.js";
import { startRelayProcess } from "../lab/console-relay-process.js";
import { nodeApiSocket } from "../lab/node-api-socket.js";
import { arpAnswerers } from "../lab/probes/arp.js";
import { addressHolders } from "../lab/probes/holders.js";
import { startTraffic } from "../lab/probes/traffic.js";
import type { Charon, IkeSaInfo } from "../lab/strongswan/charon.js";
import { PaviseError } from "../util/errors.js";
import { distPath } from "../util/package-paths.js";
import { pause, say, step } from "./demo-output.js";

const PACKAGE_ADDRESS = "198.18.1.50";
const ECHO_PORT = 7100;
const NODES = ["n1", "n2", "n3"] as const;

/**
 * The source page's story (../shared/seed/): `pavise daemon` on n1–n3 runs package web
 * (198.18.1.50, a UDP echo service, and IPsec with its own identity web.pavise.test) on n1; a
 * strongSwan client on c1 sets up a tunnel to the package address and sends a request through
 * it every 10 ms. n1 crashes: web comes back on n2, which contacts the client with
 * INITIAL_CONTACT, strongSwan drops its stale SA, and the requests are answered again. Then an
 * operator moves web to n3 (pavise pkg move, run on n2), and pavise status shows the cluster.
 * The client's longest gap through the tunnel is what a user sees.
 */
export async function packageFailover(lab: Lab): Promise<void> {
  step(
    `A package failing over with its IPsec: pavise daemon on n1, n2, n3; package web (${PACKAGE_ADDRESS}, a UDP service, IKE identity ${PACKAGE_IKE_ID})`,
  );
  const { file: pskFile, psk } = writeLabPsk(lab.runtime.labDir);
  const file = join(lab.runtime.labDir, "cluster.yaml");
  const api = await createLabApiCredentials(
    join(lab.runtime.labDir, "api"),
    lab.name,
    labApiNodes(lab, NODES),
  );
  writeFileSync(
    file,
    labClusterFile({ address: PACKAGE_ADDRESS, echoPort: ECHO_PORT, ipsec: { pskFile }, api }),
  );
  say(`  cluster file: ${file} (./pavise config check ${file})`);
  const daemons = await startLabDaemons(lab, file);
  const holder = async (): Promise<string[]> =>
    (await addressHolders(lab.plan, PACKAGE_ADDRESS)).filter((h) => h.up).map((h) => h.host);
  const hint = `read the daemons' logs: ${[...daemons.values()].map((d) => d.log).join(", ")}`;
  const waitFor = async <T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> => {
    for (let i = 0; i < 400; i++) {
      const value = await read();
      if (ok(value)) return value;
      await pause(25);
    }
    throw new PaviseError("DEMO_FAILOVER", `${what} did not happen within 10 s`, { hint });
  };
  await waitFor("web on n1", holder, (h) => h.length === 1 && h[0] === "n1");
  say(
    `  web is up on n1: ${PACKAGE_ADDRESS} on n1/lan0, ARP answered by ${(await arpAnswerers(lab.plan, "public", PACKAGE_ADDRESS)).map((a) => `${a.host}/${a.nic}`).join(", ")}`,
  );

  const charon = await startStrongswanClient(lab, { psk });
  try {
    await charon.initiate({ child: "web" });
    const [sa] = webSas(await charon.listSas());
    say(
      `  strongSwan on c1 (${CLIENT_ADDRESS}) → ${PACKAGE_ADDRESS}: IKE SA ${sa?.state ?? "?"} with ${sa?.remoteId ?? "?"}, ` +
        `CHILD SA ${sa?.childSas[0]?.state ?? "?"} in ${sa?.childSas[0]?.spiIn ?? "?"} out ${sa?.childSas[0]?.spiOut ?? "?"}; ` +
        `the node that runs web records c1 as a peer of web in etcd`,
    );
    for (const [fault, from, to] of [
      ["crash", "n1", "n2"],
      ["pavise pkg move", "n2", "n3"],
    ] as const) {
      await failOver(lab, charon, file, { fault, from, to, holder, waitFor });
    }
  } finally {
    await charon.stop();
  }
  say(
    `  ARP for ${PACKAGE_ADDRESS} is answered by: ${(await arpAnswerers(lab.plan, "public", PACKAGE_ADDRESS)).map((a) => `${a.host}/${a.nic}`).join(", ")}`,
  );
  say(`  pavise status --config ${file} (run on n2):`);
  const status = await pavise(lab, "n2", ["status", "--config", file]);
  say(status.stdout.replace(/^/gm, "    ").trimEnd());
  say("  (npm run bench:failover measures this against keepalived, over repeated runs)");
  await showConsole(lab, api);
}

/**
 * The web console and the HTTP API (design §0): a relay from 127.0.0.1 on this machine to n3's
 * API socket (the lab's nodes live in network namespaces), so a browser here can open it.
 */
async function showConsole(lab: Lab, api: LabApiCredentials): Promise<void> {
  const relay = await startRelayProcess({
    labDir: lab.runtime.labDir,
    node: "n3",
    socketPath: nodeApiSocket(lab, "n3"),
  });
  const token = join(api.dir, `${LAB_TOKEN_USER}.token`);
  say(
    `  console: ${relay.url} (user admin, password in ${join(api.dir, "admin.password")}; ` +
      `the lab's own CA signed its certificate: ${api.caCert})`,
  );
  say(
    `  the API and metrics: curl --cacert ${api.caCert} -H "Authorization: Bearer $(cat ${token})" ${relay.url}v1/status`,
  );
  say(
    `                       curl --cacert ${api.caCert} -H "Authorization: Bearer $(cat ${token})" ${relay.url}metrics`,
  );
}

interface FailOver {
  fault: "crash" | "pavise pkg move";
  from: string;
  to: string;
  holder: () => Promise<string[]>;
  waitFor: <T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean) => Promise<T>;
}

/** One fault with the client's traffic running through the tunnel, and what the client saw. */
async function failOver(lab: Lab, charon: Charon, file: string, f: FailOver): Promise<void> {
  const [before] = webSas(await charon.listSas());
  const logFrom = readFileSync(charon.logPath, "utf8").length;
  const traffic = await startTraffic(lab.runtime, {
    from: "c1",
    to: PACKAGE_ADDRESS,
    proto: "udp",
    port: ECHO_PORT,
    intervalMs: 10,
  });
  await pause(500);
  const etcdLeaderHere =
    f.fault === "crash" &&
    (await etcdHealth(lab.runtime, lab.plan.etcd, f.to)).find((m) => m.leader)?.host === f.from;
  const at = Date.now();
  let moved: Promise<unknown> = Promise.resolve();
  if (f.fault === "crash") await lab.faults.crashHost(f.from);
  else moved = pavise(lab, f.from, ["pkg", "move", "web", "--node", f.to, "--config", file]);
  const now = await f.waitFor(`web on ${f.to}`, f.holder, (h) => h.length === 1 && h[0] === f.to);
  const takeover = Date.now() - at;
  const [fresh] = await f.waitFor(
    "the client's new SA",
    async () => webSas(await charon.listSas()),
    (sas) => sas.length === 1 && sas[0]?.childSas[0]?.spiIn !== before?.childSas[0]?.spiIn,
  );
  const contacted = Date.now() - at;
  await moved;
  await pause(1000);
  const report = await traffic.stop();
  const destroyed = readFileSync(charon.logPath, "utf8")
    .slice(logFrom)
    .split("\n")
    .find((line) => line.includes("received INITIAL_CONTACT"));
  say(
    `  ${f.fault === "crash" ? `${f.from} crashes: web runs on ${now.join(", ")} after ${takeover} ms` : `pavise pkg move web --node ${f.to} (run on ${f.from}): web runs on ${now.join(", ")} ${takeover} ms after the command started`}` +
      (etcdLeaderHere ? ` (etcd's leader was on ${f.from}: etcd elected a new one first)` : ""),
  );
  say(
    `    ${f.to} contacted c1 with INITIAL_CONTACT; strongSwan: "${destroyed?.replace(/^.*?\] /, "").trim() ?? "(no such line)"}"; ` +
      `new CHILD SA in ${fresh?.childSas[0]?.spiIn ?? "?"} out ${fresh?.childSas[0]?.spiOut ?? "?"} (${contacted} ms)`,
  );
  say(
    `    c1's longest gap through the tunnel ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
  );
}

function webSas(sas: IkeSaInfo[]): IkeSaInfo[] {
  return sas.filter((sa) => sa.name === "web");
}

/** Runs the pavise CLI on a lab node, as an administrator logged in there would. */
export async function pavise(lab: Lab, host: string, args: string[]): Promise<{ stdout: string }> {
  const result = await lab.exec(host, [process.execPath, distPath("cli/main.js"), ...args], {
    allowFailure: true,
  });
  if (result.code !== 0 && args[0] !== "status") {
    throw new PaviseError(
      "DEMO_COMMAND",
      `pavise ${args.join(" ")} on ${host} failed: ${result.stderr.trim()}`,
      {
        hint: "read the daemons' logs in the lab directory",
      },
    );
  }
  return result;
}
