/**
 * Wrong answers: plausible mistakes a learner makes in an exercise (mostly the ones the lesson
 * warns about), kept in test/wrong-answers/<NN-slug>/<exercise>.<label>.ts. Each file holds
 * the code that replaces the exercise's region, after a header:
 *
 *     // wrong: the mistake, in words
 *     // caught by: a vitest -t pattern naming the checks that must reject it
 *     ...the wrong code, as it would stand between the markers...
 *
 * The suite (test/workshop/wrong-answers.test.ts) writes a tree with the reference code and
 * this one region replaced, runs only the named checks against it, and expects a failure that
 * is not "not implemented yet". The mutation run (mutate.ts) uses the same machinery.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { killTree } from '../host/processes.ts';
import { testFile, type ChapterInfo } from '../manifest.ts';
import { REPO_ROOT, SCRATCH_TREES_DIR, TEST_DIR } from '../paths.ts';
import { SLOW } from '../slow.ts';
import { exercisesOf, writeStarters } from './starters.ts';

export const WRONG_ANSWERS_DIR = path.join(TEST_DIR, 'wrong-answers');

export interface WrongAnswer {
  /** e.g. "00-setup/compare-ns" */
  exercise: string;
  label: string;
  /** Path relative to the repository. */
  file: string;
  why: string;
  /** vitest -t pattern: the checks that must reject it. */
  caughtBy: string;
  /** The code replacing the region. */
  body: string[];
}

export function parseWrongAnswer(file: string, chapter: string): WrongAnswer {
  const name = path.basename(file, '.ts');
  const dot = name.indexOf('.');
  if (dot < 0) throw new Error(`${file}: name it <exercise>.<label>.ts`);
  const lines = fs.readFileSync(file, 'utf8').replace(/\n$/, '').split('\n');
  const header = (key: string) => {
    const line = lines.find((l) => l.startsWith(`// ${key}:`));
    if (!line) throw new Error(`${file}: the header has no "// ${key}:" line`);
    return line.slice(`// ${key}:`.length).trim();
  };
  let start = 0;
  while (start < lines.length && /^\/\/ (wrong|caught by):/.test(lines[start])) start++;
  return {
    exercise: `${chapter}/${name.slice(0, dot)}`,
    label: name.slice(dot + 1),
    file: path.relative(REPO_ROOT, file),
    why: header('wrong'),
    caughtBy: header('caught by'),
    body: lines.slice(start),
  };
}

/** Every wrong answer kept for `chapter` (its folder name). */
export function wrongAnswersOf(chapter: string): WrongAnswer[] {
  const dir = path.join(WRONG_ANSWERS_DIR, chapter);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.ts'))
    .sort()
    .map((name) => parseWrongAnswer(path.join(dir, name), chapter));
}

/** A tree holding `chapter` with the reference code, except `exercise`'s region, which gets `body`. */
export function writeVariantTree(tree: string, chapter: string, exercise: string, body: string[]): string {
  if (!exercisesOf(chapter).some((e) => e.id === exercise)) throw new Error(`no exercise ${exercise}`);
  fs.rmSync(tree, { recursive: true, force: true });
  writeStarters(chapter, tree, (id) => (id === exercise ? body : false));
  return tree;
}

export interface FilteredResult {
  passed: number;
  failed: number;
  skipped?: number;
  failures: { test: string; message: string }[];
  durationMs: number;
}

/**
 * Run one chapter's checks against `targetDir`, only those matching `pattern` (vitest -t),
 * stopping at the first failure (--bail). Returns the counts and the failures' first lines.
 */
export async function runFilteredChecks(chapter: ChapterInfo, targetDir: string, pattern: string | undefined, options: { bail?: boolean; timeoutMs?: number } = {}): Promise<FilteredResult> {
  const jsonFile = path.join(SCRATCH_TREES_DIR, `report-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  fs.mkdirSync(SCRATCH_TREES_DIR, { recursive: true });
  const args = [path.join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', path.relative(REPO_ROOT, testFile(chapter)), '--reporter=json', `--outputFile.json=${jsonFile}`];
  if (pattern) args.push('-t', pattern);
  if (options.bail !== false) args.push('--bail=1');
  const started = Date.now();
  let output = '';
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, WORKSHOP_TARGET_DIR: targetDir, WORKSHOP_OWN_LAYERS: '0', WORKSHOP_SLOW: String(SLOW), FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = options.timeoutMs ? setTimeout(() => killTree(child.pid!), options.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('exit', (exit) => {
      clearTimeout(timer);
      resolve(exit ?? 1);
    });
  });
  if (!fs.existsSync(jsonFile)) {
    return { passed: 0, failed: 1, failures: [{ test: '(vitest)', message: `vitest exited ${code} without a report: ${output.split('\n').slice(-10).join('\n')}` }], durationMs: Date.now() - started };
  }
  const report = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as {
    testResults: { message?: string; assertionResults: { ancestorTitles: string[]; title: string; status: string; failureMessages: string[] }[] }[];
  };
  fs.rmSync(jsonFile, { force: true });
  const result: FilteredResult = { passed: 0, failed: 0, failures: [], durationMs: Date.now() - started };
  for (const file of report.testResults) {
    if (file.assertionResults.length === 0 && file.message) {
      result.failed++;
      result.failures.push({ test: '(loading)', message: file.message.split('\n')[0] });
    }
    for (const test of file.assertionResults) {
      if (test.status === 'passed') result.passed++;
      else if (test.status === 'failed') {
        result.failed++;
        result.failures.push({ test: [...test.ancestorTitles, test.title].join(' › '), message: test.failureMessages.join('\n').split('\n')[0] });
      }
    }
  }
  return result;
}

export interface Variant {
  /** Unique; names the vitest project. */
  name: string;
  chapter: ChapterInfo;
  /** The target folder (a tree from writeVariantTree). */
  tree: string;
  /** vitest -t pattern: the checks to run. */
  pattern: string;
}

/**
 * Run many variants in ONE vitest process: each is a project of its own (its own
 * WORKSHOP_TARGET_DIR and test-name pattern), two test files at a time. Starting vitest
 * costs seconds; this pays it once. Returns each variant's outcome, by name.
 */
export async function runVariants(variants: Variant[], options: { timeoutMs?: number; maxWorkers?: number } = {}): Promise<Map<string, FilteredResult>> {
  fs.mkdirSync(SCRATCH_TREES_DIR, { recursive: true });
  const stamp = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const configFile = path.join(SCRATCH_TREES_DIR, `variants-${stamp}.config.mts`);
  const reportFile = path.join(SCRATCH_TREES_DIR, `variants-${stamp}.json`);
  const projects = variants.map((v) => ({
    name: v.name,
    include: [path.relative(REPO_ROOT, testFile(v.chapter))],
    env: { WORKSHOP_TARGET_DIR: v.tree, WORKSHOP_OWN_LAYERS: '0' },
    testNamePattern: v.pattern,
  }));
  // Not `extends: true`: merging would add the root's include (every test file) to each project.
  fs.writeFileSync(
    configFile,
    `import { defineConfig } from 'vitest/config';
import base from ${JSON.stringify(path.join(REPO_ROOT, 'vitest.config.ts'))};
const { include: _all, globalSetup, ...shared } = base.test ?? {};
const projects = ${JSON.stringify(projects)};
export default defineConfig({
  resolve: base.resolve,
  ssr: base.ssr,
  test: {
    globalSetup,
    maxWorkers: ${options.maxWorkers ?? 2},
    projects: projects.map((test) => ({ resolve: base.resolve, ssr: base.ssr, test: { ...shared, ...test } })),
  },
});
`,
  );
  const started = Date.now();
  let output = '';
  try {
    await new Promise<number>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [path.join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', configFile, '--root', REPO_ROOT, `--reporter=${path.join(REPO_ROOT, 'lib/authoring/variant-reporter.ts')}`],
        {
          cwd: REPO_ROOT,
          env: { ...process.env, WORKSHOP_VARIANT_REPORT: reportFile, WORKSHOP_SLOW: String(SLOW), FORCE_COLOR: '0', NO_COLOR: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const timer = options.timeoutMs ? setTimeout(() => killTree(child.pid!), options.timeoutMs) : undefined;
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? 1);
      });
    });
    if (!fs.existsSync(reportFile)) throw new Error(`vitest wrote no report; its output ends with:\n${output.split('\n').slice(-20).join('\n')}`);
    const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as Record<string, Omit<FilteredResult, 'durationMs'>>;
    const durationMs = Date.now() - started;
    return new Map(variants.map((v) => [v.name, { ...(report[v.name] ?? { passed: 0, failed: 0, failures: [] }), durationMs }]));
  } finally {
    if (!process.env.WORKSHOP_KEEP_VARIANTS) fs.rmSync(configFile, { force: true });
    fs.rmSync(reportFile, { force: true });
  }
}

/** Run `tasks` with at most `limit` at a time; results in the order of `tasks`. */
export async function inPool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
