import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls `probe` until `ok` accepts its value, and returns that value; fails with what it last
 * saw after `timeoutMs`. For waiting on real daemons (strongSwan, Pavise) in integration tests.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await sleep(intervalMs);
  }
}
