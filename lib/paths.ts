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
/**
 * Host directory for what the workshop's containers are made of and write: bundles, rootfs,
 * logs. Anything a container executes lives here, never under /run: most Debian 12 machines
 * (every one that boots with an initramfs, the workshop VM included) mount /run `noexec`, and
 * that flag carries into a container whose rootfs sits there (`exec /bin/sh: permission
 * denied`). containerd, cri-o and podman split their state the same way (/var/lib vs /run).
 */
export const HOST_LIB_DIR = '/var/lib/conman-workshop';
/**
 * Host directory for run-time state only: the runtimes' state (`--root`), sockets, pid and
 * exit files. A tmpfs, gone at reboot like the containers themselves.
 */
export const HOST_RUN_DIR = '/run/conman-workshop';
/** Parent cgroup (relative to each hierarchy's root) of every workshop container. */
export const CGROUP_PARENT = 'conman-workshop';

export type Target = 'chapters' | 'solutions';
export function targetDir(target: Target): string {
  return target === 'chapters' ? CHAPTERS_DIR : SOLUTIONS_DIR;
}
