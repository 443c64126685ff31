/**
 * Connecting a session (attach, exec, run -it) to the user's own terminal.
 *
 * With a TTY the local terminal goes into raw mode: every key, Ctrl-C included, goes to the
 * container, whose own terminal does the echo and the line editing. The way out without
 * stopping the container is Docker's detach sequence, Ctrl-P then Ctrl-Q. When the local
 * window changes size (SIGWINCH), the container's terminal is resized to match.
 */
import type { Session, SessionExit } from './session.ts';

const CTRL_P = 0x10;
const CTRL_Q = 0x11;

export interface InteractiveOptions {
  /** Forward our stdin to the process (-i). */
  stdin: boolean;
  /** The process has a terminal (-t): raw mode, resizes. */
  tty: boolean;
}

/** Resolves with the exit, or with undefined when the user detached. */
export async function runInteractive(session: Session, options: InteractiveOptions): Promise<SessionExit | undefined> {
  const local = process.stdin;
  const raw = options.tty && options.stdin && local.isTTY;
  let detach!: () => void;
  const detached = new Promise<undefined>((resolve) => (detach = () => resolve(undefined)));

  session.onOutput((stream, chunk) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk));

  const resize = () => {
    if (process.stdout.isTTY) session.resize(process.stdout.rows, process.stdout.columns);
  };
  if (options.tty) {
    resize();
    process.stdout.on('resize', resize);
  }

  let previous = -1;
  const onInput = (chunk: Buffer) => {
    if (raw) {
      for (const byte of chunk) {
        if (previous === CTRL_P && byte === CTRL_Q) return detach();
        previous = byte;
      }
    }
    session.write(chunk);
  };
  if (options.stdin) {
    if (raw) local.setRawMode(true);
    local.on('data', onInput);
    local.once('end', () => session.endInput());
    local.resume();
  }
  try {
    return await Promise.race([session.exit, detached]);
  } finally {
    if (raw) local.setRawMode(false);
    local.off('data', onInput);
    local.pause();
    process.stdout.off('resize', resize);
    session.close();
  }
}
