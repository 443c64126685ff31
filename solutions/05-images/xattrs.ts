/**
 * Extended attributes, which Node.js cannot set: fsetxattr(2), lsetxattr(2), lgetxattr(2) and
 * llistxattr(2) called through koffi (as chapter 03's syscalls.ts does for prctl: a well-kept FFI
 * library with prebuilt binaries, no compiler needed). unpack.ts sets the xattrs a layer carries
 * (file capabilities such as `security.capability` on /bin/ping); the checks read them back.
 *
 * Only the calls that never follow a symlink at the last part of a path: fsetxattr on a file we
 * hold open, the l* calls on a name (a symlink there gets the attribute itself, or a refusal).
 * containerd does the same with golang.org/x/sys/unix's Lsetxattr.
 */
import os from 'node:os';
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const fsetxattr = libc.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)');
const lsetxattr = libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)');
const lgetxattr = libc.func('long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)');
const llistxattr = libc.func('long llistxattr(const char *path, _Out_ void *list, size_t size)');

/** Linux's limits (include/uapi/linux/limits.h): a name of 255 bytes, a value of 64 KiB. */
export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65536;

/** An errno as Node reports one: `code` is "EPERM", "ENOTSUP"... */
function failure(call: string, target: string, name: string): NodeJS.ErrnoException {
  const errno = koffi.errno() as number;
  const code = Object.entries(os.constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
  return Object.assign(new Error(`${call}(${target}, ${name}) failed: ${code}`), { code, errno });
}

/** Set xattr `name` on the file open as `fd`, or on the path itself (never what a symlink there points at). */
export function setXattr(target: number | string, name: string, value: Buffer): void {
  const result = typeof target === 'number' ? fsetxattr(target, name, value, value.length, 0) : lsetxattr(target, name, value, value.length, 0);
  if (result !== 0) throw failure(typeof target === 'number' ? 'fsetxattr' : 'lsetxattr', String(target), name);
}

/** The value of xattr `name` on `file` (a symlink itself, not followed), or undefined when it has none. */
export function getXattr(file: string, name: string): Buffer | undefined {
  const value = Buffer.alloc(XATTR_SIZE_MAX);
  const length = Number(lgetxattr(file, name, value, value.length));
  if (length >= 0) return Buffer.from(value.subarray(0, length));
  const error = failure('lgetxattr', file, name);
  if (error.code === 'ENODATA') return undefined;
  throw error;
}

/** The names of the xattrs on `file` (a symlink itself, not followed). */
export function listXattrs(file: string): string[] {
  const list = Buffer.alloc(XATTR_SIZE_MAX);
  const length = Number(llistxattr(file, list, list.length));
  if (length < 0) throw failure('llistxattr', file, '');
  return list.subarray(0, length).toString().split('\0').filter(Boolean);
}
