/**
 * The learner's progress and settings, kept in .workshop/ (never committed) so that they
 * survive restarts: the last result of each chapter's checks against chapters/, and whether
 * later chapters build on the learner's own earlier chapters or on the reference.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChapterResult } from '../checks/runner.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { WORKSHOP_STATE_DIR } from '../paths.ts';

export interface ChapterProgress {
  passed: number;
  failed: number;
  ok: boolean;
  /** ISO time of the check. */
  at: string;
  /** The first failure, as shown to the learner. */
  firstFailure?: string;
  /** The exercise it points at ("02-lifecycle/create"): `hint` starts there. */
  firstExercise?: string;
}

export interface Progress {
  chapters: Record<string, ChapterProgress>;
  /** Build on my own earlier chapters (true) or on the reference solutions (false, default). */
  ownLayers: boolean;
  /** Exercise id -> how many of its hints the learner has seen. */
  hintsShown: Record<string, number>;
}

const FILE = path.join(WORKSHOP_STATE_DIR, 'progress.json');

export function loadProgress(): Progress {
  try {
    const data = JSON.parse(fs.readFileSync(FILE, 'utf8')) as Partial<Progress>;
    return { chapters: data.chapters ?? {}, ownLayers: data.ownLayers ?? false, hintsShown: data.hintsShown ?? {} };
  } catch {
    return { chapters: {}, ownLayers: false, hintsShown: {} };
  }
}

/** Write atomically (temp file + rename): a crash never leaves half a file. */
export function saveProgress(progress: Progress): void {
  fs.mkdirSync(WORKSHOP_STATE_DIR, { recursive: true });
  writeFileAtomic(FILE, JSON.stringify(progress, null, 2) + '\n');
}

export function recordResults(results: ChapterResult[]): Progress {
  const progress = loadProgress();
  for (const result of results) {
    const first = result.failures[0];
    progress.chapters[result.chapter] = {
      passed: result.passed,
      failed: result.failed,
      ok: result.ok,
      at: new Date().toISOString(),
      firstFailure: first && `${first.test}: ${first.message.split('\n')[0]}`,
      firstExercise: first?.exercise?.id,
    };
  }
  saveProgress(progress);
  return progress;
}
