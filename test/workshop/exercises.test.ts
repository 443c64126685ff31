/**
 * The exercise machinery: chapters/ is generated from solutions/ and up to date; every
 * exercise has hints; and every exercise is genuine -- stubbing it alone makes its chapter's
 * checks fail with its own "not implemented yet" message, not a crash or a timeout.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { exercisesOf, MarkerError, outdatedStarters, toStarter, writeStarters } from '../../lib/authoring/starters.ts';
import { runChecks } from '../../lib/checks/runner.ts';
import { availableChapters } from '../../lib/manifest.ts';
import { REPO_ROOT, SCRATCH_TREES_DIR } from '../../lib/paths.ts';
import { scaled } from '../../lib/slow.ts';

const chapters = availableChapters();

describe('the starter generator', () => {
  const source = [
    "import fs from 'node:fs';",
    'export function f(): number {',
    '  // EXERCISE(answer): return the answer',
    '  // Hint: it is 42.',
    '  const x = 41;',
    '  return x + 1;',
    '  // END EXERCISE',
    '}',
  ].join('\n');

  test('replaces the code of a region with a stub and keeps its markers and comments', () => {
    const { text, exercises } = toStarter('99-demo', 'demo.ts', source);
    expect(text).toBe(
      [
        "import fs from 'node:fs';",
        "import { notImplemented } from '#lib/not-implemented.ts';",
        'export function f(): number {',
        '  // EXERCISE(answer): return the answer',
        '  // Hint: it is 42.',
        '  throw notImplemented("99-demo/answer", "return the answer");',
        '  // END EXERCISE',
        '}',
      ].join('\n'),
    );
    expect(exercises).toEqual([{ id: '99-demo/answer', chapter: '99-demo', file: 'demo.ts', task: 'return the answer', line: 4 }]);
  });

  test('refuses broken markers', () => {
    expect(() => toStarter('99-demo', 'demo.ts', source.replace('  // END EXERCISE\n', ''))).toThrow(MarkerError);
    expect(() => toStarter('99-demo', 'demo.ts', '// END EXERCISE')).toThrow(/without EXERCISE/);
    expect(() => toStarter('99-demo', 'demo.ts', '// EXERCISE(a): x\n// END EXERCISE')).toThrow(/no reference code/);
  });
});

describe.each(chapters.map((c) => [c.folder, c] as const))('%s', (folder, chapter) => {
  test('chapters/ is up to date with solutions/', () => {
    const stale = outdatedStarters(folder);
    expect(stale, 'these starters differ from what solutions/ generate: run `npm run workshop -- author` (a learner who edited them: run the suite on a fresh clone)').toEqual([]);
  });

  test('has exercises, each with hints, and a lesson that names each one', () => {
    const exercises = exercisesOf(folder).map((e) => e.id.split('/')[1]);
    expect(exercises.length).toBeGreaterThan(0);
    expect(Object.keys(chapter.hints).sort()).toEqual([...exercises].sort());
    const lesson = fs.readFileSync(path.join('chapters', folder, 'README.md'), 'utf8');
    for (const exercise of exercises) expect(lesson, `README.md of ${folder} mentions exercise ${exercise}`).toContain(`\`${exercise}\``);
  });
});

describe('every exercise is genuine', () => {
  // Round k stubs the k-th exercise of every chapter at once (the others keep the reference
  // code), so the number of check runs is the largest exercise count, not their sum. (All
  // exercises stubbed at once is what chapters/ holds: cli.test.ts checks that case.)
  const rounds = Math.max(...chapters.map((c) => exercisesOf(c.folder).length));
  test.each(Array.from({ length: rounds }, (_, k) => k + 1))('round %i: the k-th exercise of each chapter stubbed alone', async (round) => {
    const tree = path.join(SCRATCH_TREES_DIR, `round-${round}`);
    fs.rmSync(tree, { recursive: true, force: true });
    const stubbed = new Map<string, string>();
    for (const chapter of chapters) {
      const exercise = exercisesOf(chapter.folder)[round - 1];
      if (round > 0 && exercise) stubbed.set(chapter.folder, exercise.id);
      writeStarters(chapter.folder, tree, (id) => round === 0 || id === exercise?.id);
    }
    const tested = round === 0 ? chapters : chapters.filter((c) => stubbed.has(c.folder));
    // Each chapter's first failure is the proof; the checks after it are skipped. Run, they
    // made a round 5-7 times longer (round 2 at load 13: 398 s in full, 60 s so), and a
    // learner's report already sends their failures to the exercise whose own check failed
    // first (lib/checks/runner.ts). WORKSHOP_GENUINE_FULL=1 runs them all, and then every
    // failure must be the stub's (cli.test.ts and lesson-quotes.test.ts prove that much for
    // the starters, every exercise stubbed).
    const results = await runChecks(tested, { targetDir: tree, bailPerFile: process.env.WORKSHOP_GENUINE_FULL !== '1' });
    // Where a round's time goes (each chapter's file, two at a time), for whoever shortens the suite.
    console.log(`round ${round}: ${results.map((r) => `${r.chapter.slice(0, 2)} ${(r.durationMs / 1000).toFixed(0)} s (${r.failed} failed)`).join(', ')}`);
    for (const result of results) {
      const expected = round === 0 ? 'not implemented yet' : `not implemented yet: ${exercisesOf(result.chapter).find((e) => e.id === stubbed.get(result.chapter))?.task}`;
      expect(result.failed, `${result.chapter}: no check failed with ${round === 0 ? 'every exercise' : stubbed.get(result.chapter)} stubbed`).toBeGreaterThan(0);
      for (const failure of result.failures) {
        expect(failure.message, `${result.chapter} › ${failure.test} should fail with "not implemented yet"`).toContain(expected);
      }
    }
    fs.rmSync(tree, { recursive: true, force: true });
    // A round runs up to ten chapters' checks (in full: 99-226 s on 2 cores in a quiet suite):
    // the bound is for a hung round, with room for a busy machine.
  }, scaled(420_000));
});

describe('layers', () => {
  // Later chapters import earlier ones as `#lower/NN-slug/file.ts` (package.json "imports"):
  // the reference by default, the learner's own code under the "workshop-own" condition,
  // which `./workshop layers own` turns on for the checks.
  const resolveLower = (conditions: string[]) =>
    execFileSync(process.execPath, [...conditions, '--input-type=module', '-e', "console.log(import.meta.resolve('#lower/01-bundle/run.ts'))"], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();

  test('#lower/ resolves to solutions/ by default and to chapters/ with the workshop-own condition', () => {
    expect(resolveLower([])).toBe(pathToFileURL(path.join(REPO_ROOT, 'solutions/01-bundle/run.ts')).href);
    expect(resolveLower(['--conditions=workshop-own'])).toBe(pathToFileURL(path.join(REPO_ROOT, 'chapters/01-bundle/run.ts')).href);
  });
});
