import { describe, expect, it } from "vitest";
import { failFastReason } from "../../src/cluster/agent/fail-fast.js";
import type { ServiceConfig } from "../../src/cluster/config/model.js";
import { packageConfig } from "../support/cluster-fixtures.js";

const service = (name: string, failFast: boolean): ServiceConfig => ({
  name,
  command: "sleep 1",
  restarts: 0,
  restartDelayMs: 0,
  haltTimeoutMs: 1000,
  failFast,
});

describe("failFastReason", () => {
  const config = {
    packages: [
      packageConfig("web", { services: [service("httpd", true), service("cron", false)] }),
      packageConfig("db", { nodeFailFast: true, services: [service("postgres", false)] }),
      packageConfig("plain", { services: [service("app", false)] }),
    ],
  };

  it("service_fail_fast_enabled: only the service that has it takes the node down", () => {
    expect(failFastReason(config, "web", "httpd")).toMatch(/service httpd of package web .*fail_fast/);
    expect(failFastReason(config, "web", "cron")).toBeUndefined();
    expect(failFastReason(config, "web", undefined)).toBeUndefined();
  });

  it("node_fail_fast_enabled: any failure of the package takes the node down", () => {
    expect(failFastReason(config, "db", "postgres")).toMatch(/package db failed .*node_fail_fast/);
    expect(failFastReason(config, "db", undefined)).toMatch(/node_fail_fast/);
  });

  it("neither: the package just fails over; an unknown package changes nothing", () => {
    expect(failFastReason(config, "plain", "app")).toBeUndefined();
    expect(failFastReason(config, "gone", "app")).toBeUndefined();
  });
});
