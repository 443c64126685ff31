/**
 * Run chapters' checks (their vitest files) against a target folder and summarise them per
 * chapter: passed, failed, and for each failure what went wrong, in words, and where to look.
 * The same summary feeds the dashboard, `check --json` and the progress file.
 *
 * vitest runs in its own process group; our reporter (./reporter.ts) streams each check's
 * result over a pipe as soon as it is known, so the first failure can be shown while the rest
 * still run, and a cancelled run (`q` in the dashboard, Ctrl-C) is stopped whole and tidied up.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { exercisesOf, type Exercise } from '../authoring/starters.ts';
import { removeStaleRuns } from '../host/hygiene.ts';
import { endProcessGroup, stopProcessGroup } from '../host/processes.ts';
import { testFile, type ChapterInfo } from '../manifest.ts';
import { CHAPTERS_DIR, REPO_ROOT, SOLUTIONS_DIR, TEST_DIR, WORKSHOP_STATE_DIR } from '../paths.ts';
import { SLOW } from '../slow.ts';
import { exerciseAt, exerciseInDefinition, exerciseLocation, exerciseNamedBy, findExercise, stackFrames } from './locate.ts';
import type { CheckServer } from './check-server.ts';
import { onEventLines, type CheckEvent, type EventError } from './reporter.ts';

export type FailureKind = 'not-implemented' | 'timeout' | 'wrong-result' | 'loading';

export interface CheckFailure {
  test: string;
  /** What went wrong, in words: the error's first lines, never a stack. */
  message: string;
  kind?: FailureKind;
  /** The exercise to edit, with its file and current line: the unfinished one, or the one at fault. */
  exercise?: { id: string; location: string };
  /** Why that exercise: "not implemented yet", "it never returned", "this check is about it", … */
  why?: string;
  /** For a wrong result: what the check expected and what it got (an assertion's diff). */
  expectation?: string;
  /** Where the check is (test file:line); learners need not open it. */
  check?: string;
  /** The learner's own code in the stack (file:line), when it is not the exercise above. */
  code?: string;
  /** A given file (no exercise of the learner's) where the failure surfaced: not where to fix it. */
  surfaced?: string;
  /** Anything else the learner must know (e.g. the exercise belongs to an earlier chapter under `layers own`). */
  note?: string;
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
  /** Called with each failure as soon as it is known, while the other checks still run. */
  onFailure?: (chapter: string, failure: CheckFailure) => void;
  /** Stop the run: vitest and everything it started are ended, their host objects removed; runChecks rejects with a CheckCancelled. */
  signal?: AbortSignal;
  /** Only the checks whose full name matches (vitest -t): the watch mode's quick first verdict. */
  testNamePattern?: string;
  /** Run in this vitest kept up between runs (the watch mode's), not in a one-shot `vitest run`. */
  server?: CheckServer;
  /** Skip a chapter's remaining checks after its first failure (the genuineness rounds: lib/harness/setup.ts). */
  bailPerFile?: boolean;
}

/** The title of a failure no check owns (an error thrown in an event handler, a crashed worker): shown in full wherever it comes. */
export const OUTSIDE_ANY_CHECK = 'an error outside any check';

export class CheckCancelled extends Error {
  constructor() {
    super('check cancelled');
    this.name = 'CheckCancelled';
  }
}

const ANSI = /\u001b\[[0-9;]*m/g;
/** The full output of the last check run, for when the summary is not enough. */
export const LAST_CHECK_LOG = path.join(WORKSHOP_STATE_DIR, 'last-check.log');

/** The part of an error a learner needs: its first lines, not the stack. */
export function firstLines(raw: string): string {
  const text = raw.replace(ANSI, '');
  const lines = text.split('\n');
  const stackStart = lines.findIndex((line) => /^\s+at /.test(line));
  return (stackStart >= 0 ? lines.slice(0, stackStart) : lines.slice(0, 8)).join('\n').trim();
}

/** The first error vitest printed (a global setup that threw reaches the log only, not the reporter). */
function firstErrorInLog(): string | undefined {
  const lines = fs.readFileSync(LAST_CHECK_LOG, 'utf8').replace(ANSI, '').split('\n');
  return lines.find((line) => /^\w*Error: /.test(line))?.trim();
}

/** The error as a learner reads it: "AssertionError: …", but a plain Error or a timeout without its class name. */
function errorText(error: EventError): string {
  const message = error.message.replace(/^Error: STACK_TRACE_ERROR\s*/, '');
  const named = error.name && !['Error', 'CheckTimeoutError'].includes(error.name) ? `${error.name}: ${message}` : message;
  return firstLines(named.split('\n').slice(0, 8).join('\n'));
}

/** What an assertion expected and what it got, from vitest's diff, shortened. */
function expectationOf(error: EventError): string | undefined {
  const diff = error.diff?.replace(ANSI, '').trim();
  if (diff) {
    const lines = diff.split('\n').filter((line) => !/^@@ .* @@$/.test(line));
    const body = lines.slice(0, 16);
    if (lines.length > body.length) body.push(`… (${lines.length - body.length} more lines in ${path.relative(process.cwd(), LAST_CHECK_LOG) || LAST_CHECK_LOG})`);
    return body.join('\n');
  }
  if (error.expected !== undefined && error.actual !== undefined) return `expected: ${error.expected}\nreceived: ${error.actual}`;
  return undefined;
}

export async function runChecks(chapters: ChapterInfo[], options: RunChecksOptions): Promise<ChapterResult[]> {
  fs.mkdirSync(WORKSHOP_STATE_DIR, { recursive: true });
  const logFile = LAST_CHECK_LOG;
  // The default reporter's text goes to last-check.log (every failure, with its stack); our events come over fd 3.
  const reporters = ['--reporter=default', `--reporter=${path.join(REPO_ROOT, 'lib/checks/reporter.ts')}`];
  if (options.junitFile) reporters.push('--reporter=junit', `--outputFile.junit=${path.resolve(options.junitFile)}`);
  const files = chapters.map((chapter) => path.relative(REPO_ROOT, testFile(chapter)));
  options.onProgress?.(`checking ${chapters.map((c) => c.folder).join(', ')} against ${path.relative(REPO_ROOT, options.targetDir) || '.'}/ ...`);
  if (options.signal?.aborted) throw new CheckCancelled();

  const started = Date.now();
  const events: CheckEvent[] = [];
  const summaries = new Map(chapters.map((chapter) => [testFile(chapter), new ChapterSummary(chapter, options)]));
  const onEvent = (event: CheckEvent) => {
    events.push(event);
    if (event.type === 'test' && event.state === 'failed') {
      const summary = summaries.get(path.resolve(event.file));
      const failure = summary?.add(event);
      if (summary && failure) options.onFailure?.(summary.chapter.folder, failure);
    }
  };
  const env = {
    WORKSHOP_TARGET_DIR: options.targetDir,
    WORKSHOP_OWN_LAYERS: options.ownLayers ? '1' : '0',
    // One slow factor for the checks and every process they start (shims, conmand).
    WORKSHOP_SLOW: String(SLOW),
    WORKSHOP_BAIL_PER_FILE: options.bailPerFile ? '1' : '0',
  };
  const log = fs.openSync(logFile, 'w');
  let cancelled = false;
  let exitCode = 0;
  const server = options.server && !options.junitFile ? options.server : undefined;
  if (server) {
    if (server.targetDir !== options.targetDir || server.ownLayers !== Boolean(options.ownLayers)) throw new Error('runChecks: the check server serves another target or layers');
    const cancel = () => {
      cancelled = true;
      server.stop();
    };
    options.signal?.addEventListener('abort', cancel, { once: true });
    try {
      await server.run({ files, testNamePattern: options.testNamePattern, env, onEvent, onOutput: (chunk) => fs.writeSync(log, chunk) });
    } catch (error) {
      if (!cancelled) throw error;
    } finally {
      options.signal?.removeEventListener('abort', cancel);
      fs.closeSync(log);
    }
    if (cancelled) await endProcessGroup(server.pgid);
    // A one-shot run sweeps the host for the leftovers of earlier runs when it starts; the
    // server's workers end with each run, so sweep after it (off the way of the next verdict).
    else void removeStaleRuns().catch(() => {});
  } else {
    let group = 0;
    exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', ...files, ...(options.testNamePattern ? ['--testNamePattern', options.testNamePattern] : []), ...reporters], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          ...env,
          WORKSHOP_EVENTS_FD: '3',
          FORCE_COLOR: '0',
          NO_COLOR: '1', // last-check.log is read in an editor
        },
        stdio: ['ignore', log, log, 'pipe'],
        // Its own process group: a cancel ends vitest and its workers together.
        detached: true,
      });
      onEventLines<CheckEvent>(child.stdio[3]!, onEvent);
      const cancel = () => {
        cancelled = true;
        stopProcessGroup(child.pid!);
      };
      options.signal?.addEventListener('abort', cancel, { once: true });
      child.on('error', reject);
      // 'close', not 'exit': the last events may still be in the pipe when vitest exits.
      child.on('close', (code) => {
        options.signal?.removeEventListener('abort', cancel);
        group = child.pid!;
        resolve(code ?? 1);
      });
    });
    fs.closeSync(log);
    // Workers that outlive vitest (a hung one, or a cancel): end the whole group, and wait until it is gone.
    await endProcessGroup(group);
  }

  if (cancelled) {
    // What the stopped checks made on the host (run folders, containers, shims, cgroups): their owners are gone now.
    await removeStaleRuns();
    throw new CheckCancelled();
  }
  const ended = events.some((event) => event.type === 'end');
  if (!ended && !events.some((event) => event.type === 'module')) {
    const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    throw new Error(`the checks did not run (vitest exited ${exitCode}); its output ends with:\n${tail}\nfull log: ${logFile}`);
  }
  return chapters.map((chapter) => summaries.get(testFile(chapter))!.finish(events, Date.now() - started));
}

/** One chapter's failures, summarised as they arrive (exported for the workshop's own tests). */
export class ChapterSummary {
  readonly failures: CheckFailure[] = [];
  /** Exercises whose own check (named in its title) failed, in order: the likely culprits of later failures. */
  private readonly ownChecksFailed: string[] = [];
  private readonly exercises: Exercise[];

  constructor(
    readonly chapter: ChapterInfo,
    private readonly options: RunChecksOptions,
  ) {
    this.exercises = exercisesOf(chapter.folder);
  }

  /** Where an exercise lives for this run: the chapter under check in the target; an earlier one in chapters/ (layers own) or solutions/. */
  private rootOf(exercise: Exercise): string {
    if (exercise.chapter === this.chapter.folder) return this.options.targetDir;
    return this.options.ownLayers ? CHAPTERS_DIR : SOLUTIONS_DIR;
  }

  private learnerRoots(): { chapter: string; dir: string }[] {
    const roots = [{ chapter: this.chapter.folder, dir: path.join(this.options.targetDir, this.chapter.folder) }];
    if (this.options.ownLayers) {
      for (const folder of fs.existsSync(CHAPTERS_DIR) ? fs.readdirSync(CHAPTERS_DIR) : []) {
        if (folder < this.chapter.folder) roots.push({ chapter: folder, dir: path.join(CHAPTERS_DIR, folder) });
      }
    }
    return roots;
  }

  private pointAt(failure: CheckFailure, id: string, why: string): void {
    const exercise = this.exercises.find((e) => e.id === id) ?? findExercise(id);
    if (!exercise) return;
    failure.exercise = { id: exercise.id, location: exerciseLocation(this.rootOf(exercise), exercise) };
    failure.why = why;
    if (exercise.chapter !== this.chapter.folder) {
      failure.note = this.options.ownLayers
        ? `this exercise is chapter ${exercise.chapter.slice(0, 2)}'s: chapter ${this.chapter.number} builds on your own earlier chapters (layers own). Finish it, or build on the reference instead: ./workshop layers reference`
        : `this exercise is chapter ${exercise.chapter.slice(0, 2)}'s`;
    }
  }

  /** The first file:line of the learner's (absolute, or relative to the repository) that an error's text names. */
  private placeIn(error: EventError): { file: string; line: number } | undefined {
    for (const [, name, line] of `${error.message}\n${error.stack ?? ''}`.matchAll(/([\w./-]+\.[cm]?ts):(\d+)/g)) {
      const file = path.resolve(REPO_ROOT, name);
      if (this.learnerRoots().some((root) => file.startsWith(root.dir + path.sep))) return { file, line: Number(line) };
    }
    return undefined;
  }

  add(event: Extract<CheckEvent, { type: 'test' }>): CheckFailure {
    const error = event.errors[0] ?? { message: 'failed (no error reported)' };
    const failure: CheckFailure = { test: event.titles.join(' › '), message: errorText(error) };
    const frames = event.errors.flatMap((e) => stackFrames(e.stack ?? ''));
    const checkFrame = frames.find((frame) => frame.file.startsWith(TEST_DIR + path.sep));
    if (checkFrame) failure.check = `${path.relative(REPO_ROOT, checkFrame.file)}:${checkFrame.line}`;

    const notImplemented = /not implemented yet: .*\(exercise ([\w/-]+)\)/.exec(event.errors.map((e) => e.message).join('\n'));
    const timeout = event.errors.find((e) => e.name === 'CheckTimeoutError' || /^timed out after /.test(e.message));
    // A file that does not parse (esbuild's or Node's words); JSON.parse's SyntaxError is a wrong result of the learner's code, not that.
    const syntax = /Transform failed|PARSE_ERROR/.test(error.message) || (error.name === 'SyntaxError' && !/\bJSON\b/.test(`${error.message}\n${error.stack ?? ''}`));
    if (notImplemented) {
      failure.kind = 'not-implemented';
      this.pointAt(failure, notImplemented[1], 'not implemented yet');
    } else if (syntax) {
      // The learner's file does not parse: the place is in the message, and so is the exercise around it.
      failure.kind = 'loading';
      const place = this.placeIn(error);
      if (place) {
        const root = this.learnerRoots().find((r) => place.file.startsWith(r.dir + path.sep));
        const name = exerciseAt(place.file, place.line);
        if (root && name) this.pointAt(failure, `${root.chapter}/${name}`, `it does not parse, line ${place.line}`);
        failure.code = `${path.relative(REPO_ROOT, place.file)}:${place.line}`;
      }
      this.failures.push(failure);
      return failure;
    } else if (timeout) {
      failure.kind = 'timeout';
      const call = timeout.call;
      const name = call && exerciseInDefinition(path.join(this.options.targetDir, call.file), call.method);
      const chapter = call?.file.split('/')[0];
      if (name && chapter) this.pointAt(failure, `${chapter}/${name}`, `\`${call.method}\` never returned`);
    } else {
      failure.kind = 'wrong-result';
      failure.expectation = expectationOf(error);
    }

    // The learner's code in the stack: an exercise region (the culprit, if nothing above said), else a given file.
    let inRegion: string | undefined;
    for (const frame of frames) {
      const root = this.learnerRoots().find((r) => frame.file.startsWith(r.dir + path.sep));
      if (!root) continue;
      const name = exerciseAt(frame.file, frame.line);
      const where = `${path.relative(REPO_ROOT, frame.file)}:${frame.line}`;
      if (name) {
        inRegion = where;
        if (!failure.exercise && failure.kind !== 'not-implemented') this.pointAt(failure, `${root.chapter}/${name}`, 'your code in the stack');
        else if (failure.exercise && !failure.exercise.id.endsWith(`/${name}`)) failure.code = where;
        break;
      }
      const isExerciseFile = exercisesOf(root.chapter).some((e) => path.join(root.dir, e.file) === frame.file);
      if (isExerciseFile) {
        failure.code ??= where;
      } else {
        failure.surfaced ??= where;
      }
    }

    if (failure.kind === 'wrong-result' || failure.kind === 'timeout') {
      const named = exerciseNamedBy(event.titles, this.chapter.folder, this.options.targetDir);
      if (named) {
        // The check is about one exercise: that is the one to fix, whatever the stack says.
        const id = `${this.chapter.folder}/${named}`;
        if (failure.exercise?.id !== id) {
          if (failure.exercise && failure.why === 'your code in the stack') failure.code = inRegion;
          if (!failure.exercise || failure.why === 'your code in the stack') this.pointAt(failure, id, 'this check is about it');
        }
        if (!this.ownChecksFailed.includes(id)) this.ownChecksFailed.push(id);
      } else if (this.ownChecksFailed.length && (!failure.exercise || failure.why === 'your code in the stack')) {
        // An end-to-end check, and an exercise's own check failed before it: that exercise first.
        const culprit = this.ownChecksFailed[0];
        if (failure.exercise?.id !== culprit) {
          if (failure.exercise) failure.code = inRegion;
          this.pointAt(failure, culprit, `its own check fails too`);
        }
      }
    }
    this.failures.push(failure);
    return failure;
  }

  finish(events: CheckEvent[], wallMs: number): ChapterResult {
    const file = testFile(this.chapter);
    const mine = events.filter((event) => event.type !== 'end' && path.resolve(event.file) === file);
    const module = mine.find((event): event is Extract<CheckEvent, { type: 'module' }> => event.type === 'module');
    const tests = mine.filter((event): event is Extract<CheckEvent, { type: 'test' }> => event.type === 'test');
    const result: ChapterResult = {
      chapter: this.chapter.folder,
      target: this.options.targetDir,
      passed: tests.filter((t) => t.state === 'passed').length,
      failed: tests.filter((t) => t.state === 'failed').length,
      skipped: tests.filter((t) => t.state !== 'passed' && t.state !== 'failed').length,
      durationMs: module?.durationMs || wallMs,
      ok: false,
      failures: this.failures,
    };
    // A failure in the run itself (an unhandled rejection, a global setup that threw).
    const unhandled = events.find((event): event is Extract<CheckEvent, { type: 'end' }> => event.type === 'end')?.errors ?? [];
    if (!module && tests.length === 0) {
      result.failed = 1;
      const error = unhandled.length ? errorText(unhandled[0]) : firstErrorInLog();
      const why = error ? `: ${error}` : '';
      result.failures.push({ test: this.chapter.folder, message: `vitest reported nothing for this chapter${why}`, note: `the whole output: ${LAST_CHECK_LOG}` });
    } else if (tests.length === 0 && module?.errors.length) {
      // The test file itself failed to load (a syntax or import error in the learner's code).
      result.failed = 1;
      const error = module.errors[0];
      const failure: CheckFailure = { test: `${this.chapter.folder} (loading)`, message: errorText(error), kind: 'loading' };
      const notImplemented = /\(exercise ([\w/-]+)\)/.exec(error.message);
      if (notImplemented) this.pointAt(failure, notImplemented[1], 'not implemented yet');
      // A syntax or import error names the learner's file and line in its message or stack.
      const place = this.placeIn(error);
      if (place) failure.code = `${path.relative(REPO_ROOT, place.file)}:${place.line}`;
      result.failures.push(failure);
    }
    // It counts against every chapter of the run.
    if (unhandled.length && (module || tests.length)) {
      // e.g. "Worker exited unexpectedly": the checks after it never ran; say so rather than count only those that did.
      result.failed += 1;
      const cause = unhandled[0].message.includes('Worker') ? ' (the process running the checks crashed: the checks after this point did not run)' : '';
      const failure: CheckFailure = { test: `${OUTSIDE_ANY_CHECK}${cause}`, message: errorText(unhandled[0]), note: `the whole output: ${LAST_CHECK_LOG}` };
      // Thrown by the learner's code in an event handler, say: its place in the stack is where to look.
      for (const frame of stackFrames(unhandled[0].stack ?? '')) {
        const root = this.learnerRoots().find((r) => frame.file.startsWith(r.dir + path.sep));
        if (!root) continue;
        const name = exerciseAt(frame.file, frame.line);
        if (name) this.pointAt(failure, `${root.chapter}/${name}`, 'your code in the stack');
        failure.code = `${path.relative(REPO_ROOT, frame.file)}:${frame.line}`;
        break;
      }
      result.failures.push(failure);
    }
    result.ok = result.failed === 0 && result.passed > 0;
    return result;
  }
}
