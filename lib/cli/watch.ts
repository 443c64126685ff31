/**
 * Watching the learner's files: every chapter folder, polled (modification times, once a
 * second) rather than through inotify, whose events do not cross Vagrant's synced folders.
 * The dashboard uses it, and so does bench/feedback.ts, which times save-to-verdict.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checksAboutFiles } from '../checks/locate.ts';
import { CheckCancelled, runChecks, type ChapterResult, type CheckFailure, type RunChecksOptions } from '../checks/runner.ts';
import type { ChapterInfo } from '../manifest.ts';

/** Newest modification time of any file in a folder (recursively); 0 when it does not exist. */
export function newestChange(dir: string): number {
  return filesNewerThan(dir, -1).newest;
}

/** The files of a folder (recursively) changed after `since`, and the newest modification time. */
function filesNewerThan(dir: string, since: number): { newest: number; files: string[] } {
  let newest = 0;
  const files: string[] = [];
  const walk = (folder: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(folder, { withFileTypes: true });
    } catch {
      return; // removed while we looked
    }
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      try {
        if (entry.isDirectory()) walk(full);
        else {
          const mtime = fs.statSync(full).mtimeMs;
          newest = Math.max(newest, mtime);
          if (mtime > since) files.push(full);
        }
      } catch {
        // removed while we looked (an editor's temp file)
      }
    }
  };
  walk(dir);
  return { newest, files };
}

/**
 * Which chapters to check after files changed in `changed`: each changed chapter; and the
 * current one too when it builds on a changed earlier chapter (layers own), since a fix or a
 * break there shows in it.
 */
export function chaptersToCheck(changed: ChapterInfo[], current: ChapterInfo | undefined, ownLayers: boolean): ChapterInfo[] {
  const out = [...changed];
  if (current && ownLayers && !out.includes(current) && changed.some((chapter) => chapter.folder < current.folder)) out.push(current);
  return out.sort((a, b) => a.folder.localeCompare(b.folder));
}

/** Polls every chapter's folder under `root`; `changes()` returns the chapters changed since the last call. */
export class ChapterWatch {
  private readonly seen = new Map<string, number>();
  /** The files found changed by the last changes(), per chapter folder. */
  readonly changedFiles = new Map<string, string[]>();

  constructor(
    private readonly root: string,
    private readonly chapters: ChapterInfo[],
  ) {
    for (const chapter of chapters) this.seen.set(chapter.folder, newestChange(path.join(root, chapter.folder)));
  }

  changes(): ChapterInfo[] {
    const changed: ChapterInfo[] = [];
    for (const chapter of this.chapters) {
      const before = this.seen.get(chapter.folder) ?? 0;
      const { newest, files } = filesNewerThan(path.join(this.root, chapter.folder), before);
      if (newest !== before) {
        this.seen.set(chapter.folder, newest);
        this.changedFiles.set(chapter.folder, files);
        changed.push(chapter);
      }
    }
    return changed;
  }
}

/**
 * Check a chapter after files of it were saved, for the first verdict as soon as possible: first
 * only the checks about the exercises in the saved files (by their titles, see
 * checksAboutFiles()), then the rest of the chapter (each check runs once: a hang is not paid
 * twice). `onFirstVerdict` gets the first failure of either run; the result is the chapter's
 * whole, the saved exercises' failures first.
 */
export async function checkAfterSave(
  chapter: ChapterInfo,
  saved: string[],
  options: RunChecksOptions & { onFirstVerdict?: (failure: CheckFailure) => void },
): Promise<ChapterResult> {
  let told = false;
  const tell = (_chapter: string, failure: CheckFailure) => {
    if (told) return;
    told = true;
    options.onFirstVerdict?.(failure);
  };
  const pattern = checksAboutFiles(saved);
  let focus: ChapterResult | undefined;
  if (pattern) {
    try {
      [focus] = await runChecks([chapter], { ...options, junitFile: undefined, onProgress: undefined, testNamePattern: pattern, onFailure: tell });
    } catch (error) {
      if (error instanceof CheckCancelled) throw error;
      // the whole run below says what is wrong
    }
  }
  const ranAny = focus && focus.passed + focus.failed > 0;
  // (vitest -t is a regular expression: the rest is every check the first run did not have.)
  const [rest] = await runChecks([chapter], { ...options, onFailure: tell, ...(ranAny ? { testNamePattern: `^(?!.*${pattern})` } : {}) });
  if (!focus || !ranAny) return rest;
  const total = focus.passed + focus.failed + focus.skipped;
  const passed = focus.passed + rest.passed;
  const failed = focus.failed + rest.failed;
  return {
    ...rest,
    passed,
    failed,
    skipped: Math.max(0, total - passed - failed),
    durationMs: focus.durationMs + rest.durationMs,
    ok: failed === 0 && passed > 0,
    failures: [...focus.failures, ...rest.failures],
  };
}
