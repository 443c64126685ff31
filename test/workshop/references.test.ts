/**
 * Everything a learner needs is in the repository: no file sends the reader to a document
 * that only the workshop's authors had (a platform-notes file, a shared folder beside the
 * repository), and every file a lesson names by its path exists.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { availableChapters } from '../../lib/manifest.ts';
import { REPO_ROOT } from '../../lib/paths.ts';

/** Tracked files, and new ones not ignored (so a reference is caught before its commit). */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' });
  return [...new Set(out.split('\0').filter(Boolean))].filter((file) => fs.existsSync(path.join(REPO_ROOT, file)) && fs.statSync(path.join(REPO_ROOT, file)).isFile());
}

// Spelled in pieces, so this file does not name them itself.
const FORBIDDEN = [['PLATFORM', 'NOTES'].join('-'), ['..', 'shared'].join('/')];

describe('no reference to a file learners do not have', () => {
  test(`no file mentions ${FORBIDDEN.join(' or ')}`, () => {
    const offenders: string[] = [];
    for (const file of repositoryFiles()) {
      const buffer = fs.readFileSync(path.join(REPO_ROOT, file));
      if (buffer.subarray(0, 8000).includes(0)) continue; // binary
      buffer
        .toString('utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const word of FORBIDDEN) if (line.includes(word)) offenders.push(`${file}:${i + 1}: ${line.trim().slice(0, 100)}`);
        });
    }
    expect(offenders, 'put what the reader needs in the repository itself').toEqual([]);
  });

  test.each(availableChapters().map((c) => c.folder))('lesson %s: every repository path it names exists', (folder) => {
    const lesson = fs.readFileSync(path.join(REPO_ROOT, 'chapters', folder, 'README.md'), 'utf8');
    const missing: string[] = [];
    // `lib/x.ts`, `bench/shim.ts`, `test/03-shim.test.ts`, `chapters/02-lifecycle/runtime.ts:109`, and markdown links.
    const named = [
      ...[...lesson.matchAll(/`((?:lib|bench|test|solutions|chapters|vagrant)\/[\w./-]+?)(?::\d+)?`/g)].map((m) => m[1]),
      // (links outside fenced blocks: in a block, "](" is text, a regular expression say)
      ...[...lesson.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').matchAll(/\]\(((?!https?:|#|mailto:)[^)\s]+)\)/g)].map((m) => path.relative(REPO_ROOT, path.resolve(REPO_ROOT, 'chapters', folder, m[1].split('#')[0]))),
    ];
    for (const file of named) if (!fs.existsSync(path.join(REPO_ROOT, file))) missing.push(file);
    expect(missing, `${folder}/README.md names files that do not exist`).toEqual([]);
  });
});
