/**
 * What names may look like. Cluster, node, package, subnet, service, resource and dependency
 * names follow Serviceguard's rule for package_name (up to 39 letters, digits, dots, dashes and
 * underscores, starting and ending with a letter or digit); they also become parts of etcd keys,
 * so they never hold "/" or spaces. NIC names are Linux interface names (IFNAMSIZ: 15 bytes).
 */
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,37}[A-Za-z0-9])?$/;
const NIC = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

export const NAME_RULE = "1–39 letters, digits, '.', '-' or '_', starting and ending with a letter or digit";
export const NIC_RULE = "a Linux interface name: 1–15 letters, digits, '.', '-' or '_'";

export function isName(text: string): boolean {
  return NAME.test(text);
}

export function isNicName(text: string): boolean {
  return NIC.test(text);
}
