/**
 * Run a bundle in the foreground: `runc run` creates the container, starts its process,
 * waits for it and exits with its exit code. Its output comes back on our pipes.
 *
 * runc and crun share the same command line for this, so the runtime is a parameter.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { mountOf } from '#lib/host/mountinfo.ts';
import { HOST_RUN_DIR } from '#lib/paths.ts';
import { scaled } from '#lib/slow.ts';
import { notImplemented } from '#lib/not-implemented.ts';

export type RuntimeName = 'runc' | 'crun';

/** How long a runtime command may take by default: 30 s, times the machine's slow factor (WORKSHOP_SLOW). */
export const DEFAULT_TIMEOUT_MS = scaled(30_000);

export interface RunOptions {
  /** The container id: unique among the runtime's containers under `stateRoot`. */
  id: string;
  runtime?: RuntimeName;
  /** The runtime's state folder (its `--root`); default /run/conman-workshop/<runtime>. */
  stateRoot?: string;
  /** Kill the runtime (and so the container) after this long; default DEFAULT_TIMEOUT_MS (30 s on an ordinary machine). */
  timeoutMs?: number;
}

export interface RunResult {
  /** The container process's exit code; 128 + N when signal N killed it (137 for SIGKILL). */
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The runtime itself failed (bad config, missing binary in the rootfs...): not the container. */
export class RuntimeError extends Error {
  constructor(
    readonly runtime: RuntimeName,
    readonly runtimeMessage: string,
    readonly command: string,
  ) {
    super(`${runtime} failed: ${runtimeMessage}${noexecHint(runtimeMessage, command)}\n  command: ${command}`);
    this.name = 'RuntimeError';
  }
}

/**
 * "permission denied" on exec is most often a rootfs on a `noexec` mount (/run on Debian 12):
 * say so, with the mount, instead of leaving the learner to guess.
 */
function noexecHint(message: string, command: string): string {
  const bundle = /--bundle (\S+)/.exec(command)?.[1];
  if (!bundle || !/permission denied/i.test(message)) return '';
  try {
    const mount = mountOf(path.join(bundle, 'rootfs'));
    if (!mount.mountOptions.split(',').includes('noexec')) return '';
    return ` (the rootfs is on ${mount.mountPoint}, mounted noexec: nothing can be executed from it; keep bundles under /var/lib, e.g. /var/lib/conman-workshop)`;
  } catch {
    return '';
  }
}

export function defaultStateRoot(runtime: RuntimeName): string {
  return path.join(HOST_RUN_DIR, runtime);
}

/**
 * The error lines of a runtime log written with `--log FILE --log-format json`: one JSON
 * object per line, {"level": "error", "msg": "..."} for failures (runc and crun agree).
 */
export async function readRuntimeErrors(logFile: string): Promise<string[]> {
  const text = await fs.readFile(logFile, 'utf8').catch(() => '');
  const errors: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' && entry.msg) errors.push(entry.msg);
    } catch {
      errors.push(line); // not JSON: keep it, it is still the runtime's own words
    }
  }
  return errors;
}

/**
 * `<runtime> --root <stateRoot> --log <bundle>/runtime.log --log-format json run --bundle
 * <bundleDir> <id>`, with stdin closed and stdout/stderr captured. Resolve with the exit
 * code and output; throw a RuntimeError carrying the runtime's own message when the runtime
 * logged an error (the container never ran, or runc failed around it).
 */
export async function runContainer(bundleDir: string, options: RunOptions): Promise<RunResult> {
  const runtime = options.runtime ?? 'runc';
  const stateRoot = options.stateRoot ?? defaultStateRoot(runtime);
  // EXERCISE(run): start the runtime in the foreground, collect the output and the exit code, report runtime errors
  // Hints: execa(file, args, { reject: false, stdin: 'ignore', timeout }) resolves with
  // { exitCode, stdout, stderr } even when the command fails. Remove an old log first:
  // runc appends to it. A runc failure exits with 1, like a container's `exit 1` would:
  // only the log tells them apart.
  throw notImplemented("01-bundle/run", "start the runtime in the foreground, collect the output and the exit code, report runtime errors");
  // END EXERCISE
}
