import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { EventView, StatusView } from "../../src/api/schema/view-types.js";

/**
 * Real answers recorded from a lab cluster (n1..n3, web on n1 with two addresses, db on n2,
 * `pavise pkg disable db`, then n1 crashed and web failed over to n2): `pavise status --json`
 * before and after, and `pavise events --json` after. Each call returns a fresh copy, so a test
 * may change it.
 */
const dir = join(dirname(fileURLToPath(import.meta.url)), "fixtures/console");

const read = (name: string): unknown => JSON.parse(readFileSync(join(dir, name), "utf8"));

/** web up on n1, db up on n2; every node up; leader n1. */
export const statusThreeUp = (): StatusView => read("status-three-up.json") as StatusView;
/** n1 failed (lease lapsed), web and db on n2, db's switching disabled. */
export const statusN1Failed = (): StatusView => read("status-n1-failed.json") as StatusView;
/** The event log of that run, oldest first. */
export const eventsFailover = (): EventView[] =>
  (read("events-failover.json") as { events: EventView[] }).events;
