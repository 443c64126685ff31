/**
 * Runnable lesson blocks. In a chapter's README.md, a fenced block whose info string is
 * `sh runnable` is executed by the test suite; when the very next block is `text output`,
 * the command's output must match it:
 *
 *     ```sh runnable
 *     hostname
 *     ```
 *     ```text output
 *     conman-workshop
 *     ```
 *
 * A line "..." in the expected output matches any number of lines. Commands that name
 * `chapters/NN-slug/` run against the folder under test instead (solutions/ in the suite),
 * so the lessons are proved on the reference and cannot rot.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import { REPO_ROOT, WORKSHOP_STATE_DIR } from '../paths.ts';

export interface RunnableBlock {
  /** 1-based line of the block in the README. */
  line: number;
  code: string;
  expected?: string;
}

export function runnableBlocks(markdownFile: string): RunnableBlock[] {
  const tokens = new MarkdownIt().parse(fs.readFileSync(markdownFile, 'utf8'), {});
  const blocks: RunnableBlock[] = [];
  tokens.forEach((token, i) => {
    if (token.type !== 'fence' || !/^(sh|bash|console)\s+runnable\b/.test(token.info.trim())) return;
    const next = tokens[i + 1];
    const expected = next?.type === 'fence' && /^text\s+output\b/.test(next.info.trim()) ? next.content : undefined;
    blocks.push({ line: (token.map?.[0] ?? 0) + 1, code: token.content, expected });
  });
  return blocks;
}

/** Does `actual` match `expected`, where an expected line "..." stands for any lines? */
export function outputMatches(actual: string, expected: string): boolean {
  const want = expected.trimEnd().split('\n').map((line) => line.trimEnd());
  const have = actual.trimEnd().split('\n').map((line) => line.trimEnd());
  const match = (w: number, h: number): boolean => {
    if (w === want.length) return h === have.length;
    if (want[w] === '...') return match(w + 1, h) || (h < have.length && match(w, h + 1));
    return h < have.length && have[h] === want[w] && match(w + 1, h + 1);
  };
  return match(0, 0);
}

export interface BlockResult {
  exitCode: number;
  output: string;
}

/**
 * A directory with an `npx` that runs `npx tsx ARGS` as `node --import tsx ARGS`: the same
 * program, without npx's own second of start-up for each of the lessons' many calls (the
 * suite runs on two cores). Anything else goes to the real npx.
 */
let npxDir: string | undefined;
function fastNpxDir(): string {
  if (npxDir) return npxDir; // once per process, not once per block
  const dir = path.join(WORKSHOP_STATE_DIR, 'lesson-bin');
  const file = path.join(dir, 'npx');
  const realNpx = execFileSync('sh', ['-c', 'command -v npx'], { encoding: 'utf8' }).trim();
  const script = `#!/bin/sh\nif [ "$1" = tsx ]; then shift; exec "${process.execPath}" --import tsx "$@"; fi\nexec "${realNpx}" "$@"\n`;
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== script) fs.writeFileSync(file, script, { mode: 0o755 });
  return (npxDir = dir);
}

/** Run a block with bash (-e: the first failing command fails the block), stdout+stderr merged. */
export function runBlock(block: RunnableBlock, targetFolder: string, timeoutMs = 60_000): Promise<BlockResult> {
  const code = block.code.replace(/\bchapters\/(?=\d\d-)/g, `${targetFolder}/`);
  const PATH = `${fastNpxDir()}:${process.env.PATH}`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], {
      cwd: REPO_ROOT,
      env: { ...process.env, PATH, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode: exitCode ?? 1, output }));
  });
}
