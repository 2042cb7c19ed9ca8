/**
 * Preloaded by the IKE benchmark into the Pavise responder it measures, and into nothing else:
 *
 *   NODE_OPTIONS="--expose-gc --import file:///…/dist/bench/gc-hook.js"
 *   PAVISE_BENCH_MEMORY_FILE=/path/memory.json
 *   PAVISE_BENCH_CPU_PROFILE=/path/responder.cpuprofile   (optional, `--profile DIR`)
 *
 * On SIGUSR2 it runs full garbage collections and then writes process.memoryUsage() as JSON to
 * the memory file. A garbage-collected heap holds garbage until the collector runs, so the RSS
 * of a Node process read at a random moment says more about the collector's timing than about
 * the memory an IKE SA needs; reading it right after a full collection says the latter. charon
 * (C, malloc/free) needs no such step. The signal handler does not keep the process alive.
 * The file also gives the young generation's resident size (see below).
 *
 * With a profile path it also records a CPU profile from start to exit, as `node --cpu-prof`
 * would (which NODE_OPTIONS does not accept), for Chrome DevTools or speedscope.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { getHeapSpaceStatistics } from "node:v8";

const memoryFile = process.env.PAVISE_BENCH_MEMORY_FILE;
const profileFile = process.env.PAVISE_BENCH_CPU_PROFILE;
const gc = (globalThis as { gc?: () => void }).gc;

process.on("SIGUSR2", () => {
  // Twice: the first collection may leave objects that only a second one can free (finalizers).
  gc?.();
  gc?.();
  if (memoryFile) {
    // The young generation is empty after a full collection, but V8 sizes its semi-spaces by
    // the recent allocation rate (up to 2 x 16 MB here), so its resident pages come and go with
    // the load, not with what the process holds: reported apart, so it can be left out.
    const young = getHeapSpaceStatistics()
      .filter((space) => space.space_name === "new_space" || space.space_name === "new_large_object_space")
      .reduce((sum, space) => sum + space.physical_space_size, 0);
    writeFileSync(
      memoryFile,
      JSON.stringify({
        at: Date.now(),
        collected: gc !== undefined,
        youngGeneration: young,
        ...process.memoryUsage(),
      }),
    );
  }
});

if (profileFile) {
  // A session on this thread answers synchronously, so the profile is written on exit.
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 1000 });
  session.post("Profiler.start");
  process.on("exit", () => {
    session.post("Profiler.stop", (err, result) => {
      if (!err) writeFileSync(profileFile, JSON.stringify(result.profile));
    });
  });
}
