/**
 * A vitest that stays up between check runs: the watch mode's fast path (lib/checks/check-server.ts
 * starts it and talks to it). A one-shot `vitest run` spends 1.5-3 s of every run before the
 * first check starts: Node and vitest start, the config is bundled, the global set-up sweeps the
 * host for leftovers, the test file and its harness are transformed. Kept up, only the worker
 * process and the checks themselves remain per run, and the first verdict after a save comes
 * that much sooner (bench/feedback.ts measures it).
 *
 * Plain JavaScript: it is started with `node`, whatever runs the dashboard (tsx or a bundle).
 *
 * Protocol: one JSON command per line on stdin, { id, files, testNamePattern?, env };
 * events on the file descriptor WORKSHOP_EVENTS_FD, one JSON line each: the reporter's
 * (./reporter.ts) for the checks, and { type: 'ready' } once started, { type: 'done', id,
 * error? } after each run. stdout and stderr carry vitest's own report, for last-check.log.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const eventsFd = Number(process.env.WORKSHOP_EVENTS_FD);
const send = (event) => fs.writeSync(eventsFd, JSON.stringify(event) + '\n');

const { createVitest } = await import(path.join(repo, 'node_modules/vitest/dist/node.js'));
const vitest = await createVitest('test', {
  root: repo,
  watch: false,
  reporters: ['default', path.join(repo, 'lib/checks/reporter.ts')],
});
await vitest.standalone();

/**
 * The modules vitest transformed and keeps (test files, harness, the learner's code): a file
 * changed since the last run is invalidated, so the next run reads it afresh. vitest's own
 * file watcher is off (watch: false); the dashboard's poll (lib/cli/watch.ts) sees every save.
 */
const seenMtime = new Map();
function invalidateChanged(runStartedAt) {
  for (const project of vitest.projects) {
    for (const environment of Object.values(project.vite.environments)) {
      for (const file of environment.moduleGraph.fileToModulesMap.keys()) {
        let mtime = -1; // a removed file is invalidated too
        try {
          mtime = fs.statSync(file).mtimeMs;
        } catch {}
        const key = `${environment.name}:${file}`;
        if (seenMtime.has(key)) {
          if (seenMtime.get(key) !== mtime) vitest.invalidateFile(file);
        } else if (runStartedAt && mtime >= runStartedAt - 2000) {
          // First read during the run that just ended, and saved about then: which version was
          // read is not known, so the next run reads it again.
          vitest.invalidateFile(file);
          continue;
        }
        seenMtime.set(key, mtime);
      }
    }
  }
}

let queue = Promise.resolve();
async function run({ id, files, testNamePattern, env }) {
  try {
    // The workers are forked per run with this process's environment: the target folder,
    // the layers, the slow factor of this run.
    Object.assign(process.env, env);
    const startedAt = Date.now();
    invalidateChanged();
    if (testNamePattern) vitest.setGlobalTestNamePattern(testNamePattern);
    else vitest.resetGlobalTestNamePattern();
    const specifications = await vitest.globTestSpecifications(files);
    await vitest.runTestSpecifications(specifications, false);
    // What this run read for the first time: the next run compares against it.
    invalidateChanged(startedAt);
    send({ type: 'done', id });
  } catch (error) {
    send({ type: 'done', id, error: String(error?.stack ?? error) });
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let command;
  try {
    command = JSON.parse(line);
  } catch {
    return;
  }
  queue = queue.then(() => run(command));
});
// The dashboard went away (stdin closed): tidy up as a one-shot run would (global teardown).
process.stdin.on('end', () => {
  queue.then(() => vitest.close()).finally(() => process.exit(0));
});
send({ type: 'ready' });
