/**
 * The lessons cannot rot: every `sh runnable` block in a chapter's README.md runs here
 * (against solutions/), and its output must match the `text output` block after it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { outputMatches, runBlock, runnableBlocks } from '../../lib/lessons/runnable.ts';
import { availableChapters } from '../../lib/manifest.ts';
import { CHAPTERS_DIR, HOST_LIB_DIR, HOST_RUN_DIR } from '../../lib/paths.ts';
import { removeTree } from '../../lib/host/hygiene.ts';
import { removeNetworksNamed } from '../../lib/host/networks.ts';
import { scaled } from '../../lib/slow.ts';

/** Lessons keep their demo bundles (and their daemons' state) here; removed after the lessons ran. */
const LESSON_DIRS = [path.join(HOST_LIB_DIR, 'lesson'), path.join(HOST_RUN_DIR, 'lesson')];
/** The lessons' networks (chapter 06 on) are named cmwlesson...: their bridges, leases and rules go too. */
const LESSON_NETWORK_PREFIX = 'cmwlesson';

describe('the output matcher', () => {
  test('"..." stands for any number of lines', () => {
    expect(outputMatches('a\nb\nc\nd\n', 'a\n...\nd')).toBe(true);
    expect(outputMatches('a\nd', 'a\n...\nd')).toBe(true);
    expect(outputMatches('a\nb', 'a\n...\nd')).toBe(false);
    expect(outputMatches('a  \n', 'a')).toBe(true);
  });
});

for (const chapter of availableChapters()) {
  const readme = path.join(CHAPTERS_DIR, chapter.folder, 'README.md');
  describe(`lesson ${chapter.folder}`, () => {
    afterAll(async () => {
      await removeTree(LESSON_DIRS, 'conman-workshop/lesson');
      removeNetworksNamed(LESSON_NETWORK_PREFIX);
    });
    const blocks = fs.existsSync(readme) ? runnableBlocks(readme) : [];
    test('has runnable blocks', () => expect(blocks.length, `${readme} has no \`sh runnable\` block`).toBeGreaterThan(0));
    for (const block of blocks) {
      test(`README.md:${block.line} ${block.code.split('\n')[0].slice(0, 60)}`, async () => {
        const result = await runBlock(block, 'solutions');
        expect(result.exitCode, `the block failed; its output:\n${result.output}`).toBe(0);
        if (block.expected !== undefined) {
          expect(outputMatches(result.output, block.expected), `output:\n${result.output}\nexpected (README.md:${block.line}):\n${block.expected}`).toBe(true);
        }
      }, scaled(60_000));
    }
  });
}
