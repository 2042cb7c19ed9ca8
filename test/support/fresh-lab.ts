import { Lab } from "../../src/lab/lab.js";
import { defaultLabSpec, type LabSpec } from "../../src/lab/spec.js";

/** The default topology under a test's own lab name, optionally without etcd (faster). */
export function testLabSpec(name: string, options: { etcd?: boolean; etcdTls?: boolean } = {}): LabSpec {
  return defaultLabSpec({ name, etcd: options.etcd ?? false, etcdTls: options.etcdTls ?? false });
}

/** Brings a lab up after removing whatever an earlier, crashed run of the same test left. */
export async function freshLab(spec: LabSpec): Promise<Lab> {
  await Lab.down(spec.name);
  return Lab.up(spec);
}
