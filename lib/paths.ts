/**
 * Where things live: the repository's folders, and the host directories the workshop's code
 * and checks write to. Everything the workshop creates on the host sits under a name that
 * starts with WORKSHOP_PREFIX, so `workshop clean` can find all of it and nothing else.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CHAPTERS_DIR = path.join(REPO_ROOT, 'chapters');
export const SOLUTIONS_DIR = path.join(REPO_ROOT, 'solutions');
export const TEST_DIR = path.join(REPO_ROOT, 'test');
/**
 * The learner's own progress and settings; never committed. WORKSHOP_HOME moves it (the
 * workshop's own tests use a scratch folder, so they never touch a learner's progress).
 */
export const WORKSHOP_STATE_DIR = process.env.WORKSHOP_HOME ?? path.join(REPO_ROOT, '.workshop');
/** Scratch trees of generated starters, inside the repo so that `#lib/...` imports resolve. */
export const SCRATCH_TREES_DIR = path.join(REPO_ROOT, '.workshop', 'trees');

/** Prefix of every host object (directory, cgroup, container id, netns, bridge, chain). */
export const WORKSHOP_PREFIX = 'cmw';
/** Host directory for bundles, runtime state and logs of the workshop's containers. */
export const HOST_RUN_DIR = '/run/conman-workshop';
/** Parent cgroup (relative to each hierarchy's root) of every workshop container. */
export const CGROUP_PARENT = 'conman-workshop';

export type Target = 'chapters' | 'solutions';
export function targetDir(target: Target): string {
  return target === 'chapters' ? CHAPTERS_DIR : SOLUTIONS_DIR;
}
