/**
 * Milliseconds (with fractions) on CLOCK_MONOTONIC. Every deadline of the lease and the fence
 * is on this clock: it never jumps with the wall clock, and — unlike performance.now(), whose
 * origin is per thread — it is the same in every thread of the process (the keep-alive worker
 * and the main thread compare times) and in every process on the machine (lab tests compare the
 * times two node processes logged).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
