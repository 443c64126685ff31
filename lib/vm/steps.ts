/**
 * The VM test's long steps: each shows what it is doing and for how long (debootstrap and an
 * emulated guest take minutes, and a silent terminal looks hung), and everything a step starts
 * (a child process, a mount, a temporary folder) is undone if the run fails or is interrupted.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

// ---------------------------------------------------------------------------------------------
// Clean-up: one list, undone in reverse order on failure, Ctrl-C or SIGTERM.
// ---------------------------------------------------------------------------------------------

type Undo = () => void | Promise<void>;
const undoList: { what: string; undo: Undo }[] = [];

/** Registers an undo action; call the returned function once the thing is gone by itself. */
export function onCleanup(what: string, undo: Undo): () => void {
  const entry = { what, undo };
  undoList.push(entry);
  return () => {
    const i = undoList.indexOf(entry);
    if (i >= 0) undoList.splice(i, 1);
  };
}

let cleaning: Promise<void> | undefined;
/** Undoes everything registered; a second caller (the signal handler and a failing step) waits for the same run. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (undoList.length) {
      const { what, undo } = undoList.pop()!;
      try {
        await undo();
      } catch (error) {
        console.error(`vm-test: clean-up of ${what} failed: ${(error as Error).message}`);
      }
    }
  })().finally(() => (cleaning = undefined));
  return cleaning;
}

let interrupted = false;
/** After Ctrl-C the failures that follow (a killed child) are its consequence, not news. */
export function wasInterrupted(): boolean {
  return interrupted;
}

let signalsInstalled = false;
/** Ctrl-C or SIGTERM: undo everything, then exit 130 / 143 like a shell would. */
export function installSignalHandlers(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  let stopping = false;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      if (stopping) return; // a second Ctrl-C while cleaning up: let the clean-up finish
      stopping = true;
      interrupted = true;
      stopTicker();
      console.error(`\nvm-test: ${signal === 'SIGINT' ? 'interrupted' : 'terminated'}; cleaning up`);
      void cleanupAll().finally(() => process.exit(code));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Progress: "▸ debootstrap  2:14  unpacking libc6" redrawn every second on a terminal, a line
// a minute otherwise (a log file gets a heartbeat, not 3600 redraws an hour).
// ---------------------------------------------------------------------------------------------

export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const tty = process.stderr.isTTY === true;
let ticker: NodeJS.Timeout | undefined;
function stopTicker(): void {
  if (ticker) clearInterval(ticker);
  ticker = undefined;
  if (tty) process.stderr.write('\r\u001b[K');
}

/** Measured step durations, in order, for the final report. */
export const timings: { step: string; ms: number }[] = [];

export interface StepControl {
  /** The latest thing the step is doing (e.g. the last line of its child's output). */
  detail(text: string): void;
  /** A line that stays on screen (the redrawn status line moves below it). */
  say(text: string): void;
}

export async function step<T>(label: string, work: (control: StepControl) => Promise<T>): Promise<T> {
  const started = Date.now();
  let detail = '';
  let lastPrinted = started;
  const width = () => (process.stderr.columns ?? 100) - 1;
  const draw = () => {
    const now = Date.now();
    const head = `▸ ${label}  ${formatElapsed(now - started)}`;
    if (tty) process.stderr.write(`\r\u001b[K${`${head}  ${detail}`.slice(0, width())}`);
    else if (now - lastPrinted >= 60_000) {
      lastPrinted = now;
      process.stderr.write(`${head}  ${detail}\n`);
    }
  };
  if (!tty) process.stderr.write(`▸ ${label}\n`);
  ticker = setInterval(draw, 1000);
  draw();
  const control: StepControl = {
    detail(text) {
      detail = text.replace(/\s+/g, ' ').trim();
    },
    say(text) {
      if (tty) process.stderr.write('\r\u001b[K');
      process.stderr.write(`  ${text}\n`);
      draw();
    },
  };
  try {
    const result = await work(control);
    // A step whose children were stopped by Ctrl-C may still "finish"; nothing after it should run.
    if (interrupted) throw new Error('interrupted');
    stopTicker();
    const ms = Date.now() - started;
    timings.push({ step: label, ms });
    process.stderr.write(`✓ ${label}  (${formatElapsed(ms)})\n`);
    return result;
  } catch (error) {
    stopTicker();
    process.stderr.write(`✗ ${label}  (${formatElapsed(Date.now() - started)})\n`);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes: output to a log file (the terminal shows only the last line), each in its own
// process group so that clean-up can stop it and everything it started (dpkg under apt under
// chroot) by that group's id, and nothing else.
// ---------------------------------------------------------------------------------------------

export interface RunOptions {
  log: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  onLine?: (line: string) => void;
  /** Exit codes that are not failures (e2fsck's 1 = "errors corrected"). */
  okCodes?: number[];
}

export async function runLogged(command: string, args: string[], options: RunOptions): Promise<void> {
  fs.appendFileSync(options.log, `\n$ ${command} ${args.join(' ')}\n`);
  const out = fs.createWriteStream(options.log, { flags: 'a' });
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const forget = onCleanup(`${command} (pid ${child.pid})`, () => killGroup(child.pid));
  let partial = '';
  const feed = (chunk: Buffer) => {
    out.write(chunk);
    const lines = (partial + chunk.toString('utf8')).split(/\r?\n|\r/);
    partial = lines.pop() ?? '';
    const last = lines.reverse().find((l) => l.trim() !== '');
    if (last) options.onLine?.(last);
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  forget();
  await new Promise((resolve) => out.end(resolve));
  if (code !== 0 && !(options.okCodes ?? []).includes(code)) {
    const tail = fs.readFileSync(options.log, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
    throw new Error(`${command} ${args.slice(0, 3).join(' ')}… exited with ${code}; the end of ${options.log}:\n${tail}`);
  }
}

/** SIGTERM to a process group, SIGKILL 5 s later if any of it is still there. */
export async function killGroup(pid: number | undefined): Promise<void> {
  if (!pid) return;
  const alive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(-pid, 'SIGTERM');
  for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(-pid, 'SIGKILL');
}
