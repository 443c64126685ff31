/**
 * Runs in every test file (vitest.config.ts setupFiles). When vitest's own test timeout ends a
 * check, its error says only "Test timed out in 30000ms" (and its stack only
 * "STACK_TRACE_ERROR", a vitest slip): say it in words, with the learner's calls that were
 * still running (./watchdog.ts), so the report names what did not answer.
 */
import { beforeEach } from 'vitest';
import { markHung, pendingCalls } from './watchdog.ts';

beforeEach(({ signal }) => {
  const started = Date.now();
  signal.addEventListener('abort', () => {
    const error: unknown = signal.reason;
    if (!(error instanceof Error)) return;
    const timeout = /^(Test|Hook) timed out in (\d+)ms/.exec(error.message);
    if (!timeout) return;
    const seconds = Math.round(Number(timeout[2]) / 100) / 10;
    const pending = pendingCalls(started);
    for (const { call } of pending) markHung(call, `after ${seconds} s`);
    // The report finds the exercise from the call, as for the watchdog's own timeouts.
    if (pending[0]) Object.assign(error, { call: pending[0].call });
    const waiting = pending.map(({ call, since }) => `\`${call.method}\` never returned (${call.label}(${call.args}) of ${call.file}, called ${((Date.now() - since) / 1000).toFixed(1)} s before)`);
    error.message = `timed out after ${seconds} s: ${waiting.length ? waiting.join('; ') : `the ${timeout[1] === 'Hook' ? 'set-up or tidy-up' : 'check'} did not finish`}`;
    const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
    error.stack = [`Error: ${error.message}`, ...frames].join('\n');
  });
});

/**
 * The genuineness rounds (test/workshop/exercises.test.ts, WORKSHOP_BAIL_PER_FILE=1) need each
 * chapter's first failure only: it must be the stubbed exercise's "not implemented yet". After
 * it, the file's other checks are skipped instead of run (their set-up hooks still run, and
 * their tidy-up). A learner's `check` runs every check.
 */
if (process.env.WORKSHOP_BAIL_PER_FILE === '1') {
  let failed = false;
  beforeEach((context) => {
    if (failed) context.skip('an earlier check of this file failed (WORKSHOP_BAIL_PER_FILE)');
    context.onTestFailed(() => {
      failed = true;
    });
  });
}
