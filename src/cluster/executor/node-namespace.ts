/**
 * Where the executor acts: the network namespace it runs in (the daemon, on a real node), or a
 * named one, so that a process outside can drive a lab node (tests, `pavise lab`). Every driver
 * builds its command lines through this, and nothing else differs between the two.
 */

export interface NodeNamespace {
  /** For messages: "this network namespace" or "network namespace texec-n1". */
  readonly description: string;
  /** argv for an `ip` command with these arguments. */
  ip(args: readonly string[]): string[];
  /** argv that runs a program inside the namespace (`ip netns exec` execs it: same PID). */
  command(argv: readonly string[]): string[];
}

export const CURRENT_NAMESPACE: NodeNamespace = {
  description: "this network namespace",
  ip: (args) => ["ip", ...args],
  command: (argv) => [...argv],
};

export function namedNamespace(name: string): NodeNamespace {
  return {
    description: `network namespace ${name}`,
    // `ip -n` switches namespace itself, without the mount namespace `ip netns exec` sets up.
    ip: (args) => ["ip", "-n", name, ...args],
    command: (argv) => ["ip", "netns", "exec", name, ...argv],
  };
}
