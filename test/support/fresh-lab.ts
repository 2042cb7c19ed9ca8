import { Lab } from "../../src/lab/lab.js";
import { defaultLabSpec, type LabSpec } from "../../src/lab/spec.js";

/**
 * The default topology under a test's own lab name, optionally without etcd (faster), with etcd's
 * TLS, and with its users and roles (etcdAuth, needs etcdTls).
 */
export function testLabSpec(
  name: string,
  options: { etcd?: boolean; etcdTls?: boolean; etcdAuth?: boolean } = {},
): LabSpec {
  return defaultLabSpec({
    name,
    etcd: options.etcd ?? false,
    etcdTls: options.etcdTls ?? false,
    etcdAuth: options.etcdAuth ?? false,
  });
}

/** Brings a lab up after removing whatever an earlier, crashed run of the same test left. */
export async function freshLab(spec: LabSpec): Promise<Lab> {
  await Lab.down(spec.name);
  return Lab.up(spec);
}

/**
 * A test's lab name, behind PAVISE_TEST_LAB_PREFIX when it is set (cut to the 12 characters a
 * lab name may have), so the same file can run beside another copy of itself without the two
 * sharing namespaces, etcd keys or a cluster name.
 */
export function testLabName(name: string): string {
  const prefix = process.env.PAVISE_TEST_LAB_PREFIX ?? "";
  return `${prefix}${name}`.slice(0, 12);
}
