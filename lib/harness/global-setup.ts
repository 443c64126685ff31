/** Before any check runs: remove what a crashed earlier run left on the host; after, tidy up. */
import { removeEmptySharedParents, removeOrphanRuntimeLogs, removeStaleRuns } from '../host/hygiene.ts';

export default async function setup(): Promise<() => void> {
  if (process.getuid?.() === 0) {
    // (not root: each check then fails with "run as root")
    // Best effort: a leftover that cannot go now is retried by the next run; the checks still run.
    try {
      const removed = await removeStaleRuns();
      if (removed.length) console.log(`workshop: removed leftovers of an earlier run: ${removed.length} objects`);
    } catch (error) {
      console.warn(`workshop: could not remove every leftover of an earlier run (${(error as Error).message}); \`./workshop clean\` removes them`);
    }
  }
  // After all checks: the shared folders and parent cgroup, if no other run still uses them,
  // and the runtime logs of the processes the checks killed mid-call.
  return () => {
    removeEmptySharedParents();
    removeOrphanRuntimeLogs();
  };
}
