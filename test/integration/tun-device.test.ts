import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/util/run.js";
import { distPath } from "../../src/util/package-paths.js";
import { tunAddonAvailable } from "../../src/esp/driver/tun-device.js";

// A TUN lives in the network namespace of the process that opens it: the device is driven by
// dist/esp/driver/tun-agent.js, started inside a namespace of this test's own (ttun-<pid>, only
// 198.18.0.0/15 addresses), one JSON command a line.
const ns = `ttun-${process.pid}`;
const LOCAL = "198.18.0.1"; // the TUN's address in the namespace
const REMOTE = "198.18.0.2"; // an address routed through the TUN (the "far end")

type Answer = { ok: boolean; error?: string; code?: string } & Record<string, unknown>;

class Agent {
  readonly child: ChildProcessWithoutNullStreams;
  readonly #waiting: ((answer: Answer) => void)[] = [];
  stderr = "";

  constructor(namespace: string) {
    this.child = spawn(
      "ip",
      ["netns", "exec", namespace, process.execPath, distPath("esp/driver/tun-agent.js")],
      {
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      this.#waiting.shift()?.(JSON.parse(line) as Answer);
    });
  }

  /** Sends a command; rejects when the agent answers with an error. */
  async send(command: Record<string, unknown>): Promise<Answer> {
    const answer = await new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent: no answer to ${command.op as string}; ${this.stderr}`)),
        30_000,
      );
      this.#waiting.push((a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.child.stdin.write(JSON.stringify(command) + "\n");
    });
    if (!answer.ok)
      throw new Error(`agent: ${command.op as string} failed: ${answer.code ?? ""} ${answer.error ?? ""}`);
    return answer;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}

async function linkInfo(name: string): Promise<{ mtu: number; flags: string[] } | undefined> {
  const result = await run(["ip", "-n", ns, "-j", "link", "show", "dev", name], { allowFailure: true });
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as { mtu: number; flags: string[] }[])[0];
}

const root = process.getuid?.() === 0;

describe.skipIf(!root)("TUN device driver (native addon, in a namespace)", () => {
  let agent: Agent;

  beforeAll(async () => {
    await run(["ip", "netns", "del", ns], { allowFailure: true });
    await run(["ip", "netns", "add", ns]);
    await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    agent = new Agent(ns);
  });

  afterAll(async () => {
    await agent?.stop();
    await run(["ip", "netns", "del", ns], { allowFailure: true });
  });

  it("the addon is built (npm ci / npm run build:native)", () => {
    expect(tunAddonAvailable()).toBe(true);
  });

  it("opens a TUN with its name, sets MTU and address, brings it up", async () => {
    const opened = await agent.send({ op: "open", name: "tt0", address: `${LOCAL}/24`, mtu: 1420 });
    expect(opened.name).toBe("tt0");
    const link = await linkInfo("tt0");
    expect(link?.mtu).toBe(1420);
    expect(link?.flags).toContain("UP");
  });

  it("a packet written to the TUN reaches the kernel: an echo request to the TUN's address is answered out of the TUN", async () => {
    const answer = await agent.send({ op: "echo", src: REMOTE, dst: LOCAL, size: 84 });
    expect(answer.written).toBe(true);
    expect(answer.reply).toMatchObject({ type: 0, src: LOCAL, dst: REMOTE, length: 84 });
  });

  it("routes remote traffic selectors through the TUN", async () => {
    const answer = await agent.send({ op: "routes", ranges: [{ start: "198.19.0.0", end: "198.19.1.255" }] });
    expect(answer.routed).toEqual(["198.19.0.0/23"]);
    const routes = await run(["ip", "-n", ns, "route", "show", "dev", "tt0"]);
    expect(routes.stdout).toContain("198.19.0.0/23");
  });

  it("reads in batches: 1000 flood pings (64 in flight) answered by the agent through the TUN", async () => {
    await agent.send({ op: "reflect", on: true });
    const before = await agent.send({ op: "stats" });
    const ping = await run(
      ["ip", "netns", "exec", ns, "ping", "-f", "-l", "64", "-c", "1000", "-q", REMOTE],
      {
        allowFailure: true,
        timeoutMs: 30_000,
      },
    );
    expect(ping.stdout).toMatch(/1000 packets transmitted, 1000 received/);
    const after = await agent.send({ op: "stats" });
    const read = (after.packetsRead as number) - (before.packetsRead as number);
    const batches = (after.batches as number) - (before.batches as number);
    expect(read).toBeGreaterThanOrEqual(1000);
    expect(after.reflected as number).toBeGreaterThanOrEqual(1000);
    // With 64 requests in flight, reads come many to a wake-up.
    expect(after.maxBatch as number).toBeGreaterThan(1);
    expect(after.maxBatch as number).toBeLessThanOrEqual(64);
    expect(batches).toBeLessThan(read / 2);
    await agent.send({ op: "reflect", on: false });
  });

  it("close releases the device (while the process lives on); the name can be opened again", async () => {
    await agent.send({ op: "close" });
    expect(await linkInfo("tt0")).toBeUndefined();
    await agent.send({ op: "open", name: "tt0", address: `${LOCAL}/24` });
    expect(await linkInfo("tt0")).toBeDefined();
    await agent.send({ op: "close" });
    expect(await linkInfo("tt0")).toBeUndefined();
  });
});
