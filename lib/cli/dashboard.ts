/**
 * The dashboard `npm start` opens: the chapters with progress, the current chapter (the
 * first one not passed yet), its checks, and what to do next.
 *
 * On a terminal it stays open and re-checks a chapter whenever a file in its chapters/NN-slug/
 * changes (any chapter: the current one, an earlier one being mended, and under `layers own`
 * the current one again when an earlier chapter it builds on changed). It polls modification
 * times once a second (./watch.ts). The first failure shows as soon as it is known; `q` stops a
 * check in progress, with everything it started. Without a terminal (CI, a pipe) it prints one
 * report and exits: 0 when the current chapter passes.
 */
import readline from 'node:readline';
import { CheckCancelled, type ChapterResult, type CheckFailure } from '../checks/runner.ts';
import { availableChapters, CHAPTERS, type ChapterInfo } from '../manifest.ts';
import { CHAPTERS_DIR } from '../paths.ts';
import { loadProgress } from './progress.ts';
import { bold, dim, formatResult, green, red, yellow } from './report.ts';
import { ChapterWatch, chaptersToCheck } from './watch.ts';

export interface CheckHooks {
  signal?: AbortSignal;
  /** Files just saved in this chapter: their exercises' own checks run first, for a quick first verdict. */
  saved?: string[];
  onFailure?: (chapter: string, failure: CheckFailure) => void;
  /** The dashboard watches and will check again soon: run in a vitest kept up between runs (lib/checks/check-server.ts). */
  keepWarm?: boolean;
}

export interface DashboardOptions {
  check: (chapter: ChapterInfo, hooks?: CheckHooks) => Promise<ChapterResult>;
}

export function currentChapter(): ChapterInfo | undefined {
  const progress = loadProgress();
  return availableChapters().find((chapter) => !progress.chapters[chapter.folder]?.ok);
}

function ladder(current: ChapterInfo | undefined): string {
  const progress = loadProgress();
  const available = availableChapters();
  return CHAPTERS.map((chapter) => {
    const state = progress.chapters[chapter.folder];
    if (!available.includes(chapter)) return dim(`    ${chapter.number}  ${chapter.title.padEnd(58)} (coming)`);
    const mark = state?.ok ? green('✓') : chapter === current ? yellow('▶') : '·';
    const score = state ? `${state.passed}/${state.passed + state.failed}` : '';
    const line = `  ${mark} ${chapter.number}  ${chapter.title.padEnd(58)} ${score}`;
    return chapter === current ? bold(line) : line;
  }).join('\n');
}

function nextSteps(chapter: ChapterInfo, result: ChapterResult | undefined): string {
  if (result?.ok) return green(`${chapter.folder} passes. On to the next chapter!`);
  return [
    `Read the lesson: chapters/${chapter.folder}/README.md   (or the book: ./workshop book)`,
    `Edit the files in chapters/${chapter.folder}/; stuck? ./workshop hint ${chapter.number}`,
  ].join('\n');
}

interface View {
  current: ChapterInfo | undefined;
  /** The last result of each chapter checked in this session. */
  results: Map<string, ChapterResult>;
  /** Chapters checked last, other than the current one (an earlier chapter being mended). */
  others: ChapterInfo[];
}

function render(view: View, watching: boolean): string {
  const width = process.stdout.columns || 0;
  const { current, results } = view;
  const parts = [bold('conman workshop') + dim(' · build a container stack, from runc bundles to a CRI endpoint'), '', ladder(current), ''];
  for (const other of view.others) {
    const result = results.get(other.folder);
    if (result && other !== current) parts.push(formatResult(result, { width }), '');
  }
  if (!current) {
    parts.push(green('Every available chapter passes. Well done!'));
  } else {
    const result = results.get(current.folder);
    parts.push(bold(`Current chapter: ${current.folder} — ${current.title}`), `  you build: ${current.builds}`, '');
    if (result) parts.push(formatResult(result, { width }), '');
    parts.push(nextSteps(current, result));
  }
  if (watching) parts.push('', dim('watching chapters/ · keys: [c] check now  [h] hint  [q] quit'));
  return parts.join('\n');
}

export async function openDashboard(options: DashboardOptions): Promise<number> {
  const view: View = { current: currentChapter(), results: new Map(), others: [] };
  const interactive = Boolean(process.stdout.isTTY && process.stdin.isTTY);
  if (!interactive) {
    if (view.current) view.results.set(view.current.folder, await options.check(view.current));
    console.log(render(view, false));
    return !view.current || view.results.get(view.current.folder)?.ok ? 0 : 1;
  }

  const show = (note = '') => {
    process.stdout.write('\u001b[2J\u001b[H'); // clear the screen, cursor home
    console.log(render(view, true));
    if (note) console.log(note);
  };
  const watch = new ChapterWatch(CHAPTERS_DIR, availableChapters());
  let running: AbortController | undefined;
  let queued: ChapterInfo[] = [];

  /** Check these chapters, one after the other, showing the first failure as soon as it comes. */
  const recheck = async (chapters: ChapterInfo[], saved = new Map<string, string[]>()) => {
    if (running) {
      queued = [...new Set([...queued, ...chapters])];
      return;
    }
    running = new AbortController();
    const stop = running.signal;
    try {
      for (const chapter of chapters) {
        if (stop.aborted) break;
        if (chapter !== view.current && !view.others.includes(chapter)) view.others = [chapter];
        show(dim(`checking ${chapter.folder}...`));
        let first = true;
        const result = await options
          .check(chapter, {
            signal: stop,
            keepWarm: true,
            saved: saved.get(chapter.folder),
            onFailure: (_folder, failure) => {
              if (!first) return;
              first = false;
              // The first verdict, while the other checks still run.
              const partial: ChapterResult = { chapter: chapter.folder, target: '', passed: 0, failed: 1, skipped: 0, durationMs: 0, ok: false, failures: [failure] };
              view.results.set(chapter.folder, partial);
              show(dim(`still checking the rest of ${chapter.folder}...`));
            },
          })
          .catch((error: Error) => {
            if (!(error instanceof CheckCancelled)) show(red(error.message));
            return undefined;
          });
        if (!result) continue;
        view.results.set(chapter.folder, result);
        if (result.ok && chapter === view.current) {
          // Move on: the next chapter becomes current, and its checks run right away.
          view.current = currentChapter();
          show(green(`✓ ${chapter.folder} passes: well done! Now ${view.current ? view.current.folder : 'every chapter passes'}.`));
          if (view.current && !chapters.includes(view.current)) chapters.push(view.current);
        }
      }
    } finally {
      running = undefined;
    }
    if (!stop.aborted) show();
    const next = queued;
    queued = [];
    if (next.length && !stop.aborted) await recheck(next);
  };

  const poll = setInterval(() => {
    const changed = watch.changes();
    if (changed.length) void recheck(chaptersToCheck(changed, view.current, loadProgress().ownLayers), new Map(watch.changedFiles));
  }, 1000);
  if (view.current) void recheck([view.current]);
  else show();

  readline.emitKeypressEvents(process.stdin);
  process.stdin.setRawMode(true);
  return new Promise((resolve) => {
    process.stdin.on('keypress', (_text, key: { name?: string; ctrl?: boolean }) => {
      if (key.name === 'q' || (key.ctrl && key.name === 'c')) {
        clearInterval(poll);
        process.stdin.setRawMode(false);
        process.stdin.pause();
        const inProgress = running;
        if (!inProgress) return resolve(0);
        // Stop the check in progress and everything it started, and wait until it is all gone.
        queued = [];
        console.log(dim('stopping the check in progress and removing what it made...'));
        inProgress.abort();
        const wait = setInterval(() => {
          if (running) return;
          clearInterval(wait);
          resolve(0);
        }, 100);
      } else if (key.name === 'c' && view.current) {
        void recheck([view.current]);
      } else if (key.name === 'h' && view.current) {
        const hints = Object.entries(view.current.hints)
          .map(([exercise, list]) => `  ${exercise}: ${list[0]}`)
          .join('\n');
        show(`${bold('first hints')} (./workshop hint ${view.current.number} shows more):\n${hints}`);
      }
    });
  });
}
