/** The host's mount table, read from /proc/self/mountinfo (proc(5)). */
import fs from 'node:fs';
import path from 'node:path';

export interface MountEntry {
  mountPoint: string;
  /** Per-mount options (field 6): where `noexec`, `nosuid`, `ro` are. */
  mountOptions: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** Mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function readMounts(): MountEntry[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right] = line.split(' - ');
      const fields = left.split(' ');
      const [fsType, source, superOptions] = right.split(' ');
      return { mountPoint: unescape(fields[4]), mountOptions: fields[5], fsType, source: unescape(source), superOptions };
    });
}

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return readMounts()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/**
 * The mount a path is on (the path need not exist yet: its nearest existing parent decides).
 * When two mounts share a mount point, the last one in the table is the one on top.
 */
export function mountOf(target: string): MountEntry {
  let dir = path.resolve(target);
  while (!fs.existsSync(dir) && dir !== '/') dir = path.dirname(dir);
  dir = fs.realpathSync(dir);
  const mounts = readMounts();
  let best: MountEntry | undefined;
  for (const mount of mounts) {
    const prefix = mount.mountPoint.endsWith('/') ? mount.mountPoint : mount.mountPoint + '/';
    const covers = dir === mount.mountPoint || dir.startsWith(prefix);
    if (covers && (!best || mount.mountPoint.length >= best.mountPoint.length)) best = mount;
  }
  if (!best) throw new Error(`no mount covers ${target} in /proc/self/mountinfo`);
  return best;
}

/** Is `target` on a filesystem mounted noexec (where nothing may be executed)? */
export function isNoexec(target: string): boolean {
  return mountOf(target).mountOptions.split(',').includes('noexec');
}
