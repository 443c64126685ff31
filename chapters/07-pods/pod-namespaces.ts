/**
 * Which namespaces a pod member joins, by path. The infra container made them; the kernel
 * shows each of a process's namespaces as a file, /proc/<PID>/ns/<name>, and a runtime joins
 * a namespace given such a path (setns(2) on the opened file): runc does it for every entry
 * of linux.namespaces that has a `path`.
 *
 * The spec and /proc do not name them alike: the spec's "network" is /proc's "net" (and
 * "mount" is "mnt", which a pod never shares: each container has its own root filesystem).
 */
import fs from 'node:fs';
import { conflict } from '#lower/04-manager/errors.ts';
import type { NamespacePath } from '#lower/04-manager/pod-provider.ts';
import type { SharedNamespace } from './pod-records.ts';
import { notImplemented } from '#lib/not-implemented.ts';

/**
 * The infra's namespaces of the types the pod shares, in the order given: one
 * { type, path: "/proc/<infraPid>/ns/<name>" } each. An infra that is gone (its
 * /proc/<pid>/ns is not there) is a 409 that says so: the pod must be started again.
 */
export function infraNamespaces(infraPid: number, share: SharedNamespace[]): NamespacePath[] {
  // EXERCISE(pod-namespaces): the infra's namespace files, one per shared type, /proc's names for the spec's types
  // Hints: the spec's "network" is /proc's "net"; ipc, uts and pid keep their names. Check
  // that /proc/<pid>/ns exists (fs.existsSync) before you answer: a member that joins the
  // namespaces of a dead process fails in runc with a much less clear message.
  throw notImplemented("07-pods/pod-namespaces", "the infra's namespace files, one per shared type, /proc's names for the spec's types");
  // END EXERCISE
}
