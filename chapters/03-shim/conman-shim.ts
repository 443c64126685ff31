/**
 * The conman-shim program, started two ways by client.ts:
 *
 *   node conman-shim.mjs --id ID --bundle DIR --dir SHIM_DIR --state-root DIR
 *       [--runtime runc|crun] [--stdin] [--linger-ms N] [--log-file FILE] [--wait-for-start]
 *     startShim(): a shim for one container, told by its arguments; fd 3 is the handshake pipe.
 *   node conman-shim.mjs --pool POOL_DIR
 *     IdleShim.start(): a pooled shim, told its container later on fd 3 (pooled.ts). POOL_DIR
 *     is not read: it names the pool on the command line, for `ps` and for leak checks.
 *
 * Either way it runs detached (its own session, so a signal to the starter's process group
 * does not reach it).
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { waitForAssignment } from './pooled.ts';
import { Shim, type ShimAssignment } from './shim.ts';
import { checkTimerMs } from './timer-range.ts';

const USAGE = 'usage: conman-shim --id ID --bundle DIR --dir SHIM_DIR --state-root DIR [--runtime runc|crun] [--stdin] [--linger-ms N] [--log-file FILE] [--wait-for-start]\n       conman-shim --pool POOL_DIR';
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
    pool: { type: 'string' },
  },
});

/** The container from the command line, and the handshake on fd 3 (if our starter made one). */
function fromArguments(): { assignment: ShimAssignment; reply?: (message: object) => void } {
  if (!values.id || !values.bundle || !values.dir || !values['state-root']) {
    console.error(USAGE);
    process.exit(2);
  }
  let lingerMs: number;
  try {
    lingerMs = checkTimerMs(Number(values['linger-ms']), '--linger-ms');
  } catch (error) {
    console.error(`conman-shim: ${(error as Error).message}`);
    process.exit(2);
  }
  let handshakeFd: number | undefined;
  try {
    fs.fstatSync(3);
    handshakeFd = 3;
  } catch {
    handshakeFd = undefined;
  }
  return {
    assignment: {
      id: values.id,
      bundle: values.bundle,
      dir: values.dir,
      runtime: values.runtime as 'runc' | 'crun',
      stateRoot: values['state-root'],
      stdin: values.stdin!,
      lingerMs,
      logFile: values['log-file'],
      waitForStart: values['wait-for-start']!,
    },
    reply:
      handshakeFd === undefined
        ? undefined
        : (message) => {
            try {
              fs.writeSync(handshakeFd, JSON.stringify(message) + '\n');
              fs.closeSync(handshakeFd);
            } catch {
              // the starter is gone (killed?): nothing to tell
            }
          },
  };
}

// A shim must outlive everything but SIGKILL: a stray SIGTERM or SIGHUP is not its end.
for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGPIPE'] as const) process.on(signal, () => {});

let shim: Shim | undefined;
/** A bug (or an unfinished exercise): say so in shim.log and to a waiting starter, then exit. */
function die(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`conman-shim ${shim?.options.id ?? '(pooled)'}: ${error instanceof Error ? error.stack : message}`);
  shim?.reportFatal(message);
  process.exit(1);
}
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

const { assignment, reply } = values.pool !== undefined ? await waitForAssignment(values.pool) : fromArguments();
shim = new Shim({ ...assignment, handshake: reply });
shim.run().then(() => process.exit(0), die);
