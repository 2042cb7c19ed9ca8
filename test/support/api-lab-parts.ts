import type { Lab } from "../../src/lab/lab.js";

// What the console's browser test needs from the API's lab parts (src/lab/api-credentials.ts and
// the daemon cluster file's `api:` section), in one place.

/** The cluster file of the daemon lab, with `api:` and the lab's API credentials written to `dir`. */
export function apiLabClusterFile(_lab: Lab, _dir: string, _name: string): string {
  throw new Error("the API's lab credentials (src/lab/api-credentials.ts) are not built yet");
}

/** The API server certificate files of n1..n3 (their keys are what the browser pins). */
export function apiLabServerCerts(_dir: string): string[] {
  throw new Error("the API's lab credentials (src/lab/api-credentials.ts) are not built yet");
}

/** The console password of a lab API user (admin, pkgadmin, monitor). */
export function apiLabPassword(_dir: string, _user: string): string {
  throw new Error("the API's lab credentials (src/lab/api-credentials.ts) are not built yet");
}
