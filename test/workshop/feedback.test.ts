/**
 * The learner's loop (issue 9): what a failure says and where it points, how soon a hang is
 * reported, and what the watch mode, `clean`, `reset` and `hint` do around a check. Most checks
 * feed the report made-up vitest events (fast); a few run the real thing on a scratch tree.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, describe, expect, test } from 'vitest';
import { exercisesOf, writeStarters } from '../../lib/authoring/starters.ts';
import { checksAboutFiles, exerciseNamedBy, regionsIn } from '../../lib/checks/locate.ts';
import type { CheckEvent } from '../../lib/checks/reporter.ts';
import { CheckServer } from '../../lib/checks/check-server.ts';
import { ChapterSummary, runChecks, type ChapterResult } from '../../lib/checks/runner.ts';
import { formatResult } from '../../lib/cli/report.ts';
import { ChapterWatch, chaptersToCheck } from '../../lib/cli/watch.ts';
import { CheckTimeoutError, watchModule } from '../../lib/harness/watchdog.ts';
import { RUN_STATE_DIR, RUNS_DIR } from '../../lib/host/hygiene.ts';
import { cgroupDirs } from '../../lib/host/cgroups.ts';
import { parentPid } from '../../lib/host/proc-stat.ts';
import { availableChapters, findChapter, testFile } from '../../lib/manifest.ts';
import { CGROUP_PARENT, CHAPTERS_DIR, REPO_ROOT, SCRATCH_TREES_DIR, SOLUTIONS_DIR } from '../../lib/paths.ts';
import { scaled } from '../../lib/slow.ts';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cmw-home-'));
const trees: string[] = [];
afterAll(() => {
  fs.rmSync(home, { recursive: true, force: true });
  for (const tree of trees) fs.rmSync(tree, { recursive: true, force: true });
});

async function workshop(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'lib/cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, WORKSHOP_HOME: home, NO_COLOR: '1' },
      timeout: scaled(120_000),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function setProgress(progress: object): void {
  fs.writeFileSync(path.join(home, 'progress.json'), JSON.stringify({ chapters: {}, ownLayers: false, hintsShown: {}, ...progress }));
}

/** A scratch tree holding the reference of `chapters`, to be changed by the test. */
function scratchTree(name: string, chapters: string[]): string {
  const tree = path.join(SCRATCH_TREES_DIR, `feedback-${name}-${process.pid}`);
  fs.rmSync(tree, { recursive: true, force: true });
  for (const chapter of chapters) writeStarters(chapter, tree, () => false);
  trees.push(tree);
  return tree;
}

/** Wait until run folders owned by descendants of `ancestor` appear (a check it started is running); their ids. */
async function runFoldersOf(ancestor: number): Promise<string[]> {
  const isOurs = (runId: string) => {
    try {
      let pid = Number(fs.readFileSync(path.join(RUNS_DIR, runId, 'owner.pid'), 'utf8'));
      for (let depth = 0; pid > 1 && depth < 12; depth++) {
        if (pid === ancestor) return true;
        pid = parentPid(pid);
      }
    } catch {
      // gone, or not a run
    }
    return false;
  };
  const deadline = Date.now() + scaled(60_000);
  while (Date.now() < deadline) {
    const ours = (fs.existsSync(RUNS_DIR) ? fs.readdirSync(RUNS_DIR) : []).filter(isOurs);
    if (ours.length) return ours;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return [];
}

/** A failed-check event as our reporter sends it. */
function failed(titles: string[], error: { name?: string; message: string; stack?: string; diff?: string; call?: object }): Extract<CheckEvent, { type: 'test' }> {
  return { type: 'test', file: path.join(REPO_ROOT, 'test/x.test.ts'), titles, state: 'failed', durationMs: 1, errors: [error as never] };
}

function resultOf(chapter: string, summary: ChapterSummary): ChapterResult {
  return { chapter, target: '', passed: 0, failed: summary.failures.length, skipped: 0, durationMs: 1000, ok: false, failures: summary.failures };
}

const regionLine = (file: string, name: string) => regionsIn(file).find((r) => r.name === name)!;

describe('1. a wrong answer that hangs', () => {
  test('the watchdog fails a call that never returns in words, naming it, and a later call of it at once', async () => {
    process.env.WORKSHOP_CALL_DEADLINE_MS = '200';
    try {
      class Runtime {
        calls = 0;
        async create(id: string): Promise<void> {
          this.calls++;
          void id;
          await new Promise(() => {}); // a pipe nobody closes
        }
        async state(): Promise<string> {
          return 'fine';
        }
      }
      const { Runtime: Watched } = watchModule({ Runtime }, '02-lifecycle/runtime.ts');
      const runtime = new Watched();
      expect(runtime).toBeInstanceOf(Runtime);
      expect(await runtime.state()).toBe('fine');
      const started = Date.now();
      const error = await runtime.create('box-1').then(() => undefined, (e: Error) => e);
      expect(error).toBeInstanceOf(CheckTimeoutError);
      expect(error?.message).toMatch(/^timed out after [\d.]+ s: `create` never returned \(Runtime\.create\("box-1"\) of 02-lifecycle\/runtime\.ts\)/);
      expect(Date.now() - started).toBeLessThan(scaled(2000));
      const again = await runtime.create('box-2').then(() => undefined, (e: Error) => e);
      expect(again?.message).toMatch(/^not tried: `create` timed out in an earlier check/);
      expect(runtime.calls, 'the second call is not even made').toBe(1);
    } finally {
      delete process.env.WORKSHOP_CALL_DEADLINE_MS;
    }
  });

  test('a promise awaited later keeps its time: the deadline starts when the check waits', async () => {
    process.env.WORKSHOP_CALL_DEADLINE_MS = '200';
    try {
      const { wait } = watchModule({ wait: (ms: number) => new Promise((resolve) => setTimeout(() => resolve('done'), ms)) }, '03-shim/client.ts');
      const later = wait(600);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await later).toBe('done');
    } finally {
      delete process.env.WORKSHOP_CALL_DEADLINE_MS;
    }
  });

  test('check 02 with a create that hangs: "timed out … `create` never returned" at the exercise, soon, never STACK_TRACE_ERROR', async () => {
    const tree = scratchTree('hang', ['02-lifecycle']);
    const file = path.join(tree, '02-lifecycle/runtime.ts');
    const source = fs.readFileSync(file, 'utf8');
    // The pipe trap the lesson warns about: the container's stdio left to execa's default pipes.
    const wrong = source.replace(/await this\.invoke\(args, \{\n\s+stdin: fdOption\(stdio\.stdin\),\n\s+stdout: fdOption\(stdio\.stdout\),\n\s+stderr: fdOption\(stdio\.stderr\),\n\s+\}\);/, 'void stdio;\n    await this.invoke(args);');
    expect(wrong).not.toBe(source);
    fs.writeFileSync(file, wrong);
    const started = Date.now();
    let first: { at: number; message: string } | undefined;
    const [result] = await runChecks([findChapter('02')], {
      targetDir: tree,
      // Only the create checks: the rest of the chapter would add minutes to the suite and nothing to this check.
      testNamePattern: '(^|\\s)create[:\\s]',
      onFailure: (_chapter, failure) => (first ??= { at: Date.now() - started, message: failure.message }),
    });
    expect(first?.message).toMatch(/^timed out after [\d.]+ s: `create` never returned/);
    // (On a machine loaded beyond its cores, the watchdog gives a call once more time, times the load.)
    const loaded = os.loadavg()[0] / os.availableParallelism() > 6;
    expect(first!.at, 'ms until the hang was reported').toBeLessThan(scaled(loaded ? 50_000 : 20_000));
    const failure = result.failures[0];
    expect(failure.exercise).toEqual({ id: '02-lifecycle/create', location: `${path.relative(REPO_ROOT, file)}:${regionLine(file, 'create').start}` });
    for (const f of result.failures) expect(f.message).not.toContain('STACK_TRACE_ERROR');
    expect(formatResult(result)).toMatch(/timed out after [\d.]+ s: `create` never returned[^\n]*\n\s+→ edit \S+runtime\.ts:\d+/);
  }, scaled(240_000));
});

describe('2. blame in the right file', () => {
  const tree = scratchTree('blame', ['01-bundle', '03-shim']);

  test('a failure that surfaces in a given file names no given file as the culprit; the check names its exercise', () => {
    const summary = new ChapterSummary(findChapter('03'), { targetDir: tree });
    const client = path.join(tree, '03-shim/client.ts');
    const failure = summary.add(
      failed(['each piece alone, before the shim', "reapZombies: orphans handed to a subreaper are reaped with their status; Node's own children are left to Node"], {
        message: 'no reply to {"op":"start"} within 10000 ms',
        stack: `Error: no reply\n    at ShimClient.request (${client}:154:11)\n    at ${path.join(REPO_ROOT, 'test/03-shim.test.ts')}:110:5`,
      }),
    );
    expect(failure.exercise?.id).toBe('03-shim/reap');
    expect(failure.exercise?.location).toMatch(/reaper\.ts:\d+$/);
    expect(failure.code).toBeUndefined();
    expect(failure.surfaced).toBe(`${path.relative(REPO_ROOT, client)}:154`);
    expect(formatResult(resultOf('03-shim', summary))).not.toMatch(/your code in the stack: \S*client\.ts/);
  });

  test("a wrong rootfs is blamed on rootfs, not on run.ts where runc's error is thrown; --verbose says it once", () => {
    const summary = new ChapterSummary(findChapter('01'), { targetDir: tree });
    const run = path.join(tree, '01-bundle/run.ts');
    const inRun = regionLine(run, 'run').start + 2;
    const stack = `RuntimeError: runc failed\n    at runContainer (${run}:${inRun}:11)\n    at ${path.join(REPO_ROOT, 'test/01-bundle.test.ts')}:190:5`;
    summary.add(failed(['the rootfs', 'has a static busybox, an applet link per command, the usual folders and users'], { name: 'AssertionError', message: 'expected "/bin/sh" to be a link to busybox' }));
    for (let i = 0; i < 10; i++) summary.add(failed(['a container, seen from inside', `check ${i}`], { name: 'RuntimeError', message: 'runc failed: exec: "sh": no such file', stack }));
    const [own, ...endToEnd] = summary.failures;
    expect(own.exercise?.id).toBe('01-bundle/rootfs');
    for (const failure of endToEnd) {
      expect(failure.exercise?.id, failure.test).toBe('01-bundle/rootfs');
      expect(failure.code).toBe(`${path.relative(REPO_ROOT, run)}:${inRun}`);
    }
    const text = formatResult(resultOf('01-bundle', summary), { verbose: true });
    expect(text.match(/→ edit /g)).toHaveLength(2); // the rootfs check's own, and once for the ten alike
    expect(text.match(/the same place as above/g)).toHaveLength(9);
  });
});

describe('2b. errors the learner\'s code throws, in the learner\'s words', () => {
  const tree = scratchTree('thrown', ['02-lifecycle']);

  test('JSON.parse of nothing in `state` is a wrong result at the state exercise, not "your file does not load"', () => {
    const summary = new ChapterSummary(findChapter('02'), { targetDir: tree });
    const runtime = path.join(tree, '02-lifecycle/runtime.ts');
    const inState = regionLine(runtime, 'state').start + 1;
    const failure = summary.add(
      failed(['each method alone, the rest done with runc itself', 'state: parses `runc state` of a container runc created'], {
        name: 'SyntaxError',
        message: '"undefined" is not valid JSON',
        stack: `SyntaxError: "undefined" is not valid JSON\n    at JSON.parse (<anonymous>)\n    at OciRuntime.state (${runtime}:${inState}:17)\n    at ${path.join(REPO_ROOT, 'test/02-lifecycle.test.ts')}:120:5`,
      }),
    );
    expect(failure.kind, 'a wrong result, not a file that does not load').toBe('wrong-result');
    expect(failure.exercise?.id).toBe('02-lifecycle/state');
  });

  test('an error thrown outside any check (in an event handler of the learner\'s) points at the exercise it came from', () => {
    const summary = new ChapterSummary(findChapter('02'), { targetDir: tree });
    const socket = path.join(tree, '02-lifecycle/console-socket.ts');
    const inRegion = regionLine(socket, 'console-socket').start + 2;
    const events: CheckEvent[] = [
      { type: 'module', file: path.join(REPO_ROOT, 'test/02-lifecycle.test.ts'), state: 'failed', durationMs: 1, errors: [] },
      { type: 'test', file: path.join(REPO_ROOT, 'test/02-lifecycle.test.ts'), titles: ['x'], state: 'passed', durationMs: 1, errors: [] },
      { type: 'end', reason: 'failed', errors: [{ name: 'TypeError', message: "Cannot read properties of null (reading 'fds')", stack: `TypeError: Cannot read properties of null (reading 'fds')\n    at Socket.<anonymous> (${socket}:${inRegion}:30)\n    at Socket.emit (node:events:517:28)` }] },
    ];
    summary.add(failed(['console socket: a check that failed first'], { name: 'AssertionError', message: 'expected 1 to be 2' }));
    const result = summary.finish(events, 1000);
    const outside = result.failures.find((f) => f.test.startsWith('an error outside any check'));
    expect(outside?.message, 'the error in words').toContain("reading 'fds'");
    expect(outside?.exercise?.id, 'the exercise whose code threw it').toBe('02-lifecycle/console-socket');
    expect(outside?.code).toBe(`${path.relative(REPO_ROOT, socket)}:${inRegion}`);
    expect(formatResult(result), 'shown in full, though not the first failure').toMatch(/reading 'fds'[\s\S]*→ edit \S*console-socket\.ts/);
  });
});

describe('3. "→ edit file:line" is found in the learner\'s current file', () => {
  test('code written above the gap moves the line the report gives', () => {
    const tree = path.join(SCRATCH_TREES_DIR, `feedback-lines-${process.pid}`);
    trees.push(tree);
    writeStarters('02-lifecycle', tree); // the starter, every exercise a stub
    const file = path.join(tree, '02-lifecycle/runtime.ts');
    const starterLine = exercisesOf('02-lifecycle').find((e) => e.id === '02-lifecycle/create')!.line;
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.splice(starterLine - 5, 0, ...Array.from({ length: 9 }, (_, i) => `// the learner's own helper, line ${i}`));
    fs.writeFileSync(file, lines.join('\n'));
    const summary = new ChapterSummary(findChapter('02'), { targetDir: tree });
    const failure = summary.add(failed(['create: …'], { name: 'NotImplementedError', message: 'not implemented yet: run the runtime\'s create … (exercise 02-lifecycle/create)' }));
    expect(failure.exercise?.location).toBe(`${path.relative(REPO_ROOT, file)}:${starterLine + 9}`);
    // Without its marker (the learner deleted the comment), the stub's notImplemented("02-lifecycle/create") still finds it.
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^\s*\/\/ EXERCISE\(create\).*\n/m, ''));
    const stubLine = fs.readFileSync(file, 'utf8').split('\n').findIndex((line) => line.includes('notImplemented("02-lifecycle/create"')) + 1;
    expect(summary.add(failed(['create: …'], { message: 'not implemented yet: x (exercise 02-lifecycle/create)' })).exercise?.location).toBe(`${path.relative(REPO_ROOT, file)}:${stubLine}`);
  });
});

describe('8. layers own with an unfinished earlier chapter', () => {
  test('a "not implemented yet" of chapter 02 while checking 03 points at chapters/02-lifecycle and at `layers reference`', () => {
    const summary = new ChapterSummary(findChapter('03'), { targetDir: SOLUTIONS_DIR, ownLayers: true });
    const client = path.join(SOLUTIONS_DIR, '03-shim/client.ts');
    const failure = summary.add(
      failed(['the shim outlives its starter', 'SIGKILL the process that started the shim'], {
        name: 'NotImplementedError',
        message: "not implemented yet: run the runtime's create (exercise 02-lifecycle/create)",
        stack: `NotImplementedError: x\n    at startShim (${client}:118:9)`,
      }),
    );
    const create = exercisesOf('02-lifecycle').find((e) => e.id === '02-lifecycle/create')!;
    expect(failure.exercise?.location).toBe(`chapters/02-lifecycle/runtime.ts:${regionLine(path.join(CHAPTERS_DIR, '02-lifecycle/runtime.ts'), 'create').start}`);
    expect(create.file).toBe('runtime.ts');
    expect(failure.note).toMatch(/layers reference/);
    const text = formatResult(resultOf('03-shim', summary));
    expect(text).toMatch(/→ edit chapters\/02-lifecycle\/runtime\.ts:\d+ .*hint 02 create/);
    expect(text).toContain('./workshop layers reference');
    expect(text).not.toMatch(/03-shim\/client\.ts/);
  });
});

describe('4. every exercise has checks of its own that a save runs first', () => {
  /** A test file's checks, read from its source: each one's titles (describes', then its own) and its full name as vitest -t sees it. */
  function checkNames(file: string): { name: string; titles: string[] }[] {
    const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const names: { name: string; titles: string[] }[] = [];
    const visit = (node: ts.Node, chain: string[]) => {
      if (ts.isCallExpression(node)) {
        const callee = node.expression.getText(source);
        const title = node.arguments[0];
        // test(...), describe(...), test.each(...)(...), and a file's own wrappers (agentTest).
        if (/^(test|it|describe|\w+Test)(\.\w+)*$/.test(callee) && title && (ts.isStringLiteral(title) || ts.isNoSubstitutionTemplateLiteral(title) || ts.isTemplateExpression(title))) {
          const text = ts.isTemplateExpression(title) ? title.getText(source).slice(1, -1) : title.text;
          const next = [...chain, text];
          if (!callee.startsWith('describe')) names.push({ name: [path.relative(REPO_ROOT, file), ...next].join(' '), titles: next });
          ts.forEachChild(node, (child) => visit(child, next));
          return;
        }
      }
      ts.forEachChild(node, (child) => visit(child, chain));
    };
    visit(source, []);
    return names;
  }

  test.each(availableChapters().map((chapter) => [chapter.folder, chapter] as const))('%s: a check titled after each exercise (its name or a function holding it), for the quick first verdict and the blame', (_folder, chapter) => {
    const names = checkNames(testFile(chapter));
    const without = exercisesOf(chapter.folder).filter((exercise) => {
      const pattern = new RegExp(checksAboutFiles([path.join(SOLUTIONS_DIR, chapter.folder, exercise.file)])!);
      return !names.some(({ name, titles }) => pattern.test(name) && exerciseNamedBy(titles, chapter.folder, SOLUTIONS_DIR) === exercise.id.split('/')[1]);
    });
    expect(without.map((e) => `${e.id} (${e.file}): no check's title starts with "${e.id.split('/')[1]}:" or a function holding it`), 'exercises a save cannot check first').toEqual([]);
  });
});

describe('9. watch mode and clean', () => {
  test('a change in any chapter folder is seen; under layers own the current chapter is checked again too', () => {
    const tree = scratchTree('watch', ['00-setup', '01-bundle', '02-lifecycle']);
    const chapters = ['00', '01', '02'].map(findChapter);
    const watch = new ChapterWatch(tree, chapters);
    expect(watch.changes()).toEqual([]);
    const file = path.join(tree, '01-bundle/rootfs.ts');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(watch.changes().map((c) => c.folder)).toEqual(['01-bundle']);
    expect(watch.changes()).toEqual([]);
    const [c01, c02] = [findChapter('01'), findChapter('02')];
    expect(chaptersToCheck([c01], c02, true).map((c) => c.folder)).toEqual(['01-bundle', '02-lifecycle']);
    expect(chaptersToCheck([c01], c02, false).map((c) => c.folder)).toEqual(['01-bundle']);
    expect(chaptersToCheck([c02], c02, true).map((c) => c.folder)).toEqual(['02-lifecycle']);
  });

  test('after a save, the checks about the saved exercises are picked first (by their titles)', () => {
    const pattern = new RegExp(checksAboutFiles([path.join(SOLUTIONS_DIR, '00-setup/namespaces.ts')])!);
    expect('test/00-setup.test.ts reading /proc/PID/ns compareNamespaces looks at every type of both processes').toMatch(pattern);
    expect('test/00-setup.test.ts reading /proc/PID/ns readNamespaces lists every namespace of a process').toMatch(pattern);
    expect('test/00-setup.test.ts the machine doctor: every requirement is met, or named with its fix').not.toMatch(pattern);
    const runtime = new RegExp(checksAboutFiles([path.join(SOLUTIONS_DIR, '02-lifecycle/runtime.ts')])!);
    expect('test/02-lifecycle.test.ts each method alone, the rest done with runc itself create: the container exists').toMatch(runtime);
    expect('test/02-lifecycle.test.ts each method alone, the rest done with runc itself console socket: the PTY master').not.toMatch(runtime);
    expect('test/01-bundle.test.ts runContainer, on a bundle the check makes itself returns stdout, stderr and the exit code').toMatch(new RegExp(checksAboutFiles([path.join(SOLUTIONS_DIR, '01-bundle/run.ts')])!));
    expect(checksAboutFiles([path.join(SOLUTIONS_DIR, '03-shim/client.ts')]), 'a file without exercises').toBeUndefined();
  });

  test('the watch mode\'s vitest, kept up between runs, reads each saved file afresh, sooner than a one-shot run; closing it leaves nothing', async () => {
    const tree = scratchTree('server', ['00-setup']);
    const file = path.join(tree, '00-setup/namespaces.ts');
    const reference = fs.readFileSync(file, 'utf8');
    const server = new CheckServer(tree, false);
    const compareNs = (label: string) => runChecks([findChapter('00')], { targetDir: tree, server, testNamePattern: 'compareNamespaces' }).then(([result]) => ({ label, result }));
    try {
      await server.start();
      const first = await compareNs('reference');
      expect(first.result.failed, 'the reference passes').toBe(0);
      expect(first.result.passed, 'the compareNamespaces checks ran').toBeGreaterThan(0);
      // A save: the stub replaces the answer. The server must not serve the module it read before.
      writeStarters('00-setup', tree, (id) => id === '00-setup/compare-ns');
      const stubbed = await compareNs('stub');
      expect(stubbed.result.failures[0]?.message, 'after saving the stub').toMatch(/not implemented yet/);
      fs.writeFileSync(file, reference);
      const started = Date.now();
      const again = await compareNs('reference again');
      const warmMs = Date.now() - started;
      expect(again.result.failed, 'after saving the answer back').toBe(0);
      const oneShotStarted = Date.now();
      await runChecks([findChapter('00')], { targetDir: tree, testNamePattern: 'compareNamespaces' });
      const oneShotMs = Date.now() - oneShotStarted;
      expect(warmMs, `a warm run (${warmMs} ms) is quicker than a one-shot vitest run (${oneShotMs} ms)`).toBeLessThan(oneShotMs);
    } finally {
      server.close();
    }
    // Closed, it ends with its workers: nothing of it is left running.
    const pgid = server.pgid;
    const gone = async () => {
      for (let i = 0; i < scaled(100); i++) {
        try {
          process.kill(-pgid, 0);
        } catch {
          return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return false;
    };
    expect(await gone(), 'the server and its workers ended within 10 s of close()').toBe(true);
  }, scaled(90_000));

  test('q while checking stops vitest and all it started: no process, no run folder, no cgroup left', async () => {
    setProgress({ chapters: { '00-setup': { ok: true, passed: 1, failed: 0, at: '' } } }); // current: 01, whose checks make run folders
    // A real terminal for the dashboard (python's pty), so it watches and reads keys.
    const driver = `
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(sys.argv[1], sys.argv[1:], os.environ)
out = b''
def read(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try: out += os.read(fd, 65536)
            except OSError: return
go = sys.stdin.readline()           # the test says when to press q
read(0.2)
os.write(fd, b'q')
t = time.time()
_, status = os.waitpid(pid, 0)
read(0.1)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.stdout.write('\\nEXIT %d AFTER %.1f\\n' % (os.waitstatus_to_exitcode(status), time.time() - t))
`;
    const child = spawn('python3', ['-c', driver, process.execPath, 'node_modules/tsx/dist/cli.mjs', 'lib/cli/main.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, WORKSHOP_HOME: home, NO_COLOR: '1', COLUMNS: '160', LINES: '50' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    // Wait until one of the dashboard's checks has made its run folder on the host.
    const ours = await runFoldersOf(child.pid!);
    expect(ours.length, 'a run folder of the dashboard\'s check appeared').toBeGreaterThan(0);
    child.stdin.write('go\n');
    await exited;
    expect(output).toMatch(/EXIT 0 AFTER/);
    expect(output, 'q came while the check ran').toContain('stopping the check in progress');
    expect(Number(/AFTER ([\d.]+)/.exec(output)![1]), 's from q to the end').toBeLessThan(scaled(15));
    for (const runId of ours) {
      expect(fs.existsSync(path.join(RUNS_DIR, runId)), `run folder ${runId}`).toBe(false);
      expect(fs.existsSync(path.join(RUN_STATE_DIR, runId)), `run state ${runId}`).toBe(false);
      expect(cgroupDirs(`${CGROUP_PARENT}/${runId}`), `cgroups of ${runId}`).toEqual([]);
    }
    const leftover = fs.readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && fs.existsSync(`/proc/${pid}/environ`) && (() => {
      try {
        return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`WORKSHOP_HOME=${home}\0`) && /vitest|check-server/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        return false;
      }
    })());
    expect(leftover, 'vitest processes of the dashboard still running').toEqual([]);
  }, scaled(120_000));

  test('Ctrl-C during `check` stops vitest and all it started, and says so', async () => {
    setProgress({});
    // As ./workshop starts it (node --import tsx): tsx's CLI would SIGKILL it 30 ms after a Ctrl-C it is slow to answer.
    const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'check', '01'], {
      cwd: REPO_ROOT,
      env: { ...process.env, WORKSHOP_HOME: home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    const ours = await runFoldersOf(child.pid!);
    expect(ours.length, 'a run folder of the check appeared').toBeGreaterThan(0);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(output).toMatch(/checks stopped; nothing they made is left on the host/);
    for (const runId of ours) {
      expect(fs.existsSync(path.join(RUNS_DIR, runId)), `run folder ${runId}`).toBe(false);
      expect(cgroupDirs(`${CGROUP_PARENT}/${runId}`), `cgroups of ${runId}`).toEqual([]);
    }
  }, scaled(120_000));

  test('clean does not end a check running elsewhere without saying so: it names it and wants --force', async () => {
    // A run folder like a check's, owned by a live process (a stand-in for a check in another terminal).
    const owner = spawn('sleep', ['60'], { stdio: 'ignore' });
    const runId = `cmwfeed${process.pid}`;
    const dir = path.join(RUNS_DIR, runId);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'owner.pid'), String(owner.pid));
    try {
      const { code, stdout } = await workshop('clean');
      expect(code).toBe(1);
      expect(stdout).toMatch(new RegExp(`still running[\\s\\S]*run ${runId}: pid \\d+`));
      expect(stdout).toMatch(/--force/);
      expect(fs.existsSync(dir), 'the live run is left alone').toBe(true);
    } finally {
      owner.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('10. smaller things', () => {
  test('reset --yes keeps a copy of the learner\'s work and says where', async () => {
    const file = path.join(CHAPTERS_DIR, '00-setup/namespaces.ts');
    const original = fs.readFileSync(file, 'utf8');
    try {
      fs.writeFileSync(file, `${original}\n// my own work, an afternoon of it\n`);
      const { code, stdout } = await workshop('reset', '00', '--yes');
      expect(code).toBe(0);
      const kept = /your version is kept in (\S+)/.exec(stdout)?.[1];
      expect(kept, stdout).toBeDefined();
      const backup = path.resolve(REPO_ROOT, kept!, 'namespaces.ts');
      expect(fs.readFileSync(backup, 'utf8')).toContain('an afternoon of it');
      expect(backup.startsWith(home + path.sep), 'the backup is in the learner\'s .workshop').toBe(true);
      expect(fs.readFileSync(file, 'utf8')).not.toContain('an afternoon of it');
    } finally {
      fs.writeFileSync(file, original);
    }
  }, scaled(60_000));

  test('hint on a finished chapter says so instead of cycling the first exercise; the footer lists only the others', async () => {
    setProgress({ chapters: { '01-bundle': { ok: true, passed: 23, failed: 0, at: '' } } });
    const finished = await workshop('hint', '01');
    expect(finished.stdout).toMatch(/01-bundle passes: every exercise is done/);
    expect(finished.stdout).not.toMatch(/hint 1\//);
    expect(JSON.parse(fs.readFileSync(path.join(home, 'progress.json'), 'utf8')).hintsShown).toEqual({});
    setProgress({});
    const one = await workshop('hint', '01', 'rootfs');
    const footer = /the other exercises: (.+)\)/.exec(one.stdout)?.[1] ?? '';
    expect(footer).toMatch(/config-process/);
    expect(footer.split(', ')).not.toContain('rootfs');
  }, scaled(60_000));

  test('a 160-column report never breaks "(exercise 01-bundle/rootfs)"', () => {
    const task = exercisesOf('01-bundle').find((e) => e.id === '01-bundle/rootfs')!.task;
    const result: ChapterResult = {
      chapter: '01-bundle', target: '', passed: 0, failed: 1, skipped: 0, durationMs: 1, ok: false,
      failures: [{ test: 'the rootfs › has a static busybox, an applet link per command, the usual folders and users', message: `NotImplementedError: not implemented yet: ${task} (exercise 01-bundle/rootfs)`, kind: 'not-implemented', exercise: { id: '01-bundle/rootfs', location: 'chapters/01-bundle/rootfs.ts:40' } }],
    };
    const lines = formatResult(result, { width: 160 }).split('\n');
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(160);
    expect(lines.some((line) => line.includes('(exercise 01-bundle/rootfs)'))).toBe(true);
  });

  test('a wrong result shows what the check expected and what it got, in the report itself', () => {
    const summary = new ChapterSummary(findChapter('00'), { targetDir: SOLUTIONS_DIR });
    summary.add(
      failed(['reading /proc/PID/ns', 'compareNamespaces: a process made with `unshare --uts --ipc` shares all but uts and ipc'], {
        name: 'AssertionError',
        message: 'expected [ \'cgroup\', \'ipc\', …(6) ] to deeply equal [ \'cgroup\', \'mnt\', …(5) ]',
        diff: "- Expected\n+ Received\n\n  [\n    \"cgroup\",\n+   \"ipc\",\n    \"mnt\",\n  ]",
        stack: `AssertionError: x\n    at ${path.join(REPO_ROOT, 'test/00-setup.test.ts')}:78:5`,
      }),
    );
    const text = formatResult(resultOf('00-setup', summary));
    expect(text).toMatch(/what the check expected \(-\) and what it got \(\+\):\n\s+- Expected\n\s+\+ Received/);
    expect(text).toContain('+   "ipc",');
    expect(text).toMatch(/→ edit solutions\/00-setup\/namespaces\.ts:\d+ +\(exercise compare-ns: this check is about it/);
  });
});
