/**
 * A small disk for the disk-full checks (03, 04): a tmpfs of a few MiB mounted by the test
 * itself, named after the run (its source shows as `<run-id>-<label>` in /proc/mounts) and
 * inside the run's folder, so a crashed run's leftovers are unmounted by the next run's
 * clean-up (lib/host/hygiene.ts). fill() takes every free byte; free() gives them back.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { HostRun } from '../lib/host/hygiene.ts';

export interface SmallDisk {
  dir: string;
  /** Write zeros until ENOSPC: the next write of anyone on this disk fails. */
  fill(): void;
  /** Remove the filler: the space is back. */
  free(): void;
  /** Unmount (lazily: a process may still hold a file open) and remove the mount point. */
  unmount(): void;
}

export function mountSmallDisk(run: HostRun, label: string, size = '4m'): SmallDisk {
  const dir = path.join(run.dir, `${run.id}-${label}`);
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, `${run.id}-${label}`, dir]);
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, 'a');
      try {
        // Big chunks first, then smaller ones: not a byte is left over.
        for (const size of [1 << 16, 4096, 1]) {
          const chunk = Buffer.alloc(size);
          try {
            for (;;) fs.writeSync(fd, chunk);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          }
        }
      } finally {
        fs.closeSync(fd);
      }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } catch {
        // not mounted (any more)
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
