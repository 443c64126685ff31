/**
 * The `workshop` command. `./workshop` (or `npm start`) opens the dashboard; `./workshop
 * <command>` (or `npm run workshop -- <command>`) runs the others. Every command reads the
 * chapter list from lib/manifest.ts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { exercisesOf, outdatedStarters, writeStarters } from '../authoring/starters.ts';
import { startBook } from '../book/server.ts';
import { CheckServer } from '../checks/check-server.ts';
import { CheckCancelled, runChecks, type ChapterResult } from '../checks/runner.ts';
import { runDoctor } from '../doctor.ts';
import { removeStaleRuns } from '../host/hygiene.ts';
import { workshopNetworkLeftovers } from '../host/networks.ts';
import { availableChapters, CHAPTERS, findChapter, type ChapterInfo } from '../manifest.ts';
import { REPO_ROOT, targetDir, WORKSHOP_PREFIX, WORKSHOP_STATE_DIR, type Target } from '../paths.ts';
import { vmTest } from '../vm/vm-test.ts';
import { openDashboard, type CheckHooks } from './dashboard.ts';
import { liveRuns } from './live-runs.ts';
import { checkAfterSave } from './watch.ts';
import { loadProgress, recordResults, saveProgress } from './progress.ts';
import { bold, dim, formatResult, green, red, summaryLine, yellow } from './report.ts';

const USAGE = `usage: ./workshop                     open the workshop (dashboard; watches your files on a terminal)
       ./workshop <command>           (or: npm run workshop -- <command>)

commands:
  list                               the chapters and your progress
  doctor                             can this machine run the workshop? (each problem with its fix)
  check <NN...|all> [--target chapters|solutions] [--json] [--junit FILE] [--verbose]
                                     run chapters' checks against your code (or the reference)
  hint <NN> [exercise]               the next hint for a chapter's exercises
  reset <NN> [--yes]                 restore a chapter's starter files (your edits are kept in .workshop/backups/)
  layers <reference|own>             later chapters build on the reference (default) or your own code
  book [--port 4000] [--host 127.0.0.1]
                                     the lessons as a website
  clean [--force]                    remove every container, mount, cgroup and state dir of the workshop
                                     (--force: even a check still running in another terminal)
authoring:
  author [--check]                   regenerate chapters/ starters from solutions/ (--check: only compare)
  mutate [NN...] [--full]            mutation testing of the exercise regions: list the mutants no check rejects
  selftest                           type-check and run the whole test suite (what CI runs)
  vm-test [--rebuild] [--accel kvm|tcg] [--slow N] [--timeout MIN] [--chapter NN] [--keep]
                                     boot a Debian 12 guest like the workshop VM, run doctor + check inside (not in CI)`;

class UsageError extends Error {}

function chaptersFor(name: string | undefined): ChapterInfo[] {
  if (!name) throw new UsageError('which chapter? e.g. `check 01` or `check all`');
  return name === 'all' ? availableChapters() : [findChapter(name)];
}

async function check(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      target: { type: 'string', default: 'chapters' },
      json: { type: 'boolean' },
      junit: { type: 'string' },
      verbose: { type: 'boolean' },
    },
  });
  if (values.target !== 'chapters' && values.target !== 'solutions') {
    throw new UsageError(`--target ${values.target}: use chapters (your code) or solutions (the reference)`);
  }
  const target = values.target as Target;
  // `check 05 06`: several chapters in one run (an instructor's selection).
  const chapters = positionals.length > 1 ? positionals.map((name) => findChapter(name)) : chaptersFor(positionals[0]);
  // Ctrl-C stops the checks and everything they started (vitest runs in its own process group).
  const stop = new AbortController();
  const interrupt = () => {
    console.error(dim('stopping the checks and removing what they made...'));
    stop.abort();
  };
  process.once('SIGINT', interrupt);
  let results: ChapterResult[];
  const told = new Set<string>();
  try {
    results = await runChecks(chapters, {
      targetDir: targetDir(target),
      ownLayers: loadProgress().ownLayers,
      junitFile: values.junit,
      onProgress: values.json ? undefined : (line) => console.error(dim(line)),
      // The first verdict as soon as it is known; the full report follows when every check has run.
      onFailure: values.json
        ? undefined
        : (chapter, failure) => {
            if (told.has(chapter)) return;
            told.add(chapter);
            console.error(`${red('✗')} ${dim(`${chapter} › ${failure.test}: ${failure.message.split('\n')[0].slice(0, 160)} (the other checks still run...)`)}`);
          },
      signal: stop.signal,
    });
  } catch (error) {
    if (error instanceof CheckCancelled) {
      console.error('checks stopped; nothing they made is left on the host');
      return 130;
    }
    throw error;
  } finally {
    process.removeListener('SIGINT', interrupt);
  }
  if (target === 'chapters') recordResults(results);
  if (values.json) {
    for (const result of results) console.log(JSON.stringify(result));
  } else {
    for (const result of results) console.log(formatResult(result, { verbose: values.verbose }));
    console.log(summaryLine(results));
    if (values.junit) console.log(dim(`JUnit report: ${path.resolve(values.junit)}`));
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

async function doctor(): Promise<number> {
  const checks = await runDoctor();
  for (const c of checks) {
    console.log(`${c.ok ? green('✓') : red('✗')} ${c.name.padEnd(22)} ${c.detail}`);
    if (c.fix) console.log(`  ${yellow('fix:')} ${c.fix}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  console.log(failed ? red(`${failed} problem(s): fix them, then run doctor again`) : green('this machine can run the workshop'));
  return failed ? 1 : 0;
}

function list(): number {
  const progress = loadProgress();
  for (const chapter of CHAPTERS) {
    const state = progress.chapters[chapter.folder];
    const available = availableChapters().includes(chapter);
    const mark = !available ? ' ' : state?.ok ? green('✓') : state ? red('✗') : '·';
    const score = !available ? dim('(coming)') : state ? `${state.passed}/${state.passed + state.failed} checks` : dim('not checked yet');
    console.log(`${mark} ${chapter.number}  ${chapter.title.padEnd(58)} ${score}`);
  }
  console.log(dim(`layers: ${progress.ownLayers ? 'your own earlier chapters' : 'the reference solutions'} (change with: layers own|reference)`));
  return 0;
}

/** Hints come one at a time: each call shows one more, for the first unfinished exercise. */
function hint(args: string[]): number {
  const chapter = chaptersFor(args[0])[0];
  // In the order the manifest lists them: the order the checks meet them.
  const order = Object.keys(chapter.hints);
  const exercises = exercisesOf(chapter.folder).sort((a, b) => order.indexOf(a.id.split('/')[1]) - order.indexOf(b.id.split('/')[1]));
  const name = args[1];
  if (!name && loadProgress().chapters[chapter.folder]?.ok) {
    // Nothing left to hint at: say so, rather than cycle through the first exercise's hints.
    console.log(`${chapter.folder} passes: every exercise is done. For one exercise's hints anyway: ./workshop hint ${chapter.number} <exercise> (${exercises.map((e) => e.id.split('/')[1]).join(', ')})`);
    return 0;
  }
  const chosen = name ? exercises.find((e) => e.id.endsWith(`/${name}`)) : firstUnfinished(chapter) ?? exercises[0];
  if (!chosen) throw new UsageError(`chapter ${chapter.folder} has no exercise "${name}"; it has: ${exercises.map((e) => e.id.split('/')[1]).join(', ')}`);
  const short = chosen.id.split('/')[1];
  const hints = chapter.hints[short] ?? [];
  const progress = loadProgress();
  const shown = Math.min((progress.hintsShown[chosen.id] ?? 0) + 1, hints.length);
  progress.hintsShown[chosen.id] = shown;
  saveProgress(progress);
  console.log(`${bold(`${chapter.folder} · exercise ${short}`)}  (chapters/${chapter.folder}/${chosen.file}:${chosen.line})`);
  console.log(`  task: ${chosen.task}`);
  hints.slice(0, shown).forEach((text, i) => console.log(`  hint ${i + 1}/${hints.length}: ${text}`));
  const others = exercises.filter((e) => e.id !== chosen.id).map((e) => e.id.split('/')[1]);
  if (shown < hints.length) console.log(dim(`  (run hint again for the next one${others.length ? `; the other exercises: ${others.join(', ')}` : ''})`));
  else console.log(dim(`  the reference is solutions/${chapter.folder}/${chosen.file} -- try without it first`));
  return 0;
}

/** The exercise the last check complained about, if it was this chapter. */
function firstUnfinished(chapter: ChapterInfo) {
  const state = loadProgress().chapters[chapter.folder];
  const id = state?.firstExercise ?? /\(exercise ([\w/-]+)\)/.exec(state?.firstFailure ?? '')?.[1];
  return exercisesOf(chapter.folder).find((e) => e.id === id);
}

async function reset(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { yes: { type: 'boolean' } } });
  const chapter = chaptersFor(positionals[0])[0];
  const changed = outdatedStarters(chapter.folder);
  if (changed.length === 0) {
    console.log(`chapters/${chapter.folder} is already the starter`);
    return 0;
  }
  console.log(`reset ${chapter.folder}: your changes to these files will be lost:\n  ${changed.join('\n  ')}`);
  if (!values.yes) {
    if (!process.stdin.isTTY) throw new UsageError('not a terminal: confirm with --yes');
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    const answer = await rl.question('type "reset" to confirm: ');
    rl.close();
    if (answer.trim() !== 'reset') {
      console.log('nothing changed');
      return 1;
    }
  }
  // Keep the learner's work: a reset is one keystroke, a lost afternoon is not.
  const backup = path.join(WORKSHOP_STATE_DIR, 'backups', `${chapter.folder}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  for (const file of changed) {
    const source = path.join(REPO_ROOT, file);
    if (!fs.existsSync(source)) continue;
    const copy = path.join(backup, path.relative(path.join('chapters', chapter.folder), file));
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.copyFileSync(source, copy);
  }
  const written = writeStarters(chapter.folder);
  const progress = loadProgress();
  delete progress.chapters[chapter.folder];
  saveProgress(progress);
  console.log(green(`restored ${written.length} file(s)`));
  if (fs.existsSync(backup)) console.log(`your version is kept in ${path.relative(process.cwd(), backup) || backup}`);
  return 0;
}

function layers(args: string[]): number {
  const choice = args[0];
  if (choice !== 'own' && choice !== 'reference') throw new UsageError('layers own (build on your own earlier chapters) or layers reference (default)');
  const progress = loadProgress();
  progress.ownLayers = choice === 'own';
  saveProgress(progress);
  console.log(progress.ownLayers ? 'later chapters now import your own earlier chapters (#lower/... -> chapters/)' : 'later chapters now import the reference solutions (#lower/... -> solutions/)');
  return 0;
}

async function book(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { port: { type: 'string', default: '4000' }, host: { type: 'string', default: '127.0.0.1' } } });
  const server = await startBook(Number(values.port), values.host);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : values.port;
  console.log(`the book: http://localhost:${port}/   (Ctrl-C to stop)`);
  await new Promise(() => {}); // serve until interrupted
  return 0;
}

async function clean(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { force: { type: 'boolean' } } });
  const live = liveRuns();
  if (live.length && !values.force) {
    // A check running in another terminal would fail mid-way, its containers gone: never without saying so.
    console.log(yellow(`${live.length === 1 ? 'a check is' : `${live.length} checks are`} still running on this machine:`));
    for (const run of live) console.log(`  run ${run.id}: pid ${run.pid} (${run.command})`);
    let proceed = false;
    if (process.stdin.isTTY) {
      const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
      proceed = /^y(es)?$/i.test((await rl.question('stop it and clean anyway? [y/N] ')).trim());
      rl.close();
    }
    if (!proceed) {
      console.log('nothing removed: wait for it to finish (it tidies up after itself), or stop it and clean anyway: ./workshop clean --force');
      return 1;
    }
  } else if (live.length) {
    console.log(yellow(`stopping ${live.length} check run(s) still in progress: ${live.map((run) => `pid ${run.pid}`).join(', ')}`));
  }
  const removed = await removeStaleRuns({ all: true });
  for (const item of removed) console.log(`removed ${item}`);
  console.log(removed.length ? green(`clean: removed ${removed.length} object(s)`) : 'clean: nothing to remove');
  return 0;
}

function author(args: string[]): number {
  const only = args.includes('--check');
  const chapters = availableChapters();
  if (only) {
    const stale = chapters.flatMap((c) => outdatedStarters(c.folder));
    if (stale.length) {
      console.log(`out of date with solutions/:\n  ${stale.join('\n  ')}\nrun: ./workshop author`);
      return 1;
    }
    console.log('chapters/ starters match solutions/');
    return 0;
  }
  const written = chapters.flatMap((c) => writeStarters(c.folder));
  console.log(written.length ? `wrote ${written.join(', ')}` : 'starters already up to date');
  return 0;
}

/** What CI runs: the type check, then the whole vitest suite, ending on "Tests: N passed, N failed". */
async function selftest(args: string[]): Promise<number> {
  const runNode = (script: string, scriptArgs: string[]) =>
    new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, script), ...scriptArgs], { cwd: REPO_ROOT, stdio: 'inherit' });
      child.on('exit', (code) => resolve(code ?? 1));
    });
  console.log(bold('type check (tsc --noEmit)'));
  if ((await runNode('node_modules/typescript/bin/tsc', ['--noEmit', '-p', '.'])) !== 0) return 1;
  console.log(bold('test suite (vitest)'));
  const code = await runNode('node_modules/vitest/vitest.mjs', ['run', '--reporter=default', '--reporter=./lib/harness/summary-reporter.ts', ...args]);
  // Every check cleans up after itself; this proves it for what outlives a process: networks.
  const left = process.getuid?.() === 0 ? workshopNetworkLeftovers(WORKSHOP_PREFIX) : [];
  console.log(bold('host hygiene after the suite'));
  if (left.length > 0) {
    console.log(`left on the host by the suite (remove with ./workshop clean):\n  ${left.join('\n  ')}`);
    return 1;
  }
  console.log('no bridge, lease folder or iptables rule of a workshop network is left');
  return code;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case undefined:
    case 'start':
      return openDashboard({ check: runDashboardCheck });
    case 'list':
      return list();
    case 'doctor':
      return doctor();
    case 'check':
      return check(args);
    case 'hint':
      return hint(args);
    case 'reset':
      return reset(args);
    case 'layers':
      return layers(args);
    case 'book':
      return book(args);
    case 'clean':
      return clean(args);
    case 'mutate':
      return (await import('../authoring/mutate-command.ts')).mutateCommand(args);
    case 'author':
      return author(args);
    case 'selftest':
      return selftest(args);
    case 'vm-test':
      return vmTest(args);
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** The watch mode's vitest, kept up between its checks (lib/checks/check-server.ts); replaced when the layers change. */
let checkServer: CheckServer | undefined;

function warmServer(target: string, ownLayers: boolean): CheckServer {
  if (!checkServer?.alive || checkServer.targetDir !== target || checkServer.ownLayers !== ownLayers) {
    checkServer?.close();
    checkServer = new CheckServer(target, ownLayers);
  }
  return checkServer;
}

async function runDashboardCheck(chapter: ChapterInfo, hooks: CheckHooks = {}): Promise<ChapterResult> {
  const target = targetDir('chapters');
  const ownLayers = loadProgress().ownLayers;
  const options = { targetDir: target, ownLayers, signal: hooks.signal, server: hooks.keepWarm ? warmServer(target, ownLayers) : undefined };
  // After a save: the saved exercises' own checks first (a quick first verdict), then the whole chapter.
  const result = hooks.saved?.length
    ? await checkAfterSave(chapter, hooks.saved, { ...options, onFirstVerdict: (failure) => hooks.onFailure?.(chapter.folder, failure) })
    : (await runChecks([chapter], { ...options, onFailure: hooks.onFailure }))[0];
  recordResults([result]);
  return result;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    if (error instanceof UsageError) console.error(`${red('error:')} ${error.message}\n\n${USAGE}`);
    else console.error(`${red('error:')} ${error.message}`);
    process.exit(2);
  },
);
