/**
 * The guest's second disk, made fresh for each run: the repository as it is now, the run's
 * script and settings, and an empty results folder the guest fills and the host reads back.
 *
 * The repository is what `vagrant rsync` would copy: the files git knows of (tracked, plus new
 * files not ignored) as they are in the working tree, so uncommitted work is tested too. Unlike
 * the Vagrant VM, node_modules is copied rather than installed (the guest has no network); this
 * machine is Debian 12 with the same Node.js, so its native addons load there too.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../paths.ts';
import { WORK_DISK_LABEL } from './guest-image.ts';
import { runLogged } from './steps.ts';

/** Sparse: room for the workshop's state, logs and the results beyond the files themselves. */
const WORK_DISK_SIZE = '8G';

export interface GuestRunSettings {
  /** WORKSHOP_SLOW inside the guest; undefined leaves it unset (the workshop measures). */
  slow?: number;
  /** `all`, or one chapter number. */
  chapters: string;
}

/** node_modules must match package-lock.json: the guest cannot run npm ci without network. */
export function checkNodeModules(): void {
  const lockHash = crypto.createHash('sha256').update(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'))).digest('hex');
  let installed = '';
  try {
    installed = fs.readFileSync(path.join(REPO_ROOT, 'node_modules/.workshop-lock-hash'), 'utf8').trim();
  } catch {
    // no node_modules, or installed some other way
  }
  if (installed !== lockHash) {
    throw new Error('node_modules is missing or older than package-lock.json, and the guest has no network for npm ci: run ./workshop once on this machine (it installs them), then vm-test again');
  }
}

export function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
  // --cached lists files deleted in the working tree too: the guest gets the tree as it is.
  return [...new Set(out.split('\0').filter(Boolean))].filter((f) => fs.existsSync(path.join(REPO_ROOT, f)) || isSymlink(path.join(REPO_ROOT, f)));
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Lays out the disk's folder in `runDir/work-tree`, makes `runDir/work.img` from it, returns the image. */
export async function buildWorkDisk(runDir: string, settings: GuestRunSettings, log: string, detail: (line: string) => void): Promise<{ image: string; files: number }> {
  const tree = path.join(runDir, 'work-tree');
  const repo = path.join(tree, 'conman-workshop');
  const files = repositoryFiles();
  detail(`copying ${files.length} files and node_modules`);
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    fs.cpSync(path.join(REPO_ROOT, file), path.join(repo, file), { verbatimSymlinks: true, preserveTimestamps: true });
  }
  fs.cpSync(path.join(REPO_ROOT, 'node_modules'), path.join(repo, 'node_modules'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });

  const vmTest = path.join(tree, 'vm-test');
  fs.mkdirSync(path.join(vmTest, 'results'), { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, 'lib/vm/guest-run.sh'), path.join(vmTest, 'run.sh'));
  fs.writeFileSync(path.join(vmTest, 'env'), guestEnv(settings));

  detail(`mkfs.ext4 -d (${WORK_DISK_SIZE}, sparse)`);
  const image = path.join(runDir, 'work.img');
  await runLogged('mkfs.ext4', ['-q', '-F', '-L', WORK_DISK_LABEL, '-d', tree, image, WORK_DISK_SIZE], { log });
  fs.rmSync(tree, { recursive: true, force: true });
  return { image, files: files.length };
}

/** The settings file the guest script sources (values are checked, so no quoting is needed). */
export function guestEnv(settings: GuestRunSettings): string {
  if (!/^(all|\d\d)$/.test(settings.chapters)) throw new Error(`chapter "${settings.chapters}": use all or a number such as 01`);
  return `WORKSHOP_SLOW=${settings.slow ?? ''}\nVMTEST_CHAPTERS=${settings.chapters}\n`;
}
