/**
 * How fast the learner's loop is (issue 9): per chapter, the time from saving an exercise file to
 * the first verdict in the watch mode, and a whole `check NN`, on the finished chapter and with
 * one exercise left; and how soon a wrong answer that hangs is reported as a timeout.
 *
 *   npm run bench:feedback              every available chapter
 *   npm run bench:feedback -- 00 02     some of them (02 adds the hanging case)
 *   npm run bench:feedback -- hang      only the hanging case
 *   npm run bench:feedback -- --first   only the first verdict with one exercise left (minutes, not a quarter of an hour)
 *
 * It works on scratch trees (.workshop/trees/bench-feedback-*), never on chapters/, and drives
 * the dashboard's own pieces: the folder poll (lib/cli/watch.ts, once a second), the quick run
 * of the saved exercises' own checks, then the whole chapter, each failure streamed as it comes
 * (checkAfterSave, lib/checks/runner.ts). Goals: first verdict ≤ 5 s for
 * chapters 00-02, ≤ 10 s from 03 on; a hang reported as a timeout within 15 s. Not run in CI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { exercisesOf, writeStarters } from '../lib/authoring/starters.ts';
import { CheckServer } from '../lib/checks/check-server.ts';
import { checksAboutFiles } from '../lib/checks/locate.ts';
import { runChecks, type ChapterResult, type CheckFailure } from '../lib/checks/runner.ts';
import { ChapterWatch, checkAfterSave } from '../lib/cli/watch.ts';
import { availableChapters, findChapter, type ChapterInfo } from '../lib/manifest.ts';
import { SCRATCH_TREES_DIR, WORKSHOP_STATE_DIR } from '../lib/paths.ts';
import { SLOW } from '../lib/slow.ts';

interface Timing {
  /** Save to the first verdict the dashboard shows: the first failure, or the whole result when all pass. */
  firstVerdictMs: number;
  /** Save to the whole chapter's result (the poll's delay included). */
  wholeMs: number;
  result: ChapterResult;
  firstMessage?: string;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

/**
 * Save `file` (rewrite it as it is, with a fresh modification time), then do what the dashboard
 * does: poll once a second, check the changed chapter, show the first failure as it comes.
 */
async function saveAndWatch(tree: string, chapter: ChapterInfo, file: string, server: CheckServer, focusOnly = false): Promise<Timing> {
  // The dashboard starts its vitest when it opens, before any save.
  await server.start();
  const watch = new ChapterWatch(tree, [chapter]);
  // Let the clock move past the snapshot, so the save is seen as a change.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const saved = Date.now();
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8'));
  // The dashboard polls every second, at a moment that has nothing to do with the save.
  const phase = Math.random() * 1000;
  await new Promise((resolve) => setTimeout(resolve, phase));
  while (watch.changes().length === 0) await new Promise((resolve) => setTimeout(resolve, 1000));
  let first: { at: number; message: string } | undefined;
  const onFirstVerdict = (failure: CheckFailure) => (first ??= { at: Date.now(), message: failure.message.split('\n')[0] });
  const changed = watch.changedFiles.get(chapter.folder) ?? [];
  // What the dashboard does after a save: the saved exercises' own checks first, then the whole
  // chapter (--first: only the first part, which gives the first verdict).
  const pattern = checksAboutFiles(changed);
  const result = focusOnly && pattern
    ? (await runChecks([chapter], { targetDir: tree, server, testNamePattern: pattern, onFailure: (_chapter, failure) => onFirstVerdict(failure) }))[0]
    : await checkAfterSave(chapter, changed, { targetDir: tree, server, onFirstVerdict });
  const done = Date.now();
  return { firstVerdictMs: (first?.at ?? done) - saved, wholeMs: done - saved, result, firstMessage: first?.message };
}

function lastExercise(chapter: ChapterInfo) {
  // The manifest lists the hints in the order the checks meet the exercises: the last one is the last to do.
  const order = Object.keys(chapter.hints);
  return exercisesOf(chapter.folder).sort((a, b) => order.indexOf(a.id.split('/')[1]) - order.indexOf(b.id.split('/')[1])).at(-1)!;
}

async function benchChapter(chapter: ChapterInfo): Promise<Record<string, string | number>> {
  const tree = path.join(SCRATCH_TREES_DIR, `bench-feedback-${chapter.number}`);
  fs.rmSync(tree, { recursive: true, force: true });
  const last = lastExercise(chapter);

  // One vitest kept up for the chapter, as the dashboard keeps one: the first save finds it
  // started but cold (nothing transformed yet), the second warm, as every later save is.
  const server = new CheckServer(tree, false);
  let finished: Timing;
  let oneLeft: Timing;
  try {
    writeStarters(chapter.folder, tree, () => false);
    finished = await saveAndWatch(tree, chapter, path.join(tree, chapter.folder, last.file), server);

    fs.rmSync(tree, { recursive: true, force: true });
    writeStarters(chapter.folder, tree, (id) => id === last.id);
    oneLeft = await saveAndWatch(tree, chapter, path.join(tree, chapter.folder, last.file), server);
  } finally {
    server.close();
    fs.rmSync(tree, { recursive: true, force: true });
  }

  const goal = chapter.number <= '02' ? 5000 : 10_000;
  return {
    chapter: chapter.folder,
    'finished (cold server): verdict (s)': seconds(finished.firstVerdictMs),
    'finished: passed': `${finished.result.passed}/${finished.result.passed + finished.result.failed}`,
    ...(finished.result.ok ? {} : { 'finished: first failure': `${finished.result.failures[0]?.test}: ${finished.firstMessage}`.slice(0, 140) }),
    [`one left (${last.id.split('/')[1]}): first verdict (s)`]: seconds(oneLeft.firstVerdictMs),
    'one left: whole check (s)': seconds(oneLeft.wholeMs),
    'one left: first message': (oneLeft.firstMessage ?? '(none: every check passed)').slice(0, 90),
    [`first verdict ≤ ${goal / 1000} s`]: oneLeft.firstVerdictMs <= goal ? 'yes' : 'NO',
  };
}

/**
 * --first: only the first verdict with one exercise left, twice: after the dashboard's vitest
 * has just started (cold), and on a second save (warm, as every later save is). Minutes for
 * every chapter, where the whole checks take a quarter of an hour.
 */
async function benchFirstVerdict(chapter: ChapterInfo): Promise<Record<string, string | number>> {
  const tree = path.join(SCRATCH_TREES_DIR, `bench-feedback-${chapter.number}`);
  fs.rmSync(tree, { recursive: true, force: true });
  const last = lastExercise(chapter);
  const server = new CheckServer(tree, false);
  try {
    writeStarters(chapter.folder, tree, (id) => id === last.id);
    const file = path.join(tree, chapter.folder, last.file);
    const cold = await saveAndWatch(tree, chapter, file, server, true);
    const warm = await saveAndWatch(tree, chapter, file, server, true);
    const goal = chapter.number <= '02' ? 5000 : 10_000;
    return {
      chapter: chapter.folder,
      'one left': last.id.split('/')[1],
      'first verdict, cold (s)': seconds(cold.firstVerdictMs),
      'first verdict, warm (s)': seconds(warm.firstVerdictMs),
      [`goal (s)`]: goal / 1000,
      met: warm.firstVerdictMs <= goal ? 'yes' : 'NO',
      'first message': (warm.firstMessage ?? '(none)').slice(0, 70),
    };
  } finally {
    server.close();
    fs.rmSync(tree, { recursive: true, force: true });
  }
}

/** Chapter 02's `create` without its stdio options: the pipe trap the lesson warns about; it hangs. */
async function benchHang(): Promise<Record<string, string | number>> {
  const chapter = findChapter('02');
  const tree = path.join(SCRATCH_TREES_DIR, 'bench-feedback-hang');
  fs.rmSync(tree, { recursive: true, force: true });
  writeStarters(chapter.folder, tree, () => false);
  const file = path.join(tree, chapter.folder, 'runtime.ts');
  const source = fs.readFileSync(file, 'utf8');
  const wrong = source.replace(/await this\.invoke\(args, \{\n\s+stdin: fdOption\(stdio\.stdin\),\n\s+stdout: fdOption\(stdio\.stdout\),\n\s+stderr: fdOption\(stdio\.stderr\),\n\s+\}\);/, 'void stdio;\n    await this.invoke(args);');
  if (wrong === source) throw new Error('bench: the create exercise changed shape; update the hanging variant in bench/feedback.ts');
  fs.writeFileSync(file, wrong);
  const server = new CheckServer(tree, false);
  let timing: Timing;
  try {
    timing = await saveAndWatch(tree, chapter, file, server);
  } finally {
    server.close();
    fs.rmSync(tree, { recursive: true, force: true });
  }
  return {
    case: '02 create without stdio (hangs)',
    'first verdict (s)': seconds(timing.firstVerdictMs),
    'whole check (s)': seconds(timing.wholeMs),
    // The watchdog's "timed out after N s: `create` never returned", or chapter 02's own pipe check ("create did not return within N ms ...").
    'says it hangs': /timed out|never returned|did not return/.test(timing.firstMessage ?? '') ? 'yes' : 'NO',
    'within 15 s': timing.firstVerdictMs <= 15_000 ? 'yes' : 'NO',
    'first message': (timing.firstMessage ?? '').slice(0, 90),
  };
}

async function main(): Promise<void> {
  const firstOnly = process.argv.includes('--first');
  const wanted = process.argv.slice(2).filter((arg) => arg !== 'hang' && arg !== '--first');
  const onlyHang = process.argv.includes('hang') && wanted.length === 0;
  const chapters = onlyHang ? [] : wanted.length ? wanted.map(findChapter) : availableChapters();
  console.log(`feedback bench: slow factor ${SLOW}; load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; results also in ${path.join(WORKSHOP_STATE_DIR, 'bench-feedback.json')}`);
  const rows: Record<string, string | number>[] = [];
  for (const chapter of chapters) {
    const row = await (firstOnly ? benchFirstVerdict(chapter) : benchChapter(chapter));
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  let hang: Record<string, string | number> | undefined;
  if (onlyHang || chapters.some((chapter) => chapter.number === '02')) {
    hang = await benchHang();
    console.log(JSON.stringify(hang));
  }
  console.table(rows);
  if (hang) console.table([hang]);
  fs.mkdirSync(WORKSHOP_STATE_DIR, { recursive: true });
  fs.writeFileSync(path.join(WORKSHOP_STATE_DIR, 'bench-feedback.json'), JSON.stringify({ at: new Date().toISOString(), slow: SLOW, rows, hang }, null, 2) + '\n');
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
