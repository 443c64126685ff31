/** How check results are shown: to a learner on a terminal, and as JSON for instructors. */
import path from 'node:path';
import { LAST_CHECK_LOG, type ChapterResult } from '../checks/runner.ts';

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const dim = paint(2);
export const bold = paint(1);

/**
 * One chapter's result. A learner sees the first failure in full (what to fix, and where),
 * then the names of the other failing checks: one thing at a time, as rustlings does.
 */
export function formatResult(result: ChapterResult, options: { verbose?: boolean } = {}): string {
  const seconds = (result.durationMs / 1000).toFixed(1);
  const head = `${result.ok ? green('✓') : red('✗')} ${bold(result.chapter)}  ${result.passed} passed, ${result.failed} failed  ${dim(`(${seconds} s)`)}`;
  if (result.ok) return head;
  const lines = [head];
  result.failures.forEach((failure, i) => {
    if (i === 0 || options.verbose) {
      lines.push(`  ${red('✗')} ${failure.test}`);
      lines.push(...failure.message.split('\n').map((line) => `      ${line}`));
      if (failure.exercise) lines.push(`      ${yellow('→')} edit ${failure.exercise.location}   (hint: ./workshop hint ${result.chapter.slice(0, 2)})`);
      else {
        // A wrong result: the check says what it expected; the stack may show where in your code.
        if (failure.code) lines.push(`      ${yellow('→')} your code in the stack: ${failure.code}`);
        if (failure.check) lines.push(`      ${yellow('→')} the check (what it expects): ${failure.check}`);
      }
    } else {
      lines.push(`  ${red('✗')} ${failure.test}`);
    }
  });
  if (!options.verbose && result.failures.length > 1) lines.push(dim(`  (--verbose shows every message; ${LAST_CHECK_LOG.startsWith(process.cwd() + path.sep) ? path.relative(process.cwd(), LAST_CHECK_LOG) : LAST_CHECK_LOG} has the full output)`));
  return lines.join('\n');
}

/** The closing line CI and people read: "Checks: N passed, N failed". */
export function summaryLine(results: ChapterResult[]): string {
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  return `Checks: ${passed} passed, ${failed} failed`;
}
