/**
 * The conman-shim program: `node conman-shim.mjs --id ID --bundle DIR --dir SHIM_DIR
 * [--runtime runc|crun] [--state-root DIR] [--stdin] [--linger-ms N] [--log-file FILE]
 * [--wait-for-start]`.
 *
 * startShim() in client.ts starts it detached (its own session, so a signal to the
 * starter's process group does not reach it), with fd 3 as the handshake pipe.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Shim } from './shim.ts';
import { checkTimerMs } from './timer-range.ts';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    bundle: { type: 'string' },
    dir: { type: 'string' },
    runtime: { type: 'string', default: 'runc' },
    'state-root': { type: 'string' },
    stdin: { type: 'boolean', default: false },
    'linger-ms': { type: 'string', default: String(5 * 60_000) },
    'log-file': { type: 'string' },
    'wait-for-start': { type: 'boolean', default: false },
  },
});
if (!values.id || !values.bundle || !values.dir || !values['state-root']) {
  console.error('usage: conman-shim --id ID --bundle DIR --dir SHIM_DIR --state-root DIR [--runtime runc|crun] [--stdin] [--linger-ms N] [--log-file FILE] [--wait-for-start]');
  process.exit(2);
}
let lingerMs: number;
try {
  lingerMs = checkTimerMs(Number(values['linger-ms']), '--linger-ms');
} catch (error) {
  console.error(`conman-shim: ${(error as Error).message}`);
  process.exit(2);
}

// fd 3 is the handshake pipe when our starter made one.
let handshakeFd: number | undefined;
try {
  fs.fstatSync(3);
  handshakeFd = 3;
} catch {
  handshakeFd = undefined;
}

const shim = new Shim({
  id: values.id,
  bundle: values.bundle,
  dir: values.dir,
  runtime: values.runtime as 'runc' | 'crun',
  stateRoot: values['state-root'],
  stdin: values.stdin,
  lingerMs,
  logFile: values['log-file'],
  handshakeFd,
  waitForStart: values['wait-for-start'],
});
// A shim must outlive everything but SIGKILL: a stray SIGTERM or SIGHUP is not its end.
for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGPIPE'] as const) process.on(signal, () => {});

/** A bug (or an unfinished exercise): say so in shim.log and to a waiting starter, then exit. */
function die(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`conman-shim ${values.id}: ${error instanceof Error ? error.stack : message}`);
  shim.reportFatal(message);
  process.exit(1);
}
process.on('uncaughtException', die);
process.on('unhandledRejection', die);
shim.run().then(() => process.exit(0), die);
