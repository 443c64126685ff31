/**
 * The VM test's base guest: a Debian 12 disk image equivalent to the Vagrant VM, built from
 * Debian's packages alone (this machine reaches Debian's mirror and npm, nothing else).
 *
 *   debootstrap --variant=minbase bookworm    the smallest Debian, plus systemd, udev, kmod and
 *                                             Debian's kernel with its initramfs (the initramfs
 *                                             is what mounts /run nodev,noexec,nosuid, as on
 *                                             every Debian 12 that boots with one: the VM test
 *                                             must see that, so /run is left alone)
 *   apt-get install --no-install-recommends   vagrant/provision.sh's own package list
 *   Node.js                                   copied from this machine (NodeSource, where the
 *                                             Vagrant VM gets it, is out of reach here)
 *   mkfs.ext4 -d TREE                         the disk image, made from the folder: no loop
 *                                             device, no mount
 *
 * The kernel is booted directly by QEMU (-kernel/-initrd), so the image needs no boot loader;
 * QEMU gets the uncompressed vmlinux (see extractVmlinux). The image is kept in VM_CACHE_DIR
 * and rebuilt only when its recipe changes: provision.sh's content, the host's Node version,
 * or RECIPE_VERSION below.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { HOST_LIB_DIR } from '../paths.ts';
import { parseProvisionPackages, readProvisionScript } from './packages.ts';
import { onCleanup, runLogged, step } from './steps.ts';

/** Kept images live with the workshop's other files on the machine (`workshop clean` keeps them). */
export const VM_CACHE_DIR = process.env.WORKSHOP_VM_CACHE ?? path.join(HOST_LIB_DIR, 'vm');
export const BASE_DIR = path.join(VM_CACHE_DIR, 'base');
/** Bump when this file builds a different guest from the same provision.sh. */
const RECIPE_VERSION = 1;
const MIRROR = process.env.WORKSHOP_VM_MIRROR ?? 'http://deb.debian.org/debian';
/** What a Debian 12 machine that boots has beyond minbase; the rest comes from provision.sh. */
const BOOT_PACKAGES = ['systemd', 'systemd-sysv', 'udev', 'kmod', 'dbus', 'e2fsprogs', 'initramfs-tools', 'linux-image-amd64'];
/** Sparse: the file takes only what is written. Room for the workshop's rootfs copies. */
const ROOT_DISK_SIZE = '10G';

/** Where the guest mounts the work disk (the repository and the results). */
export const GUEST_HOME = '/home/vagrant';
export const WORK_DISK_LABEL = 'conman-work';

export interface ImageInfo {
  key: string;
  provisionSha256: string;
  nodeVersion: string;
  recipe: number;
  packages: string[];
  kernelRelease: string;
  builtAt: string;
  /** Measured while building: debootstrap, apt-get install, the whole build. */
  timingsMs: { debootstrap: number; apt: number; total: number };
}

export interface BaseImage {
  rootImage: string;
  kernel: string;
  initrd: string;
  info: ImageInfo;
}

function imageKey(provisionSha256: string): string {
  return crypto.createHash('sha256').update(`${provisionSha256}\n${process.version}\n${RECIPE_VERSION}`).digest('hex').slice(0, 16);
}

function readBase(): BaseImage | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(BASE_DIR, 'image.json'), 'utf8')) as ImageInfo;
    const image = { rootImage: path.join(BASE_DIR, 'root.img'), kernel: path.join(BASE_DIR, 'vmlinux'), initrd: path.join(BASE_DIR, 'initrd.img'), info };
    return [image.rootImage, image.kernel, image.initrd].every((f) => fs.existsSync(f)) ? image : undefined;
  } catch {
    return undefined;
  }
}

/** The kept image if it matches provision.sh (and the rest of the recipe), else a new one. */
export async function ensureBaseImage(options: { rebuild?: boolean; say: (line: string) => void }): Promise<BaseImage> {
  const provision = readProvisionScript();
  const key = imageKey(provision.sha256);
  const kept = readBase();
  if (kept && kept.info.key === key && !options.rebuild) {
    options.say(`base guest: kept image from ${kept.info.builtAt} (${BASE_DIR}; provision.sh unchanged)`);
    return kept;
  }
  options.say(
    options.rebuild ? 'base guest: rebuilding (--rebuild)'
    : kept ? `base guest: rebuilding (${kept.info.provisionSha256 !== provision.sha256 ? 'vagrant/provision.sh changed' : 'Node.js or the recipe changed'})`
    : `base guest: none kept in ${BASE_DIR} yet; building it (about 5 minutes)`,
  );
  return buildBaseImage(key, provision.sha256, parseProvisionPackages(provision.text));
}

async function buildBaseImage(key: string, provisionSha256: string, packages: string[]): Promise<BaseImage> {
  const started = Date.now();
  fs.mkdirSync(VM_CACHE_DIR, { recursive: true });
  const log = path.join(VM_CACHE_DIR, 'build.log');
  fs.writeFileSync(log, `building the VM test's base guest, ${new Date().toISOString()}\n`);
  // Everything is made in a folder of its own and moved into place at the end: an interrupted
  // build leaves the kept image as it was.
  const work = fs.mkdtempSync(path.join(VM_CACHE_DIR, 'build-'));
  const forgetWork = onCleanup(`build folder ${work}`, () => removeTree(work));
  const tree = path.join(work, 'tree');
  const out = path.join(work, 'out');
  fs.mkdirSync(out);

  const debootstrapStarted = Date.now();
  await step(`debootstrap bookworm (minbase + ${BOOT_PACKAGES.join(', ')})`, (c) =>
    runLogged('debootstrap', ['--variant=minbase', `--include=${BOOT_PACKAGES.join(',')}`, 'bookworm', tree, MIRROR], { log, onLine: c.detail }),
  );
  const debootstrapMs = Date.now() - debootstrapStarted;

  configureGuest(tree);

  const aptStarted = Date.now();
  await step(`apt-get install --no-install-recommends: ${packages.length} packages from vagrant/provision.sh`, async (c) => {
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C', HOME: '/root' };
    // Some maintainer scripts read /proc; nothing else of the host is mounted into the tree.
    fs.mkdirSync(path.join(tree, 'proc'), { recursive: true });
    await runLogged('mount', ['-t', 'proc', 'proc', path.join(tree, 'proc')], { log });
    try {
      await runLogged('chroot', [tree, 'apt-get', 'update'], { log, env, onLine: c.detail });
      await runLogged('chroot', [tree, 'apt-get', 'install', '-y', '--no-install-recommends', ...packages], { log, env, onLine: c.detail });
      await runLogged('chroot', [tree, 'apt-get', 'clean'], { log, env });
      const missing = notInstalled(tree, packages);
      if (missing.length) throw new Error(`apt-get finished but these packages are not installed in the guest: ${missing.join(' ')} (see ${log})`);
    } finally {
      await runLogged('umount', [path.join(tree, 'proc')], { log });
    }
  });
  const aptMs = Date.now() - aptStarted;

  let kernelRelease = '';
  await step('Node.js from this machine, kernel, disk image', async (c) => {
    c.detail('copying Node.js');
    copyHostNode(tree);
    const version = spawnSync('chroot', [tree, 'node', '--version'], { encoding: 'utf8' });
    if (version.stdout.trim() !== process.version) {
      throw new Error(`node copied into the guest does not run there: ${(version.stderr || version.stdout).trim() || `exit ${version.status}`}`);
    }
    c.detail('extracting the kernel');
    const vmlinuz = fs.readdirSync(path.join(tree, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`no kernel in the guest's /boot (see ${log})`);
    kernelRelease = vmlinuz.slice('vmlinuz-'.length);
    const initrd = path.join(tree, 'boot', `initrd.img-${kernelRelease}`);
    if (!fs.existsSync(initrd)) throw new Error(`no initramfs for ${kernelRelease} in the guest's /boot (see ${log})`);
    extractVmlinux(path.join(tree, 'boot', vmlinuz), path.join(out, 'vmlinux'));
    fs.copyFileSync(initrd, path.join(out, 'initrd.img'));
    fs.rmSync(path.join(tree, 'usr/sbin/policy-rc.d')); // in the guest, packages' daemons start as usual
    c.detail(`mkfs.ext4 -d (${ROOT_DISK_SIZE}, sparse)`);
    await removeTreeMounts(tree); // mkfs would copy whatever is mounted there
    await runLogged('mkfs.ext4', ['-q', '-F', '-L', 'conman-root', '-d', tree, path.join(out, 'root.img'), ROOT_DISK_SIZE], { log });
  });

  const info: ImageInfo = {
    key,
    provisionSha256,
    nodeVersion: process.version,
    recipe: RECIPE_VERSION,
    packages,
    kernelRelease,
    builtAt: new Date().toISOString(),
    timingsMs: { debootstrap: debootstrapMs, apt: aptMs, total: Date.now() - started },
  };
  fs.writeFileSync(path.join(out, 'image.json'), JSON.stringify(info, null, 2) + '\n');
  // Swap in the new image: the old one goes only once the new one is complete.
  const old = `${BASE_DIR}.old-${process.pid}`;
  if (fs.existsSync(BASE_DIR)) fs.renameSync(BASE_DIR, old);
  fs.renameSync(out, BASE_DIR);
  fs.rmSync(old, { recursive: true, force: true });
  await removeTree(work);
  forgetWork();
  return readBase()!;
}

/** Files the guest needs beyond its packages: what the Vagrantfile and Debian's installer do. */
function configureGuest(tree: string): void {
  const write = (file: string, text: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
    fs.writeFileSync(path.join(tree, file), text, { mode });
  };
  // The same suites as the Vagrant box (and the security updates), for apt-get install.
  write('etc/apt/sources.list', ['bookworm', 'bookworm-updates'].map((s) => `deb ${MIRROR} ${s} main\n`).join('') + 'deb http://deb.debian.org/debian-security bookworm-security main\n');
  fs.copyFileSync('/etc/resolv.conf', path.join(tree, 'etc/resolv.conf')); // the chroot's apt resolves the mirror; the guest has no network
  // Packages must not start their daemons inside the chroot (they are enabled for the boot).
  write('usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', 0o755);
  // The Vagrantfile's marker: provision.sh then knows it is inside the workshop VM.
  write('etc/conman-workshop-vm', '');
  write('etc/hostname', 'conman-workshop\n');
  write('etc/hosts', '127.0.0.1 localhost\n127.0.1.1 conman-workshop\n');
  // Root on the first disk; the work disk (repository + results, made per run) where the
  // Vagrant VM has the repository's parent folder.
  write('etc/fstab', `/dev/vda / ext4 errors=remount-ro 0 1\nLABEL=${WORK_DISK_LABEL} ${GUEST_HOME} ext4 defaults 0 2\n`);
  // The test itself runs once the boot is complete, like a learner logging in, then powers
  // the guest off whatever happened (the host waits for QEMU to exit).
  write(
    'etc/systemd/system/conman-vm-test.service',
    `[Unit]
Description=conman workshop VM test (workshop doctor, workshop check)
RequiresMountsFor=${GUEST_HOME}
ConditionPathExists=${GUEST_HOME}/vm-test/run.sh
After=multi-user.target
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=simple
Environment=HOME=/root
ExecStart=/bin/bash ${GUEST_HOME}/vm-test/run.sh
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`,
  );
  fs.mkdirSync(path.join(tree, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
  fs.symlinkSync('/etc/systemd/system/conman-vm-test.service', path.join(tree, 'etc/systemd/system/multi-user.target.wants/conman-vm-test.service'));
}

function notInstalled(tree: string, packages: string[]): string[] {
  const query = spawnSync('chroot', [tree, 'dpkg-query', '-W', '-f', '${Package} ${Status}\\n', ...packages], { encoding: 'utf8' });
  const ok = new Set(query.stdout.split('\n').filter((l) => l.endsWith(' install ok installed')).map((l) => l.split(' ')[0]));
  return packages.filter((p) => !ok.has(p));
}

/** The host's node, npm, npx and corepack, where the same paths will find them in the guest. */
function copyHostNode(tree: string): void {
  const exe = fs.realpathSync(process.execPath); // e.g. /usr/bin/node
  const prefix = path.dirname(path.dirname(exe)); // e.g. /usr
  const into = (p: string) => path.join(tree, p);
  fs.mkdirSync(path.dirname(into(exe)), { recursive: true });
  fs.copyFileSync(exe, into(exe));
  fs.chmodSync(into(exe), 0o755);
  for (const sub of ['lib/node_modules', 'include/node']) {
    const from = path.join(prefix, sub);
    if (fs.existsSync(from)) fs.cpSync(from, into(from), { recursive: true, verbatimSymlinks: true });
  }
  // npm, npx, corepack: links from prefix/bin into lib/node_modules.
  const bin = path.join(prefix, 'bin');
  for (const name of fs.readdirSync(bin)) {
    const link = path.join(bin, name);
    if (!fs.lstatSync(link).isSymbolicLink()) continue;
    const target = fs.readlinkSync(link);
    if (!path.resolve(bin, target).startsWith(path.join(prefix, 'lib/node_modules') + path.sep)) continue;
    fs.rmSync(into(link), { force: true });
    fs.symlinkSync(target, into(link));
  }
}

/**
 * Debian's kernel is a bzImage: a small decompressor plus the real kernel, XZ-compressed.
 * Under emulation (TCG) that decompressor alone takes minutes; the kernel as an ELF file
 * (vmlinux) boots at once through its PVH entry point, which QEMU's -kernel understands and
 * Debian's kernel has (CONFIG_PVH=y). The XZ stream starts at the magic FD 37 7A 58 5A 00;
 * the first candidate that decompresses to an ELF file is the kernel.
 */
export function extractVmlinux(bzImage: string, out: string): void {
  const data = fs.readFileSync(bzImage);
  const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  for (let at = data.indexOf(magic); at >= 0; at = data.indexOf(magic, at + 1)) {
    const fd = fs.openSync(out, 'w');
    // --single-stream: the bzImage goes on after the stream; xz must stop there, not fail.
    spawnSync('xz', ['-dc', '--single-stream'], { input: data.subarray(at), stdio: ['pipe', fd, 'ignore'], maxBuffer: 1 << 30 });
    fs.closeSync(fd);
    const head = Buffer.alloc(4);
    const rfd = fs.openSync(out, 'r');
    fs.readSync(rfd, head, 0, 4, 0);
    fs.closeSync(rfd);
    if (head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return;
  }
  fs.rmSync(out, { force: true });
  throw new Error(`${bzImage}: no XZ-compressed ELF kernel inside (not a Debian amd64 kernel?)`);
}

/** Mount points at or under dir, deepest first, from the kernel's own table. */
function mountsUnder(dir: string): string[] {
  const real = fs.existsSync(dir) ? fs.realpathSync(dir) : dir;
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === real || m.startsWith(real + '/')))
    .sort((a, b) => b.length - a.length);
}

async function removeTreeMounts(dir: string): Promise<void> {
  for (const mount of mountsUnder(dir)) {
    if (spawnSync('umount', [mount]).status !== 0) spawnSync('umount', ['-l', mount]);
  }
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`still mounted, not removing ${dir}: ${left.join(', ')}`);
}

/**
 * rm -rf of a chroot tree, but never through a mount point: debootstrap mounts /proc and /sys
 * in the tree, and an interrupted build may leave them there.
 */
export async function removeTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  await removeTreeMounts(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}
