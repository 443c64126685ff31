/**
 * Watching the learner's files: every chapter folder, polled (modification times, once a
 * second) rather than through inotify, whose events do not cross Vagrant's synced folders.
 * The dashboard uses it, and so does bench/feedback.ts, which times save-to-verdict.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChapterInfo } from '../manifest.ts';

/** Newest modification time of any file in a folder (recursively); 0 when it does not exist. */
export function newestChange(dir: string): number {
  let newest = 0;
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
        else newest = Math.max(newest, fs.statSync(full).mtimeMs);
      } catch {
        // removed while we looked (an editor's temp file)
      }
    }
  };
  walk(dir);
  return newest;
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

  constructor(
    private readonly root: string,
    private readonly chapters: ChapterInfo[],
  ) {
    for (const chapter of chapters) this.seen.set(chapter.folder, newestChange(path.join(root, chapter.folder)));
  }

  changes(): ChapterInfo[] {
    const changed: ChapterInfo[] = [];
    for (const chapter of this.chapters) {
      const newest = newestChange(path.join(this.root, chapter.folder));
      if (newest !== this.seen.get(chapter.folder)) {
        this.seen.set(chapter.folder, newest);
        changed.push(chapter);
      }
    }
    return changed;
  }
}
