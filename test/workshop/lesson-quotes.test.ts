/**
 * Prose that quotes the code cannot rot. A lesson that says "`./workshop check 01` now shows
 * `1 passed, 22 failed`", "the next failure names `config-process`" or "→ edit
 * chapters/01-bundle/rootfs.ts:34" is proved here against the real starters and checks:
 *
 * - `chapters/NN-slug/file.ts:N` must be the line of an EXERCISE marker in that starter (where
 *   `workshop check` sends the learner);
 * - check counts ("N passed, M failed") and first failures ("names `exercise`") must follow a
 *   marker that says which exercises are done at that point of the lesson:
 *
 *       <!-- checks with: rootfs, config-process -->     (or: nothing, or: all)
 *
 *   Each such state is run once (a tree with those exercises' reference code, the others
 *   stubbed); every quote after the marker, up to the next one, must match what it gives.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { exercisesOf, writeStarters } from '../../lib/authoring/starters.ts';
import { runVariants, type FilteredResult } from '../../lib/authoring/wrong-answers.ts';
import { availableChapters, type ChapterInfo } from '../../lib/manifest.ts';
import { CHAPTERS_DIR, REPO_ROOT, SCRATCH_TREES_DIR } from '../../lib/paths.ts';
import { scaled } from '../../lib/slow.ts';

interface Quote {
  line: number;
  text: string;
  kind: 'counts' | 'names';
  passed?: number;
  failed?: number;
  exercise?: string;
  /** The exercises done at this point; undefined when no marker precedes the quote. */
  done?: string[] | 'all';
}

const MARKER = /<!-- checks with: ([^>]*?) -->/;

export function lessonQuotes(chapter: ChapterInfo): Quote[] {
  const lines = fs.readFileSync(path.join(CHAPTERS_DIR, chapter.folder, 'README.md'), 'utf8').split('\n');
  const names = exercisesOf(chapter.folder).map((e) => e.id.split('/')[1]);
  const quotes: Quote[] = [];
  let done: string[] | 'all' | undefined;
  lines.forEach((text, i) => {
    const marker = MARKER.exec(text);
    if (marker) {
      const list = marker[1].trim();
      done = list === 'all' ? 'all' : list === 'nothing' ? [] : list.split(/,\s*/);
      for (const name of done === 'all' ? [] : done) if (!names.includes(name)) throw new Error(`${chapter.folder}/README.md:${i + 1}: no exercise "${name}" in this chapter`);
      // Every exercise done is the reference: the same state as "all" (no run of its own).
      if (done !== 'all' && names.every((name) => (done as string[]).includes(name))) done = 'all';
    }
    for (const m of text.matchAll(/(\d+) passed, (\d+) failed/g)) quotes.push({ line: i + 1, text: m[0], kind: 'counts', passed: Number(m[1]), failed: Number(m[2]), done });
    for (const m of text.matchAll(/\bnames `([a-z0-9-]+)`/g)) if (names.includes(m[1])) quotes.push({ line: i + 1, text: m[0], kind: 'names', exercise: m[1], done });
  });
  return quotes;
}

const chapters = availableChapters();

describe('file:line quotes point at an exercise marker of the starter', () => {
  test.each(chapters.map((c) => c.folder))('%s', (folder) => {
    const lesson = fs.readFileSync(path.join(CHAPTERS_DIR, folder, 'README.md'), 'utf8');
    const wrong: string[] = [];
    for (const m of lesson.matchAll(/chapters\/([\w-]+)\/([\w./-]+\.ts):(\d+)/g)) {
      const file = path.join(REPO_ROOT, 'chapters', m[1], m[2]);
      const line = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n')[Number(m[3]) - 1] : undefined;
      if (!line?.includes('// EXERCISE(')) {
        const markers = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').flatMap((l, i) => (l.includes('// EXERCISE(') ? [i + 1] : [])) : [];
        wrong.push(`${m[0]}: not an EXERCISE marker (the markers of ${m[2]} are on lines ${markers.join(', ') || 'none'})`);
      }
    }
    expect(wrong, `${folder}/README.md`).toEqual([]);
  });
});

describe('check counts and first failures quoted in the lessons are what the checks give', () => {
  const quoted = chapters.map((chapter) => ({ chapter, quotes: lessonQuotes(chapter) }));
  // One vitest run for every state of every lesson (a project each); "all" states need no
  // run: every check passes on the reference (the rest of the suite proves it), so only
  // their number is needed.
  const states = quoted.flatMap(({ chapter, quotes }) =>
    [...new Set(quotes.filter((q) => q.done !== undefined).map((q) => (q.done === 'all' ? 'all' : q.done!.join(','))))].map((key) => ({ chapter, key })),
  );
  let run: Promise<Map<string, FilteredResult & { skipped?: number }>> | undefined;
  const outcome = (chapter: ChapterInfo, key: string) => {
    run ??= (async () => {
      const variants = states.map(({ chapter, key }) => {
        const tree = path.join(SCRATCH_TREES_DIR, `lesson-${chapter.number}-${key.replace(/,/g, '+') || 'nothing'}`);
        fs.rmSync(tree, { recursive: true, force: true });
        const done = key === 'all' ? undefined : key.split(',');
        writeStarters(chapter.folder, tree, (id) => done !== undefined && !done.includes(id.split('/')[1]));
        // "all": match no check; the run still counts them (as skipped).
        return { name: `${chapter.folder}:${key}`, chapter, tree, pattern: key === 'all' ? '^(?!)' : '.' };
      });
      try {
        return await runVariants(variants, { timeoutMs: scaled(500_000) });
      } finally {
        for (const v of variants) fs.rmSync(v.tree, { recursive: true, force: true });
      }
    })();
    return run.then((results) => results.get(`${chapter.folder}:${key}`)!);
  };

  for (const { chapter, quotes } of quoted) {
    test(`${chapter.folder}: every quote follows a <!-- checks with: ... --> marker`, () => {
      expect(quotes.filter((q) => q.done === undefined).map((q) => `README.md:${q.line}: "${q.text}"`), 'quotes with no marker before them').toEqual([]);
    });
    const withState = quotes.filter((q) => q.done !== undefined);
    if (withState.length === 0) continue;
    test(`${chapter.folder}: ${withState.map((q) => `:${q.line}`).join(' ')}`, async () => {
      const wrong: string[] = [];
      for (const quote of withState) {
        const key = quote.done === 'all' ? 'all' : quote.done!.join(',');
        const result = await outcome(chapter, key);
        const total = result.passed + result.failed + (result.skipped ?? 0);
        const actual = key === 'all' ? { passed: total, failed: 0 } : result;
        if (quote.kind === 'counts' && (actual.passed !== quote.passed || actual.failed !== quote.failed)) {
          const first = result.failures[0] ? ` (the first failure: ${result.failures[0].test}: ${result.failures[0].message.slice(0, 300)})` : '';
          wrong.push(`README.md:${quote.line} says "${quote.text}"; with ${key || 'nothing'} done the checks give ${actual.passed} passed, ${actual.failed} failed${first}`);
        }
        if (quote.kind === 'names') {
          const first = result.failures[0]?.message ?? '';
          const named = /\(exercise [\w-]+\/([\w-]+)\)/.exec(first)?.[1];
          if (named !== quote.exercise) wrong.push(`README.md:${quote.line} says "${quote.text}"; with ${key || 'nothing'} done the first failure names ${named ?? `no exercise ("${first.slice(0, 80)}")`}`);
        }
      }
      expect(wrong).toEqual([]);
    }, scaled(600_000));
    // The starters as a learner first gets them: every check fails, and says which exercise to
    // write (cli.test.ts proves the same, through `workshop check`, for the lessons without this state).
    if (withState.some((quote) => Array.isArray(quote.done) && quote.done.length === 0)) {
      test(`${chapter.folder}: with nothing done, every failure is "not implemented yet" and names its exercise`, async () => {
        const result = await outcome(chapter, '');
        expect(result.failed).toBeGreaterThan(0);
        const pattern = new RegExp(`not implemented yet: .+ \\(exercise ${chapter.folder}/[\\w-]+\\)`);
        expect(result.failures.filter((failure) => !pattern.test(failure.message)).map((f) => `${f.test}: ${f.message}`)).toEqual([]);
      }, scaled(600_000));
    }
  }
});
