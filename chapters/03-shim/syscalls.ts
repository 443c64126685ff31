/**
 * The few system calls the shim needs and Node.js does not offer, called through koffi (a
 * well-kept FFI library with prebuilt binaries: no compiler needed):
 *
 *   prctl(PR_SET_CHILD_SUBREAPER)  become the "init" of our orphaned descendants
 *   waitpid(pid, &status, WNOHANG) collect the exit status of a child Node did not start
 *   mkfifo(path, mode)             named pipes for the container's stdio
 *   ioctl(fd, TIOCSWINSZ, &size)   resize a terminal
 *   dup2(fd, target)               point our stdout/stderr at a log (a pooled shim, pooled.ts)
 *
 * conmon makes the same calls from C; containerd's shim from Go (golang.org/x/sys/unix).
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const prctl = libc.func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
const waitpid = libc.func('int waitpid(int pid, _Out_ int *status, int options)');
const mkfifoCall = libc.func('int mkfifo(const char *path, uint32_t mode)');
const Winsize = koffi.struct('winsize', { ws_row: 'uint16_t', ws_col: 'uint16_t', ws_xpixel: 'uint16_t', ws_ypixel: 'uint16_t' });
const ioctlWinsize = libc.func('int ioctl(int fd, unsigned long request, winsize *size)');
const dup2Call = libc.func('int dup2(int oldfd, int newfd)');
const errnoLocation = libc.func('int *__errno_location()');

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
const TIOCSWINSZ = 0x5414;

function errno(): number {
  return koffi.decode(errnoLocation(), 'int') as number;
}

function check(result: number, what: string): void {
  if (result < 0) throw new Error(`${what} failed: errno ${errno()}`);
}

/** Orphaned descendants (the container's init, once runc has exited) become our children. */
export function setChildSubreaper(): void {
  check(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 'prctl(PR_SET_CHILD_SUBREAPER)');
}

/** waitpid(pid, WNOHANG): the raw wait status if `pid` has exited (and is now reaped), else undefined. */
export function waitpidNoHang(pid: number): number | undefined {
  const status = [0];
  const result = waitpid(pid, status, WNOHANG) as number;
  return result === pid ? status[0] : undefined;
}

export function mkfifo(path: string, mode = 0o600): void {
  check(mkfifoCall(path, mode), `mkfifo(${path})`);
}

export function setWindowSize(fd: number, rows: number, cols: number): void {
  check(ioctlWinsize(fd, TIOCSWINSZ, { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }), 'ioctl(TIOCSWINSZ)');
}

/** Make `target` (1: stdout, 2: stderr) refer to the file open on `fd`. */
export function dup2(fd: number, target: number): void {
  check(dup2Call(fd, target), `dup2(${fd}, ${target})`);
}
