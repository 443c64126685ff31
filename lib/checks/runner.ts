/**
 * Run chapters' checks (their vitest files) against a target folder and summarise them per
 * chapter: passed, failed, and each failure's first meaningful line. The same summary feeds
 * the dashboard, `check --json` and the progress file.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { exercisesOf } from '../authoring/starters.ts';
import { testFile, type ChapterInfo } from '../manifest.ts';
import { REPO_ROOT, WORKSHOP_STATE_DIR } from '../paths.ts';
import { SLOW } from '../slow.ts';

export interface CheckFailure {
  test: string;
  message: string;
  /** The exercise a "not implemented yet" failure points at, with its file and line. */
  exercise?: { id: string; location: string };
  /** For a wrong result rather than an unfinished exercise: where the check is, and the learner's code in the stack. */
  check?: string;
  code?: string;
}

export interface ChapterResult {
  chapter: string;
  target: string;
  passed: number;
  failed: number;
  skipped: number;
  durationMs: number;
  ok: boolean;
  failures: CheckFailure[];
}

export interface RunChecksOptions {
  /** Folder whose NN-slug/ subfolders are tested: chapters/, solutions/, or generated starters. */
  targetDir: string;
  /** Resolve `#lower/...` imports to the learner's own chapters instead of the reference. */
  ownLayers?: boolean;
  /** Also write a JUnit XML report here (for instructors' CI or LMS). */
  junitFile?: string;
  /** Called with a short line as work progresses. */
  onProgress?: (line: string) => void;
}

interface VitestJson {
  testResults: {
    name: string;
    startTime?: number;
    endTime?: number;
    message?: string;
    assertionResults: { ancestorTitles: string[]; title: string; status: string; failureMessages: string[] }[];
  }[];
}

const ANSI = /\u001b\[[0-9;]*m/g;
/** The full output of the last check run, for when the summary is not enough. */
export const LAST_CHECK_LOG = path.join(WORKSHOP_STATE_DIR, 'last-check.log');

/** The part of a vitest failure a learner needs: the error line, not the stack. */
export function firstLines(raw: string): string {
  const text = raw.replace(ANSI, '');
  const lines = text.split('\n');
  const stackStart = lines.findIndex((line) => /^\s+at /.test(line));
  return (stackStart >= 0 ? lines.slice(0, stackStart) : lines.slice(0, 8)).join('\n').trim();
}

export async function runChecks(chapters: ChapterInfo[], options: RunChecksOptions): Promise<ChapterResult[]> {
  fs.mkdirSync(WORKSHOP_STATE_DIR, { recursive: true });
  const jsonFile = path.join(WORKSHOP_STATE_DIR, `check-${process.pid}.json`);
  const logFile = LAST_CHECK_LOG;
  // The default reporter's text goes to last-check.log (every failure, with its stack); the JSON is for us.
  const reporters = ['--reporter=default', '--reporter=json', `--outputFile.json=${jsonFile}`];
  if (options.junitFile) reporters.push('--reporter=junit', `--outputFile.junit=${path.resolve(options.junitFile)}`);
  const files = chapters.map((chapter) => path.relative(REPO_ROOT, testFile(chapter)));
  options.onProgress?.(`checking ${chapters.map((c) => c.folder).join(', ')} against ${path.relative(REPO_ROOT, options.targetDir) || '.'}/ ...`);

  const started = Date.now();
  const log = fs.openSync(logFile, 'w');
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', ...files, ...reporters], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        WORKSHOP_TARGET_DIR: options.targetDir,
        WORKSHOP_OWN_LAYERS: options.ownLayers ? '1' : '0',
        // One slow factor for the checks and every process they start (shims, conmand).
        WORKSHOP_SLOW: String(SLOW),
        FORCE_COLOR: '0',
        NO_COLOR: '1', // last-check.log is read in an editor
      },
      stdio: ['ignore', log, log],
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
  fs.closeSync(log);

  if (!fs.existsSync(jsonFile)) {
    const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    throw new Error(`the checks did not run (vitest exited ${exitCode}); its output ends with:\n${tail}\nfull log: ${logFile}`);
  }
  const report = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as VitestJson;
  fs.rmSync(jsonFile, { force: true });
  return chapters.map((chapter) => summarise(chapter, report, options.targetDir, Date.now() - started));
}

/** A wrong result: the first line of the check in its test file, and of the chapter's code, in the stack. */
function stackPlaces(raw: string, chapterDir: string): { check?: string; code?: string } {
  // Only the stack's lines ("    at fn (/path/file.ts:12:5)"), not the message, which may quote paths.
  const frames = raw.replace(ANSI, '').split('\n').filter((line) => /^\s+at /.test(line));
  const inFile = (prefix: string) => {
    for (const frame of frames) {
      const at = frame.indexOf(prefix);
      const match = at >= 0 ? /^(.+?\.[cm]?[jt]s):(\d+)/.exec(frame.slice(at)) : null;
      if (match) return `${path.relative(REPO_ROOT, match[1])}:${match[2]}`;
    }
    return undefined;
  };
  return { check: inFile(path.join(REPO_ROOT, 'test') + path.sep), code: inFile(chapterDir + path.sep) };
}

function summarise(chapter: ChapterInfo, report: VitestJson, targetDir: string, wallMs: number): ChapterResult {
  const file = report.testResults.find((r) => path.resolve(r.name) === testFile(chapter));
  const exercises = exercisesOf(chapter.folder);
  const result: ChapterResult = {
    chapter: chapter.folder,
    target: targetDir,
    passed: 0,
    failed: 0,
    skipped: 0,
    durationMs: file?.endTime && file.startTime ? file.endTime - file.startTime : wallMs,
    ok: false,
    failures: [],
  };
  if (!file) {
    result.failed = 1;
    result.failures.push({ test: chapter.folder, message: `vitest reported nothing for this chapter: see ${LAST_CHECK_LOG}` });
    return result;
  }
  if (file.assertionResults.length === 0 && file.message) {
    // The test file itself failed to load (a syntax or import error in the learner's code).
    result.failed = 1;
    result.failures.push({ test: `${chapter.folder} (loading)`, message: firstLines(file.message) });
  }
  for (const test of file.assertionResults) {
    if (test.status === 'passed') result.passed++;
    else if (test.status === 'failed') {
      result.failed++;
      const raw = test.failureMessages.join('\n');
      const message = firstLines(raw);
      const exerciseId = /\(exercise ([\w/-]+)\)/.exec(message)?.[1];
      const exercise = exercises.find((e) => e.id === exerciseId);
      result.failures.push({
        test: [...test.ancestorTitles, test.title].join(' › '),
        message,
        exercise: exercise && { id: exercise.id, location: `${path.relative(REPO_ROOT, path.join(targetDir, chapter.folder, exercise.file))}:${exercise.line}` },
        ...(exercise ? {} : stackPlaces(raw, path.join(targetDir, chapter.folder))),
      });
    } else result.skipped++;
  }
  result.ok = result.failed === 0 && result.passed > 0;
  return result;
}
