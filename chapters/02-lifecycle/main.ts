/**
 * The lifecycle from the command line, through your OciRuntime:
 *
 *   npx tsx chapters/02-lifecycle/main.ts [--runtime runc|crun] <command> ...
 *
 *   up BUNDLE_DIR ID -- CMD...    build a busybox bundle, create + start it detached (output to
 *                                 BUNDLE_DIR/output.log), print its PID and exit
 *   tty BUNDLE_DIR ID -- CMD...   the same with a terminal, attached to yours until it exits
 *   state ID | ps ID | list | kill ID [SIGNAL] | delete [--force] ID | exec ID -- CMD...
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createBundle, writeConfig } from '#lower/01-bundle/bundle.ts';
import { defaultStateRoot } from '#lower/01-bundle/run.ts';
import { ConsoleSocket } from './console-socket.ts';
import { OciRuntime, type RuntimeName } from './runtime.ts';
import { Terminal } from './terminal.ts';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { runtime: { type: 'string', default: 'runc' }, force: { type: 'boolean' } },
  });
  const runtimeName = values.runtime as RuntimeName;
  const runtime = new OciRuntime({ runtime: runtimeName, stateRoot: defaultStateRoot(runtimeName) });
  const [command, ...rest] = positionals;
  switch (command) {
    case 'up':
    case 'tty': {
      const [bundleArg, id, ...args] = rest;
      if (!bundleArg || !id || args.length === 0) throw new Error(`usage: main.ts ${command} BUNDLE_DIR ID -- CMD...`);
      const bundle = path.resolve(bundleArg);
      const spec = await createBundle(bundle, { args, hostname: id, cgroupsPath: `/conman-workshop/${id}` });
      if (command === 'up') {
        const log = fs.openSync(path.join(bundle, 'output.log'), 'a');
        await runtime.create(id, { bundle, pidFile: path.join(bundle, 'container.pid'), stdio: { stdout: log, stderr: log } });
        fs.closeSync(log);
        await runtime.start(id);
        // The pid file, not `state`: a quick container may already be gone (state says pid 0).
        console.log(fs.readFileSync(path.join(bundle, 'container.pid'), 'utf8').trim());
        return 0;
      }
      spec.process.terminal = true;
      await writeConfig(bundle, spec);
      return attachTerminal(runtime, id, bundle);
    }
    case 'state':
      console.log(JSON.stringify(await runtime.state(rest[0]), null, 2));
      return 0;
    case 'ps':
      console.log((await runtime.ps(rest[0])).join(' '));
      return 0;
    case 'list':
      for (const c of await runtime.list()) console.log(`${c.id}\t${c.status}\t${c.pid}`);
      return 0;
    case 'kill':
      await runtime.kill(rest[0], (rest[1] ?? 'SIGTERM') as NodeJS.Signals);
      return 0;
    case 'delete':
      await runtime.delete(rest[0], { force: values.force });
      return 0;
    case 'exec': {
      const [id, ...args] = rest;
      const result = await runtime.exec(id, { args });
      process.stdout.write(result.stdout + (result.stdout && !result.stdout.endsWith('\n') ? '\n' : ''));
      process.stderr.write(result.stderr);
      return result.exitCode;
    }
    default:
      throw new Error('usage: main.ts [--runtime runc|crun] up|tty|state|ps|list|kill|delete|exec ...');
  }
}

/** create with a console socket, start, and connect our terminal to the container's until it ends. */
async function attachTerminal(runtime: OciRuntime, id: string, bundle: string): Promise<number> {
  const socket = await ConsoleSocket.listen(path.join(bundle, 'console.sock'));
  try {
    await runtime.create(id, { bundle, consoleSocket: socket.path });
    const terminal = new Terminal(await socket.receiveMaster());
    terminal.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    await runtime.start(id);
    if (process.stdin.isTTY) process.stdin.setRawMode(true);
    process.stdin.on('data', (chunk: Buffer) => terminal.write(chunk.toString()));
    await terminal.ended;
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    process.stdin.pause();
    return 0;
  } finally {
    socket.close();
    await runtime.delete(id, { force: true }).catch(() => {});
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message);
    process.exit(125);
  },
);
