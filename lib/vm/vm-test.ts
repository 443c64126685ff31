/**
 * `./workshop vm-test`: proves the Vagrant route on a real Debian 12 guest, here, without
 * Vagrant or a network. It builds (or reuses) a guest like the workshop VM, boots it with QEMU,
 * runs `workshop doctor` and `workshop check all --target solutions` inside, reads the results
 * back and prints them per chapter. Not part of CI: one run takes from minutes (KVM) to an
 * hour or more (emulated CPU).
 *
 *   guest-image.ts  the kept base guest (debootstrap + provision.sh's packages + Node.js)
 *   work-disk.ts    the repository and the run's settings on a second, per-run disk
 *   qemu.ts         KVM or TCG, and the boot itself
 *   guest-run.sh    what runs inside
 *   results.ts      reading the results back; the table and the verdict
 *   steps.ts        progress with elapsed time; clean-up on failure or Ctrl-C
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { availableChapters, findChapter } from '../manifest.ts';
import { ensureBaseImage, VM_CACHE_DIR } from './guest-image.ts';
import { bootGuest, chooseAccel, GUEST_CPUS, GUEST_MEMORY, qemuVersion, type Accel, type BootOutcome } from './qemu.ts';
import { copyResultsOut, formatFailures, formatTable, readResults, verdict, type GuestResults } from './results.ts';
import { cleanupAll, formatElapsed, installSignalHandlers, onCleanup, runLogged, step, timings, wasInterrupted } from './steps.ts';
import { buildWorkDisk, checkNodeModules } from './work-disk.ts';


export interface VmTestOptions {
  rebuild: boolean;
  accel?: Accel;
  /** WORKSHOP_SLOW in the guest; default: 8 under TCG, unset (measured by the workshop) under KVM. */
  slow?: number;
  /** Minutes the guest may take, boot to power-off; default: 180 under TCG, 45 under KVM. */
  timeoutMin?: number;
  chapters: string;
  keep: boolean;
}

/** Under TCG the checks run 5-20 times slower than on the host; 8 keeps their deadlines honest. */
export const TCG_SLOW_FACTOR = 8;
export const DEFAULT_TIMEOUT_MIN: Record<Accel, number> = { tcg: 180, kvm: 45 };
/** From QEMU's start to the test's first line; a guest stuck in its boot is given up on sooner. */
const BOOT_TIMEOUT_MIN: Record<Accel, number> = { tcg: 20, kvm: 5 };

export function parseVmTestArgs(args: string[]): VmTestOptions {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      rebuild: { type: 'boolean' },
      accel: { type: 'string' },
      slow: { type: 'string' },
      timeout: { type: 'string' },
      chapter: { type: 'string', default: 'all' },
      keep: { type: 'boolean' },
    },
  });
  void positionals;
  if (values.accel !== undefined && values.accel !== 'kvm' && values.accel !== 'tcg') throw new Error(`--accel ${values.accel}: use kvm or tcg (default: KVM if it is usable at speed, else TCG)`);
  const number = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} ${text}: use a positive number`);
    return n;
  };
  const chapters = values.chapter!;
  if (chapters !== 'all') findChapter(chapters); // an unknown chapter fails here, not in the guest an hour later
  return {
    rebuild: values.rebuild ?? false,
    accel: values.accel as Accel | undefined,
    slow: number('slow', values.slow),
    timeoutMin: number('timeout', values.timeout),
    chapters: chapters === 'all' ? 'all' : findChapter(chapters).number,
    keep: values.keep ?? false,
  };
}

/** Host commands the VM test needs, and the Debian packages that have them. */
const HOST_TOOLS: Record<string, string> = {
  debootstrap: 'debootstrap',
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  'mkfs.ext4': 'e2fsprogs',
  debugfs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  xz: 'xz-utils',
  git: 'git',
  setpriv: 'util-linux',
};

function onPath(command: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => {
    try {
      fs.accessSync(path.join(d, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

async function ensureHostTools(log: string): Promise<void> {
  const missing = [...new Set(Object.entries(HOST_TOOLS).filter(([cmd]) => !onPath(cmd)).map(([, pkg]) => pkg))];
  if (!missing.length) return;
  await step(`apt-get install ${missing.join(' ')} (host tools for the VM test)`, async (c) => {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await runLogged('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update', '-qq'], { log, env, onLine: c.detail });
    await runLogged('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-qq', '--no-install-recommends', ...missing], { log, env, onLine: c.detail });
  });
}

/** One vm-test at a time: two would build the same image and share the last run's logs. */
function lockCache(): void {
  const lock = path.join(VM_CACHE_DIR, 'vm-test.pid');
  try {
    fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
  } catch {
    const pid = Number(fs.readFileSync(lock, 'utf8').trim());
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = pid > 0;
    } catch {
      // a run that crashed without its clean-up: its lock is stale
    }
    if (alive) throw new Error(`another vm-test (pid ${pid}) is running; wait for it, or stop it with Ctrl-C (or kill -INT ${pid})`);
    fs.writeFileSync(lock, `${process.pid}\n`);
  }
  onCleanup('the vm-test lock', () => fs.rmSync(lock, { force: true }));
}

export async function vmTest(args: string[]): Promise<number> {
  const options = parseVmTestArgs(args);
  if (process.getuid?.() !== 0) throw new Error('vm-test builds disk images and runs chroot: run it as root (sudo ./workshop vm-test)');
  installSignalHandlers();
  try {
    return await run(options);
  } catch (error) {
    if (!wasInterrupted()) throw error;
    await cleanupAll();
    return 130;
  } finally {
    await cleanupAll();
  }
}

async function run(options: VmTestOptions): Promise<number> {
  const started = Date.now();
  checkNodeModules();
  const expected = options.chapters === 'all' ? availableChapters().map((c) => c.folder) : [findChapter(options.chapters).folder];
  fs.mkdirSync(VM_CACHE_DIR, { recursive: true });
  lockCache();
  // The last run's logs stay here (console, commands, results); the run's disks are temporary.
  const lastRun = path.join(VM_CACHE_DIR, 'last-run');
  fs.rmSync(lastRun, { recursive: true, force: true });
  fs.mkdirSync(lastRun);
  const log = path.join(lastRun, 'commands.log');
  fs.writeFileSync(log, `vm-test ${new Date().toISOString()}\n`);
  const say = (line: string) => process.stderr.write(`${line}\n`);

  await ensureHostTools(log);
  const image = await ensureBaseImage({ rebuild: options.rebuild, say });
  const builtNow = timings.some((t) => t.step.startsWith('debootstrap'));

  // The run's disks (sparse, a few GB written). A vm-test killed outright (SIGKILL) cannot
  // remove its own; we hold the lock, so any run-* folder left here is such a leftover.
  for (const old of fs.readdirSync(VM_CACHE_DIR).filter((name) => name.startsWith('run-'))) {
    say(`removing ${old}, left by a vm-test that was killed`);
    fs.rmSync(path.join(VM_CACHE_DIR, old), { recursive: true, force: true });
  }
  const runDir = fs.mkdtempSync(path.join(VM_CACHE_DIR, options.keep ? `kept-${new Date().toISOString().replace(/[:.]/g, '-')}-` : 'run-'));
  if (options.keep) say(`--keep: this run's disks and console stay in ${runDir}`);
  else onCleanup(`run folder ${runDir}`, () => fs.rmSync(runDir, { recursive: true, force: true }));

  const accel = await step('choose the acceleration (KVM if usable at speed, else TCG)', () => chooseAccel(options.accel, image.kernel, runDir));
  say(`acceleration: ${accel.accel.toUpperCase()}, because ${accel.why}`);
  const slow = options.slow ?? (accel.accel === 'tcg' ? TCG_SLOW_FACTOR : undefined);
  const timeoutMin = options.timeoutMin ?? DEFAULT_TIMEOUT_MIN[accel.accel];
  say(`in the guest: WORKSHOP_SLOW=${slow ?? '(unset: the workshop measures)'}; time limit ${timeoutMin} min (--slow, --timeout)`);

  const work = await step('work disk: the repository (git ls-files + node_modules) and the run settings', (c) =>
    buildWorkDisk(runDir, { slow, chapters: options.chapters }, log, c.detail),
  );

  let bootStarted = 0;
  const outcome: BootOutcome = await step(`guest (${accel.accel.toUpperCase()}, ${GUEST_CPUS} CPUs, ${GUEST_MEMORY}): boot, doctor, check ${options.chapters}`, (c) => {
    bootStarted = Date.now();
    return bootGuest({
      runDir,
      image,
      workDisk: work.image,
      accel,
      timeoutMs: timeoutMin * 60_000,
      bootTimeoutMs: Math.min(timeoutMin, BOOT_TIMEOUT_MIN[accel.accel]) * 60_000,
      startedLine: /(?:^|: )vm-test: guest up/,
      log,
      onConsoleLine: (line) => {
        if (!line.trim()) return;
        // journald forwards the script's lines with a prefix: "[  121.3] bash[357]: vm-test: doctor".
        const stage = /(?:^|: )vm-test: (.*)$/.exec(line)?.[1];
        if (stage) {
          c.say(`${formatElapsed(Date.now() - bootStarted)}  ${stage}`);
        } else c.detail(line);
      },
    });
  });
  fs.copyFileSync(outcome.console, path.join(lastRun, 'console.log'));

  let results: GuestResults | undefined;
  try {
    const dir = await copyResultsOut(work.image, lastRun, { unclean: outcome.status !== 'powered-off', log });
    results = readResults(dir);
  } catch (error) {
    say(`could not read the results back: ${(error as Error).message}`);
  }

  // The guest's own clocks: its uptime when the test started (the boot), and each command's run.
  const secs = (s: number | undefined) => (s === undefined ? '—' : formatElapsed(s * 1000));
  const bootSeconds = results?.progress[0]?.uptime;
  const report = formatReport({
    options,
    expected,
    accelLine: `${accel.accel.toUpperCase()} (${accel.why}); ${qemuVersion()}`,
    slow,
    timeoutMin,
    imageLine: builtNow
      ? `built now: debootstrap ${formatElapsed(image.info.timingsMs.debootstrap)}, apt-get ${formatElapsed(image.info.timingsMs.apt)}, whole image ${formatElapsed(image.info.timingsMs.total)}`
      : `kept, built ${image.info.builtAt} (then: debootstrap ${formatElapsed(image.info.timingsMs.debootstrap)}, apt-get ${formatElapsed(image.info.timingsMs.apt)}, whole image ${formatElapsed(image.info.timingsMs.total)})`,
    stagesLine: `boot ${secs(bootSeconds)} (kernel to the test's start), doctor ${secs(results?.doctor?.seconds)}, check ${secs(results?.check?.seconds)}, guest in all ${formatElapsed(outcome.elapsedMs)}; vm-test in all ${formatElapsed(Date.now() - started)}`,
    outcome,
    results,
    logs: lastRun,
  });
  process.stdout.write(report.text);
  return report.ok ? 0 : 1;
}

function formatReport(r: {
  options: VmTestOptions;
  expected: string[];
  accelLine: string;
  slow: number | undefined;
  timeoutMin: number;
  imageLine: string;
  stagesLine: string;
  outcome: BootOutcome;
  results: GuestResults | undefined;
  logs: string;
}): { text: string; ok: boolean } {
  const out: string[] = [];
  const facts = r.results?.facts ?? {};
  out.push('', '== the guest');
  out.push(`  Debian ${facts.debian ?? '?'}, kernel ${facts.kernel ?? '?'}, ${facts.cpus ?? '?'} CPUs, ${facts.memory ?? '?'}, node ${facts.node ?? '?'}`);
  out.push(`  acceleration: ${r.accelLine}`);
  out.push(`  /run: ${facts['/run'] ?? '?'}`);
  out.push(`  cgroups: ${facts['/sys/fs/cgroup'] ?? '?'} (v1 hierarchies: ${facts['cgroup v1 hierarchies'] ?? '?'}; v2 controllers: ${facts['cgroup v2 controllers'] ?? '?'})`);
  out.push(`  WORKSHOP_SLOW=${r.slow ?? '(unset)'}, time limit ${r.timeoutMin} min`);
  out.push('', '== timings');
  out.push(`  base image: ${r.imageLine}`);
  out.push(`  ${r.stagesLine}`);
  if (r.results?.doctor) {
    out.push('', `== workshop doctor (exit ${r.results.doctor.exitCode}${r.results.doctor.seconds !== undefined ? `, ${formatElapsed(r.results.doctor.seconds * 1000)}` : ''})`);
    out.push(...r.results.doctor.output.trimEnd().split('\n').map((l) => `  ${l}`));
  }
  const chapters = r.results?.check?.chapters ?? [];
  if (chapters.length) {
    out.push('', `== workshop check ${r.options.chapters} --target solutions${r.results?.check?.seconds !== undefined ? ` (${formatElapsed(r.results.check.seconds * 1000)})` : ''}`);
    out.push(...formatTable(chapters).split('\n').map((l) => `  ${l}`));
    const failures = formatFailures(chapters);
    if (failures) out.push('', '== failures', ...failures.split('\n').map((l) => `  ${l}`));
  }
  const v = verdict(r.results, { status: r.outcome.status, detail: r.outcome.detail }, r.expected);
  out.push('', `logs: ${r.logs} (console.log: the guest's serial console; commands.log; results/)`);
  out.push(v.ok ? 'vm-test: all green' : `vm-test: FAILED\n${v.problems.map((p) => `  - ${p}`).join('\n')}`);
  return { text: out.join('\n') + '\n', ok: v.ok };
}
