/** How check results are shown: to a learner on a terminal, and as JSON for instructors. */
import path from 'node:path';
import { LAST_CHECK_LOG, OUTSIDE_ANY_CHECK, type ChapterResult } from '../checks/runner.ts';

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const dim = paint(2);
export const bold = paint(1);

/**
 * Wrap `text` to `width` columns at spaces, each line after `indent`. A parenthesised
 * "(exercise 01-bundle/rootfs)" is never split. Lines that cannot be broken stay whole.
 */
export function wrap(text: string, width: number, indent: string): string[] {
  const room = Math.max(20, width - indent.length);
  const visible = (t: string) => t.replace(/\u001b\[[0-9;]*m/g, '').length;
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    const words = paragraph.match(/\(exercise [^)]+\)|\S+/g) ?? [];
    const lead = /^\s*/.exec(paragraph)![0];
    let line = lead;
    for (const word of words) {
      if (line.trim() && visible(line) + 1 + visible(word) > room) {
        out.push(indent + line);
        line = lead + word;
      } else line = line.trim() ? `${line} ${word}` : lead + word;
    }
    out.push(indent + line);
  }
  return out;
}

/**
 * One chapter's result. A learner sees the first failure in full (what went wrong, in words;
 * what was expected; the file and line to edit), then the names of the other failing checks:
 * one thing at a time, as rustlings does. `width` is the terminal's (the dashboard's) width.
 */
export function formatResult(result: ChapterResult, options: { verbose?: boolean; width?: number } = {}): string {
  const width = options.width ?? (process.stdout.isTTY ? process.stdout.columns : 0) ?? 0;
  const cols = width > 0 ? width : 10_000;
  const seconds = (result.durationMs / 1000).toFixed(1);
  const skipped = result.skipped ? `, ${result.skipped} skipped` : '';
  const head = `${result.ok ? green('✓') : red('✗')} ${bold(result.chapter)}  ${result.passed} passed, ${result.failed} failed${skipped}  ${dim(`(${seconds} s)`)}`;
  if (result.ok) return head;
  const lines = [head];
  const shownPlaces = new Set<string>();
  const hint = `./workshop hint ${result.chapter.slice(0, 2)}`;
  result.failures.forEach((failure, i) => {
    lines.push(...wrap(`${red('✗')} ${failure.test}`, cols, '  '));
    if (i > 0 && !options.verbose && !failure.test.startsWith(OUTSIDE_ANY_CHECK)) return;
    lines.push(...wrap(failure.message, cols, '      '));
    if (failure.expectation) {
      lines.push(`      ${dim('what the check expected (-) and what it got (+):')}`);
      lines.push(...failure.expectation.split('\n').map((line) => `        ${line}`));
    }
    const places: string[] = [];
    if (failure.exercise) {
      const name = failure.exercise.id.split('/')[1];
      const chapterOf = failure.exercise.id.slice(0, 2);
      const hintCommand = `./workshop hint ${chapterOf}${chapterOf === result.chapter.slice(0, 2) ? '' : ` ${name}`}`;
      // "not implemented yet" names its exercise already; any other failure says which exercise, and why that one.
      const which = failure.kind === 'not-implemented' ? '' : `exercise ${name}${failure.why ? `: ${failure.why}` : ''}; `;
      places.push(`${yellow('→')} edit ${failure.exercise.location}   (${which}hint: ${hintCommand})`);
    }
    if (failure.code && failure.kind === 'loading') places.push(`${yellow('→')} your file does not load: ${failure.code}`);
    else if (failure.code) places.push(`${yellow('→')} your code in the stack: ${failure.code}`);
    if (failure.surfaced && !failure.exercise) places.push(`${yellow('→')} it surfaced in ${failure.surfaced}, a given file: the fault is in the code it calls, not there`);
    if (!failure.exercise && failure.kind !== 'not-implemented' && failure.check) places.push(`${yellow('→')} the check: ${failure.check}   (stuck? ${hint})`);
    if (failure.note) places.push(`${yellow('!')} ${failure.note}`);
    // Under --verbose, the same places ten times over say nothing new.
    const key = places.join('\n');
    if (places.length && shownPlaces.has(key)) lines.push(`      ${dim('→ the same place as above')}`);
    else for (const place of places) lines.push(...wrap(place, cols, '      '));
    shownPlaces.add(key);
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
