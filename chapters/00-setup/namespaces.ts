/**
 * Namespaces, seen from /proc.
 *
 * Every process has one namespace of each type (mnt, pid, net, uts, ipc, user, cgroup, time).
 * /proc/PID/ns/<type> is a magic symlink whose target names it, e.g. "net:[4026531840]": two
 * processes are in the same network namespace exactly when their links read the same. This
 * is how you tell, from outside, what a container shares with the host.
 */
import fs from 'node:fs/promises';
import { notImplemented } from '#lib/not-implemented.ts';

/** Namespace type (the file name in /proc/PID/ns, e.g. "net", "pid_for_children") -> its link, e.g. "net:[4026531840]". */
export type NamespaceLinks = Map<string, string>;

/**
 * Read every entry of /proc/<pid>/ns. Throw an Error that names the pid when the process does
 * not exist ("no process 12345: ...") or cannot be read (EACCES: a process of another user
 * namespace, or ptrace rules).
 */
export async function readNamespaces(pid: number | 'self'): Promise<NamespaceLinks> {
  // EXERCISE(read-ns): list /proc/<pid>/ns and read each entry's link
  // Hints: fs.readdir lists the entries; fs.readlink reads "type:[inode]". A missing
  // process makes readdir fail with ENOENT.
  throw notImplemented("00-setup/read-ns", "list /proc/<pid>/ns and read each entry's link");
  // END EXERCISE
}

export interface NamespaceComparison {
  /** Types both processes have the same namespace of, sorted. */
  shared: string[];
  /** Types where they differ (or only one has), sorted. */
  separate: string[];
}

/** Compare two processes' namespaces type by type. */
export function compareNamespaces(a: NamespaceLinks, b: NamespaceLinks): NamespaceComparison {
  // EXERCISE(compare-ns): sort every namespace type into shared or separate
  // Hints: look at the union of both maps' keys.
  throw notImplemented("00-setup/compare-ns", "sort every namespace type into shared or separate");
  // END EXERCISE
}
