/**
 * One manager per root: an exclusive flock(2) on `<root>/conman.lock` and
 * `<runRoot>/conman.lock`, taken before recovery and held for the manager's life. Two
 * managers on the same records would each restart the other's containers and delete the
 * other's socket. Checking "is a conmand running?" and then starting is a race (both check,
 * both start); a lock is not: the kernel gives it to one process, and takes it back when that
 * process dies, even by SIGKILL, so a stale lock cannot exist. podman and containerd hold
 * theirs the same way.
 *
 * Node has no flock: one call through koffi, as chapter 03's syscalls.ts does for prctl. The
 * holder's PID comes from /proc/locks, which works even on a full disk (nothing is written).
 */
import fs from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const flock = libc.func('int flock(int fd, int operation)');
const errnoLocation = libc.func('int *__errno_location()');
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;
const EINTR = 4;

export const LOCK_FILE = 'conman.lock';

export class RootLockedError extends Error {
  constructor(
    readonly lockFile: string,
    readonly holder: { pid?: number; what: string },
    extra = '',
  ) {
    super(`${path.dirname(lockFile)} is in use by ${holder.what}${holder.pid ? ` (pid ${holder.pid})` : ''}: one manager per root (its lock: ${lockFile})${extra}`);
  }
}

/** Who holds the flock on `fd`'s file, from /proc/locks ("1: FLOCK ADVISORY WRITE 1234 08:01:5678 0 EOF"). */
function holderOf(fd: number): { pid?: number; what: string } {
  const { dev, ino } = fs.fstatSync(fd);
  // glibc's major()/minor() of a dev_t; /proc/locks prints them in hex.
  const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  const device = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
  for (const line of fs.readFileSync('/proc/locks', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === 'FLOCK' && fields[5] === device) {
      const pid = Number(fields[4]);
      let words: string[] = [];
      try {
        words = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        // gone in the meantime
      }
      // The program's name, as `node lib/launch.mjs .../conmand.ts` or a script of that name runs it.
      const program = (name: string) => words.some((word) => new RegExp(`(^|/)${name}(\\.ts|\\.m?js)?$`).test(word));
      const what = program('conmand') ? 'conmand' : program('conman') ? 'conman --no-daemon' : 'another process';
      return { pid, what };
    }
  }
  return { what: 'another manager' };
}

export class RootLock {
  private constructor(private readonly fds: number[]) {}

  /**
   * Lock each folder (created if missing). With `waitMs` (conman --no-daemon), wait that long
   * for another conman to finish; a conmand holding it is never waited for.
   */
  static async acquire(dirs: string[], options: { waitMs?: number } = {}): Promise<RootLock> {
    const fds: number[] = [];
    const deadline = Date.now() + (options.waitMs ?? 0);
    try {
      for (const dir of [...new Set(dirs)]) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const file = path.join(dir, LOCK_FILE);
        // An empty file: creating it needs an inode, not a block, so it works on a full disk.
        const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o600);
        fds.push(fd);
        for (;;) {
          if (flock(fd, LOCK_EX | LOCK_NB) === 0) break;
          const errno = koffi.decode(errnoLocation(), 'int') as number;
          if (errno === EINTR) continue;
          if (errno !== EWOULDBLOCK) throw new Error(`flock(${file}) failed: errno ${errno}`);
          const holder = holderOf(fd);
          if (holder.what === 'conmand' || Date.now() >= deadline) {
            const waited = options.waitMs ? `; waited ${options.waitMs} ms` : '';
            throw new RootLockedError(file, holder, holder.what === 'conmand' ? `; talk to it (drop --no-daemon), or stop it first${waited}` : `; wait for it to finish, or stop it${waited}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } catch (error) {
      for (const fd of fds) fs.closeSync(fd);
      throw error;
    }
    return new RootLock(fds);
  }

  /** Closing the files drops the locks (so does the process's death). */
  release(): void {
    for (const fd of this.fds.splice(0)) fs.closeSync(fd);
  }
}

/**
 * Run `fn` holding a flock on `file` (created if missing), waiting for whoever holds it:
 * exclusive, or `shared` with other shared holders (chapter 05: two pulls of the same blob, two
 * writers of images.json, pulls that a prune must wait for). Released when `fn` settles, or
 * when the process dies.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, options: { shared?: boolean } = {}): Promise<T> {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o600);
  try {
    for (;;) {
      if (flock(fd, (options.shared ? LOCK_SH : LOCK_EX) | LOCK_NB) === 0) break;
      const errno = koffi.decode(errnoLocation(), 'int') as number;
      if (errno !== EWOULDBLOCK && errno !== EINTR) throw new Error(`flock(${file}) failed: errno ${errno}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return await fn();
  } finally {
    fs.closeSync(fd);
  }
}
