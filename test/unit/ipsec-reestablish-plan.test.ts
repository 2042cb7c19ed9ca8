import { describe, expect, it } from "vitest";
import { ExchangeType } from "../../src/ike/codec/header.js";
import { decodeMessage } from "../../src/ike/codec/message.js";
import { parseIpsecConfig } from "../../src/ike/config/ipsec-config.js";
import { ReestablishPlan, RETRY_AFTER_FAILURE_MS } from "../../src/ipsec/reestablish-plan.js";
import { IkePair, PATH_A_TO_B, pskConfig } from "../support/ike-pair.js";

/**
 * dpd_action restart, close_action start and keyingtries (swanctl.conf(5)) on a virtual clock:
 * a Pavise client (a) whose responder (b) loses its state, as when a package address moves to
 * another node (issue #6 kind 1). The plan is driven the way ipsec-daemon.ts drives it.
 */

const SHORT = `    retransmit: { timeout: 500ms, base: 1.5, tries: 2 }`;
const SEQUENCE_MS = 500 + 750 + 1125;

function clientConfig(options: { keyingtries?: number; dpdAction?: string; closeAction?: string }): string {
  const childKeys = [
    options.dpdAction ? `dpd_action: ${options.dpdAction}` : "",
    options.closeAction ? `close_action: ${options.closeAction}` : "",
  ]
    .filter(Boolean)
    .map((line) => `        ${line}`)
    .join("\n");
  return pskConfig("a", {
    dpd: "1s",
    extra: `${SHORT}\n    keyingtries: ${options.keyingtries ?? 1}`,
  }).replace("        esp_proposals:", `${childKeys}\n        esp_proposals:`);
}

class Client {
  readonly pair: IkePair;
  readonly plan: ReestablishPlan;
  readonly logs: string[] = [];
  private seen = 0;

  constructor(config: string) {
    this.pair = new IkePair(config, pskConfig("b"));
    this.plan = new ReestablishPlan(parseIpsecConfig(config).connections);
    this.pair.a.initiate(this.pair.now, "test", PATH_A_TO_B);
    this.settle();
    expect(this.pair.a.ikeSas().map((sa) => sa.state)).toEqual(["established"]);
  }

  /** Feeds a's new events to the plan and does what it asks, until both are quiet. */
  settle(): void {
    for (;;) {
      this.pair.drive();
      const events = this.pair.eventsA.slice(this.seen);
      this.seen = this.pair.eventsA.length;
      for (const event of events) this.plan.onIkeEvent(this.pair.now, event);
      let acted = false;
      for (let out = this.plan.poll(this.pair.now); out; out = this.plan.poll(this.pair.now)) {
        acted = true;
        if (out.kind === "log") this.logs.push(`${this.pair.now} ${out.message}`);
        else if (out.kind === "cancel" || out.kind === "create-child") {
          const sa = this.pair.a
            .ikeSas()
            .find((s) => Buffer.from(s.initiatorSpi).toString("hex") === out.spiI);
          if (sa && out.kind === "cancel") this.pair.a.deleteSa(this.pair.now, sa);
          if (sa && out.kind === "create-child") this.pair.a.createChild(this.pair.now, sa, out.child);
        } else {
          const sa = this.pair.a.initiate(this.pair.now, out.connection, {
            localAddress: out.localAddress ?? "198.18.1.101",
            localPort: 500,
            remoteAddress: out.remoteAddress,
            remotePort: 500,
          });
          this.plan.attemptStarted(this.pair.now, out.key, {
            spiI: Buffer.from(sa.initiatorSpi).toString("hex"),
          });
        }
      }
      if (!acted && events.length === 0) return;
    }
  }

  /** Moves the clock to the next deadline of a, b or the plan (not past `limit`). */
  step(limit: number): void {
    const next = [this.pair.a.pollTimeout(), this.pair.b.pollTimeout(), this.plan.pollTimeout()]
      .filter((t): t is number => t !== undefined)
      .map((t) => Math.max(t, this.pair.now));
    this.pair.now = Math.min(limit, ...next);
    this.pair.a.handleTimeout(this.pair.now);
    this.pair.b.handleTimeout(this.pair.now);
    this.settle();
  }

  runUntil(limit: number, done: () => boolean = () => false): void {
    while (this.pair.now < limit && !done()) this.step(limit);
  }

  established(): boolean {
    return this.pair.a.ikeSas().some((sa) => sa.state === "established");
  }

  initRequestsFromA(since = 0): number {
    return this.pair.wire.slice(since).filter((w) => {
      const m = decodeMessage(w.message);
      return (
        w.from === "a" &&
        m.ok &&
        m.value.header.exchangeType === ExchangeType.IKE_SA_INIT &&
        !m.value.header.response
      );
    }).length;
  }
}

describe("reestablish plan: a Pavise client whose responder lost its state", () => {
  it("dpd_action restart with keyingtries 0 retries until the adoptive node answers, then is up again", () => {
    const client = new Client(clientConfig({ dpdAction: "restart", keyingtries: 0 }));
    const { pair } = client;
    pair.filter = () => false; // n1 dies at t = 0
    pair.restart("b"); // n2 will answer with none of the old SAs
    client.runUntil(6_000); // the address reaches n2 6 s later
    expect(client.established()).toBe(false);
    pair.filter = () => true;
    client.runUntil(20_000, () => client.established());
    const back = pair.now;
    // Death noticed at 1 s (check) + 2.375 s; attempt 1 times out 2.375 s later (5.75 s); attempt 2
    // starts at once and its first retransmission (6.25 s) reaches n2.
    expect(back).toBe(1_000 + 2 * SEQUENCE_MS + 500);
    expect(pair.a.ikeSas().map((sa) => [sa.state, sa.childSas().length])).toEqual([["established", 1]]);
    expect(client.logs.join("\n")).toMatch(
      /3375 reestablish test to 198\.18\.1\.11: dpd_action restart \(peer did not answer \(retransmissions exhausted\)\); keyingtries 0 \(until it succeeds\)/,
    );
    expect(client.logs.at(-1)).toMatch(/dpd_action restart: up \(attempt 2, 2875 ms after the trigger\)/);
  });

  it("keyingtries 2 gives up after two retransmission sequences", () => {
    const client = new Client(clientConfig({ dpdAction: "restart", keyingtries: 2 }));
    client.pair.filter = () => false;
    const wire = client.pair.wire.length;
    client.runUntil(60_000);
    expect(client.initRequestsFromA(wire)).toBe(2 * 3);
    expect(client.logs.at(-1)).toMatch(/giving up after 2 attempt\(s\)/);
    expect(client.plan.pollTimeout()).toBeUndefined();
  });

  it("dpd_action clear (the default) does not re-initiate", () => {
    const client = new Client(clientConfig({ keyingtries: 0 }));
    client.pair.filter = () => false;
    const wire = client.pair.wire.length;
    client.runUntil(30_000);
    expect(client.pair.a.ikeSas()).toEqual([]);
    expect(client.initRequestsFromA(wire)).toBe(0);
    expect(client.logs).toEqual([]);
  });

  it("close_action start sets the connection up again after the peer's DELETE; without it nothing happens", () => {
    for (const closeAction of ["start", undefined]) {
      const client = new Client(clientConfig({ ...(closeAction ? { closeAction } : {}) }));
      const { pair } = client;
      pair.b.deleteSa(pair.now, pair.b.ikeSas()[0]!);
      client.settle();
      expect(pair.eventsA.find((e) => e.type === "ike-down")).toMatchObject({ cause: "deleted-by-peer" });
      expect(client.established()).toBe(closeAction === "start");
      if (closeAction) expect(client.logs.join("\n")).toMatch(/close_action start \(deleted by the peer\)/);
    }
  });

  it("close_action start sets up a Child SA the peer deleted again on the same IKE SA; without it nothing happens", () => {
    for (const closeAction of ["start", undefined]) {
      const client = new Client(clientConfig({ ...(closeAction ? { closeAction } : {}) }));
      const { pair } = client;
      const ike = pair.a.ikeSas()[0]!;
      const old = ike.childSas()[0]!;
      const peerSa = pair.b.ikeSas()[0]!;
      pair.b.deleteChild(pair.now, peerSa, peerSa.childSas()[0]!.spiIn, "operator");
      client.settle();
      expect(pair.eventsA.find((e) => e.type === "child-down")).toMatchObject({
        byPeer: true,
        spiIn: old.spiIn,
      });
      expect(pair.a.ikeSas()).toEqual([ike]); // the same IKE SA throughout
      const children = ike.childSas();
      if (closeAction) {
        expect(children).toHaveLength(1);
        expect(children[0]!.spiIn).not.toBe(old.spiIn);
        expect(children[0]!.name).toBe("net");
        expect(client.logs.join("\n")).toMatch(/reestablish test child net: close_action start/);
      } else {
        expect(children).toEqual([]);
        expect(client.logs).toEqual([]);
      }
    }
  });

  it("an IKE SA replaced by the adoptive node's INITIAL_CONTACT is not restarted", () => {
    const client = new Client(clientConfig({ dpdAction: "restart", closeAction: "start", keyingtries: 0 }));
    const { pair } = client;
    pair.restart("b");
    const wire = pair.wire.length;
    pair.b.initiate(
      pair.now,
      "test",
      { localAddress: "198.18.1.11", localPort: 500, remoteAddress: "198.18.1.101", remotePort: 500 },
      { contact: true },
    );
    client.settle();
    client.runUntil(10_000);
    expect(pair.eventsA.find((e) => e.type === "ike-down")).toMatchObject({ cause: "replaced" });
    expect(client.initRequestsFromA(wire)).toBe(0);
    expect(client.logs).toEqual([]);
    expect(pair.a.ikeSas().map((sa) => [sa.state, sa.isInitiator])).toEqual([["established", false]]);
  });

  it("an attempt in flight is cancelled when the peer's own IKE SA comes up first", () => {
    const client = new Client(clientConfig({ dpdAction: "restart", keyingtries: 0 }));
    const { pair } = client;
    pair.filter = () => false;
    pair.restart("b");
    client.runUntil(3_400); // death noticed at 3.375 s, attempt 1 under way (its requests are lost)
    expect(client.pair.a.ikeSas().map((sa) => sa.state)).toEqual(["init-sent"]);
    pair.filter = (from, message) => {
      const m = decodeMessage(message);
      return (
        from === "b" ||
        !(m.ok && m.value.header.exchangeType === ExchangeType.IKE_SA_INIT && !m.value.header.response)
      );
    };
    pair.b.initiate(
      pair.now,
      "test",
      { localAddress: "198.18.1.11", localPort: 500, remoteAddress: "198.18.1.101", remotePort: 500 },
      { contact: true },
    );
    client.settle();
    expect(client.logs.at(-1)).toMatch(
      /the peer set up a new IKE SA first \(attempt 1, \d+ ms after the trigger\)/,
    );
    expect(pair.a.ikeSas().map((sa) => [sa.state, sa.isInitiator])).toEqual([["established", false]]);
    client.runUntil(20_000);
    expect(pair.a.ikeSas().map((sa) => [sa.state, sa.isInitiator])).toEqual([["established", false]]);
  });

  it("an attempt that could not start is retried after RETRY_AFTER_FAILURE_MS", () => {
    const config = parseIpsecConfig(clientConfig({ dpdAction: "restart", keyingtries: 0 })).connections;
    const plan = new ReestablishPlan(config);
    plan.start(0, "test");
    const first = plan.poll(0);
    expect(first).toMatchObject({ kind: "log" });
    const initiate = plan.poll(0);
    expect(initiate).toMatchObject({ kind: "initiate", connection: "test", remoteAddress: "198.18.1.11" });
    plan.attemptStarted(0, initiate?.kind === "initiate" ? initiate.key : "", { error: "no route" });
    const failed = plan.poll(0);
    expect(failed?.kind === "log" && failed.message).toMatch(/could not start: no route/);
    expect(plan.pollTimeout()).toBe(RETRY_AFTER_FAILURE_MS);
    expect(plan.poll(RETRY_AFTER_FAILURE_MS - 1)).toBeUndefined();
    expect(plan.poll(RETRY_AFTER_FAILURE_MS)).toMatchObject({ kind: "initiate" });
  });
});
