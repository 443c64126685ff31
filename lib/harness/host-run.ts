/**
 * Host hygiene for a test file: one HostRun per file, cleaned after it; every test fails if
 * it left a container, a mount or a cgroup behind.
 */
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { requireRoot } from './require.ts';
import { HostRun } from '../host/hygiene.ts';

export function useHostRun(): () => HostRun {
  let run: HostRun | undefined;
  beforeAll(() => {
    requireRoot();
    run = new HostRun();
  });
  afterEach(async (context) => {
    if (!run) return;
    // A test that already failed has said what is wrong; just stop what it left running,
    // so the next test starts clean.
    if (context.task.result?.state === 'fail') await run.removeLeftovers();
    else expect(run.leaks(), 'the test left these on the host').toEqual([]);
  });
  afterAll(async () => {
    await run?.cleanup();
  });
  return () => {
    if (!run) throw new Error('useHostRun(): the run starts in beforeAll');
    return run;
  };
}
