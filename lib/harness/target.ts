/**
 * Which code the checks exercise. `workshop check` runs the same test files against the
 * learner's chapters/ (the default), the reference solutions/, or freshly generated starters;
 * it says which through WORKSHOP_TARGET_DIR. Run directly (`npm test`), checks test solutions/.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SOLUTIONS_DIR } from '../paths.ts';
import { watchModule } from './watchdog.ts';

export const TARGET_DIR = process.env.WORKSHOP_TARGET_DIR ?? SOLUTIONS_DIR;

/**
 * Import a chapter module from the target, typed like the reference:
 *   const { buildRootfs } = await importTarget<typeof import('../solutions/01-bundle/rootfs.ts')>('01-bundle/rootfs.ts');
 * Its async functions and methods are watched (./watchdog.ts): a call that never returns fails
 * in words after a few seconds, naming the call, instead of vitest's bare test timeout.
 */
export async function importTarget<T>(relative: string): Promise<T> {
  const module = (await import(pathToFileURL(path.join(TARGET_DIR, relative)).href)) as object;
  // WORKSHOP_WATCHDOG=0: the bare module, for debugging the watchdog itself.
  return (process.env.WORKSHOP_WATCHDOG === '0' ? module : watchModule(module, relative)) as T;
}

/** Path of a file in the target, e.g. for running a chapter's CLI. */
export function targetPath(relative: string): string {
  return path.join(TARGET_DIR, relative);
}
