import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * Whether a process (an `ip monitor` child) has a NETLINK_ROUTE socket that joined multicast
 * groups, i.e. whether it now receives every change: /proc/PID/net/netlink lists the sockets of
 * its namespace, /proc/PID/fd says which are its own. Watches wait for this before they take
 * their first snapshot, so that no change falls between the two.
 */
export function hasSubscribedNetlinkSocket(pid: number): boolean {
  let table: string;
  let fds: string[];
  try {
    table = readFileSync(`/proc/${pid}/net/netlink`, "utf8");
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  const inodes = new Set<string>();
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
  return table
    .split("\n")
    .slice(1)
    .some((row) => {
      const cols = row.trim().split(/\s+/);
      return cols[1] === "0" && /[1-9a-f]/i.test(cols[3] ?? "") && inodes.has(cols[9] ?? "");
    });
}
