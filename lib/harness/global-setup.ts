/** Before any check runs: remove what a crashed earlier run left on the host; after, tidy up. */
import { removeEmptySharedParents, removeStaleRuns } from '../host/hygiene.ts';

export default async function setup(): Promise<() => void> {
  if (process.getuid?.() === 0) {
    // (not root: each check then fails with "run as root")
    const removed = await removeStaleRuns();
    if (removed.length) console.log(`workshop: removed leftovers of an earlier run: ${removed.length} objects`);
  }
  // After all checks: the shared folders and parent cgroup, if no other run still uses them.
  return () => removeEmptySharedParents();
}
