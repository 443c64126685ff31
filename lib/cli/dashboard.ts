/**
 * The dashboard `npm start` opens: the chapters with progress, the current chapter (the
 * first one not passed yet), its checks, and what to do next.
 *
 * On a terminal it stays open and re-runs the current chapter's checks whenever a file in
 * chapters/NN-slug/ changes. It polls modification times once a second rather than using
 * inotify, because inotify events do not cross Vagrant's synced folders. Without a
 * terminal (CI, a pipe) it prints one report and exits: 0 when the current chapter passes.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { ChapterResult } from '../checks/runner.ts';
import { availableChapters, CHAPTERS, type ChapterInfo } from '../manifest.ts';
import { CHAPTERS_DIR } from '../paths.ts';
import { loadProgress } from './progress.ts';
import { bold, dim, formatResult, green, red, yellow } from './report.ts';

export interface DashboardOptions {
  check: (chapter: ChapterInfo) => Promise<ChapterResult>;
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

function render(current: ChapterInfo | undefined, result: ChapterResult | undefined, watching: boolean): string {
  const parts = [bold('conman workshop') + dim(' · build a container stack, from runc bundles to a CRI endpoint'), '', ladder(current), ''];
  if (!current) {
    parts.push(green('Every available chapter passes. Well done!'));
  } else {
    parts.push(bold(`Current chapter: ${current.folder} — ${current.title}`), `  you build: ${current.builds}`, '');
    if (result) parts.push(formatResult(result), '');
    parts.push(nextSteps(current, result));
  }
  if (watching) parts.push('', dim(`watching chapters/${current?.folder ?? ''} · keys: [c] check now  [h] hint  [q] quit`));
  return parts.join('\n');
}

/** Newest modification time of any file in a folder (recursively). */
function newestChange(dir: string): number {
  let newest = 0;
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return newest;
}

export async function openDashboard(options: DashboardOptions): Promise<number> {
  let current = currentChapter();
  const interactive = Boolean(process.stdout.isTTY && process.stdin.isTTY);
  let result = current ? await options.check(current) : undefined;
  if (!interactive) {
    console.log(render(current, result, false));
    return !current || result?.ok ? 0 : 1;
  }

  const show = (note = '') => {
    process.stdout.write('\u001b[2J\u001b[H'); // clear the screen, cursor home
    console.log(render(current, result, true));
    if (note) console.log(note);
  };
  let running = false;
  let lastChange = current ? newestChange(path.join(CHAPTERS_DIR, current.folder)) : 0;
  const recheck = async () => {
    if (running || !current) return;
    running = true;
    show(dim('checking...'));
    result = await options.check(current).catch((error: Error) => {
      show(red(error.message));
      return undefined;
    });
    const passed = result?.ok ? current : undefined;
    if (passed) {
      // Move on: the next chapter becomes current, and its checks run right away.
      current = currentChapter();
      result = current ? await options.check(current).catch(() => undefined) : undefined;
      if (current) lastChange = newestChange(path.join(CHAPTERS_DIR, current.folder));
    }
    running = false;
    show(passed ? green(`✓ ${passed.folder} passes: well done! Now ${current ? current.folder : 'every chapter passes'}.`) : '');
  };
  show();

  const poll = setInterval(() => {
    if (!current || running) return;
    const change = newestChange(path.join(CHAPTERS_DIR, current.folder));
    if (change !== lastChange) {
      lastChange = change;
      void recheck();
    }
  }, 1000);

  readline.emitKeypressEvents(process.stdin);
  process.stdin.setRawMode(true);
  return new Promise((resolve) => {
    process.stdin.on('keypress', (_text, key: { name?: string; ctrl?: boolean }) => {
      if (key.name === 'q' || (key.ctrl && key.name === 'c')) {
        clearInterval(poll);
        process.stdin.setRawMode(false);
        resolve(0);
      } else if (key.name === 'c') {
        void recheck();
      } else if (key.name === 'h' && current) {
        const hints = Object.entries(current.hints)
          .map(([exercise, list]) => `  ${exercise}: ${list[0]}`)
          .join('\n');
        show(`${bold('first hints')} (./workshop hint ${current.number} shows more):\n${hints}`);
      }
    });
  });
}
