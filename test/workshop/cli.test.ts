/**
 * The `workshop` command as learners and instructors use it. Each test points WORKSHOP_HOME at
 * a scratch folder, so a learner's own progress is never touched.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { startBook } from '../../lib/book/server.ts';
import { availableChapters } from '../../lib/manifest.ts';
import { CHAPTERS_DIR, REPO_ROOT } from '../../lib/paths.ts';
import { scaled } from '../../lib/slow.ts';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cmw-home-'));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

async function workshop(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // `check all` on the starters runs every chapter's checks: about 2.5 min on a loaded 2-core machine.
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'lib/cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, WORKSHOP_HOME: home, NO_COLOR: '1' },
      timeout: scaled(300_000),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('check', () => {
  // (Every chapter's checks already run on solutions/ in this suite: here one chapter is
  // enough to prove the command, its JSON and its JUnit report.)
  // (chapter 00: the shortest check run there is; the output's form is what is checked here)
  test('check 00 --target solutions --json --junit: exit 0, a passing summary, a JUnit report', async () => {
    const junit = path.join(home, 'class.xml');
    const { code, stdout } = await workshop('check', '00', '--target', 'solutions', '--json', '--junit', junit);
    const results = stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(results.map((r) => r.chapter)).toEqual(['00-setup']);
    for (const result of results) expect(result, result.chapter).toMatchObject({ ok: true, failed: 0, failures: [] });
    expect(code).toBe(0);
    const xml = fs.readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuites[^>]*failures="0"/);
    expect(xml).toContain('<testcase');
  }, scaled(180_000));

  // The chapters whose lessons quote a "nothing done" state are run all-stubbed by
  // lesson-quotes.test.ts, which checks every failure's message the same way: here the others.
  const notQuotedStubbed = availableChapters().filter((chapter) => !fs.readFileSync(path.join(CHAPTERS_DIR, chapter.folder, 'README.md'), 'utf8').includes('<!-- checks with: nothing -->'));
  test('check NN... on the starters: non-zero, and every failure says "not implemented" and where', async () => {
    const { code, stdout } = await workshop('check', ...notQuotedStubbed.map((chapter) => chapter.number), '--json');
    expect(stdout.trim().split('\n').map((line) => JSON.parse(line).chapter)).toEqual(notQuotedStubbed.map((chapter) => chapter.folder));
    expect(code).toBe(1);
    for (const result of stdout.trim().split('\n').map((line) => JSON.parse(line))) {
      expect(result.failed, result.chapter).toBeGreaterThan(0);
      for (const failure of result.failures) {
        expect(failure.message).toMatch(/^NotImplementedError: not implemented yet: .+ \(exercise \d\d-[\w-]+\/[\w-]+\)$/);
        expect(failure.exercise.location).toMatch(new RegExp(`^chapters/${result.chapter}/[\\w-]+\\.ts:\\d+$`));
      }
    }
    // The result is remembered: progress survives restarts.
    const progress = JSON.parse(fs.readFileSync(path.join(home, 'progress.json'), 'utf8'));
    expect(progress.chapters[notQuotedStubbed[0].folder]).toMatchObject({ ok: false });
  }, scaled(360_000));

  test('a learner sees the first failure with the file to edit, not a stack trace', async () => {
    const { code, stdout } = await workshop('check', '01');
    expect(code).toBe(1);
    expect(stdout).toContain('not implemented yet: create the folders');
    expect(stdout).toMatch(/→ edit chapters\/01-bundle\/rootfs\.ts:\d+/);
    expect(stdout).not.toMatch(/^\s+at /m);
    expect(stdout).toMatch(/^Checks: \d+ passed, \d+ failed$/m);
  }, scaled(120_000));

  test('bad arguments get a clear error and the usage', async () => {
    const unknown = await workshop('check', '42');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no chapter "42"/);
    const target = await workshop('check', '01', '--target', 'mine');
    expect(target.stderr).toMatch(/--target mine: use chapters .* or solutions/);
  });
});

describe('the other commands', () => {
  test('without a terminal, start prints the dashboard once and exits', async () => {
    const { code, stdout } = await workshop('start');
    expect(code).toBe(1); // the current chapter does not pass yet
    expect(stdout).toMatch(/Current chapter: 00-setup/);
    expect(stdout).toMatch(/▶ 00/);
    expect(stdout).toMatch(/09 {2}Orchestration/);
    expect(stdout, 'every chapter is written').not.toMatch(/\(coming\)/);
  }, scaled(120_000));

  test('hint shows one more hint each time', async () => {
    const first = await workshop('hint', '01', 'rootfs');
    expect(first.stdout).toMatch(/hint 1\/4/);
    expect(first.stdout).not.toMatch(/hint 2\/4/);
    const second = await workshop('hint', '01', 'rootfs');
    expect(second.stdout).toMatch(/hint 2\/4/);
    // Without a name: the first unfinished exercise (here rootfs, from the check above).
    const third = await workshop('hint', '01');
    expect(third.stdout).toMatch(/exercise rootfs/);
    const others = /the other exercises: (.*)\)/.exec(third.stdout)?.[1] ?? '';
    expect(others.split(', '), 'the footer names the other exercises, not this one').not.toContain('rootfs');
    expect(others).toMatch(/config-process/);
  });

  test('reset on an untouched chapter changes nothing; without a terminal it wants --yes', async () => {
    expect((await workshop('reset', '01')).stdout).toMatch(/already the starter/);
  });

  test('layers switches which earlier chapters later ones build on', async () => {
    expect((await workshop('layers', 'own')).stdout).toMatch(/your own earlier chapters/);
    expect(JSON.parse(fs.readFileSync(path.join(home, 'progress.json'), 'utf8')).ownLayers).toBe(true);
    await workshop('layers', 'reference');
    expect(JSON.parse(fs.readFileSync(path.join(home, 'progress.json'), 'utf8')).ownLayers).toBe(false);
  });

  test('the book serves the contents and each lesson', async () => {
    const server = await startBook(0);
    const port = (server.address() as { port: number }).port;
    const get = (url: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http.get(`http://127.0.0.1:${port}${url}`, (response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        }).on('error', reject);
      });
    try {
      const index = await get('/');
      expect(index.body).toContain('01 — Bundle');
      const lesson = await get('/01-bundle/');
      expect(lesson.status).toBe(200);
      expect(lesson.body).toContain('class="runnable"');
      expect((await get('/nope/')).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
