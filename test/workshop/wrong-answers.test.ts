/**
 * Wrong answers fail. For every exercise, test/wrong-answers/ keeps plausible wrong solutions
 * (the mistakes the lessons warn about). Each is put, alone, into a tree holding the reference
 * code, and only the checks its header names run against it (vitest -t, stopping at the first
 * failure): at least one must fail, and not with "not implemented yet". Like the stubs in
 * exercises.test.ts, but for answers that look finished.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { exercisesOf } from '../../lib/authoring/starters.ts';
import { runVariants, writeVariantTree, wrongAnswersOf, type FilteredResult, type WrongAnswer } from '../../lib/authoring/wrong-answers.ts';
import { availableChapters } from '../../lib/manifest.ts';
import { SCRATCH_TREES_DIR } from '../../lib/paths.ts';
import { scaled } from '../../lib/slow.ts';

const chapters = availableChapters();

describe('every exercise keeps at least one wrong answer', () => {
  test.each(chapters.map((c) => c.folder))('%s', (folder) => {
    const kept = new Set(wrongAnswersOf(folder).map((w) => w.exercise));
    const without = exercisesOf(folder).filter((e) => !kept.has(e.id)).map((e) => e.id);
    expect(without, `exercises with no wrong answer in test/wrong-answers/${folder}/`).toEqual([]);
  });
});

describe('every wrong answer is rejected by the checks named in its header', () => {
  const all = chapters.flatMap((chapter) => wrongAnswersOf(chapter.folder).map((wrong) => ({ chapter, wrong })));
  // All of them in one vitest run, each a project of its own (its tree, its pattern), two
  // test files at a time: the tests below only read their results.
  let results: Promise<Map<string, FilteredResult>> | undefined;
  const nameOf = (wrong: WrongAnswer) => `${wrong.exercise}.${wrong.label}`;
  const resultOf = (i: number) => {
    results ??= (async () => {
      const variants = all.map(({ chapter, wrong }) => ({
        name: nameOf(wrong),
        chapter,
        tree: writeVariantTree(path.join(SCRATCH_TREES_DIR, `wrong-${wrong.exercise.replace('/', '-')}-${wrong.label}`), chapter.folder, wrong.exercise, wrong.body),
        pattern: wrong.caughtBy,
      }));
      try {
        return await runVariants(variants, { timeoutMs: scaled(500_000) });
      } finally {
        for (const v of variants) fs.rmSync(v.tree, { recursive: true, force: true });
      }
    })();
    return results.then((r) => r.get(nameOf(all[i].wrong))!);
  };

  test.each(all.map(({ wrong }, i) => [`${wrong.exercise}.${wrong.label}`, i] as const))('%s', async (_name, i) => {
    const { wrong } = all[i];
    const result = await resultOf(i);
    expect(result.passed + result.failed, `no check matches "${wrong.caughtBy}" (the "caught by:" of ${wrong.file})`).toBeGreaterThan(0);
    expect(result.failed, `${wrong.file} (${wrong.why}) passed every check matching "${wrong.caughtBy}"`).toBeGreaterThan(0);
    for (const failure of result.failures) {
      expect(failure.message, `${wrong.file}: ${failure.test} should fail on the wrong answer, not on an unfinished exercise`).not.toMatch(/not implemented yet/);
    }
  }, scaled(600_000));
});
