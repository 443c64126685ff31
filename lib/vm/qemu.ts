/**
 * Booting the guest with QEMU, and choosing how.
 *
 * KVM when it is usable at speed, TCG (QEMU's own CPU emulation) otherwise. "Usable" is not
 * "/dev/kvm exists": a nested, paravirtual KVM (a VM inside a cloud VM) may refuse the host
 * CPU model, or run a stock kernel so slowly that emulation is faster. So the probe boots the
 * guest's kernel with no disk at all and times how long it takes to reach its "no root
 * filesystem" panic, and uses KVM only if it gets there faster than TCG does (about 3 s here).
 *
 * The kernel is the uncompressed vmlinux, booted through its PVH entry (see guest-image.ts);
 * the root disk is a throw-away qcow2 overlay on the kept image, so a run never changes the
 * image and a killed QEMU leaves nothing locked. The serial console goes to a file the host
 * follows for progress.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BaseImage } from './guest-image.ts';
import { killGroup, onCleanup, runLogged } from './steps.ts';

export type Accel = 'kvm' | 'tcg';
export interface AccelChoice {
  accel: Accel;
  /** QEMU's -accel and -cpu arguments. */
  args: string[];
  why: string;
}

const TCG: string[] = ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
/**
 * QEMU runs in its own process group (Ctrl-C reaches vm-test, which stops QEMU by that group's
 * id), so it would outlive a vm-test killed outright (SIGKILL, a crash): setpriv (util-linux)
 * asks the kernel to kill it when its parent dies.
 */
const DIE_WITH_US = ['--pdeathsig', 'KILL'];
/** Even TCG reaches the panic in a few seconds; a probe that takes this long has failed. */
const PROBE_LIMIT_MS = 30_000;

export async function chooseAccel(requested: Accel | undefined, kernel: string, scratch: string): Promise<AccelChoice> {
  if (requested === 'tcg') return { accel: 'tcg', args: TCG, why: 'asked for with --accel tcg' };
  let noKvm: string | undefined;
  if (!fs.existsSync('/dev/kvm')) noKvm = 'this machine has no /dev/kvm (no hardware virtualisation offered to it)';
  else {
    try {
      fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    } catch (error) {
      noKvm = `/dev/kvm cannot be opened: ${(error as Error).message}`;
    }
  }
  if (noKvm) {
    if (requested === 'kvm') throw new Error(`--accel kvm: ${noKvm}`);
    return { accel: 'tcg', args: TCG, why: noKvm };
  }
  // Nested KVM may refuse `-cpu host` ("failed to set MSR 0x10a": arch-capabilities); try
  // without that MSR before giving up on KVM. KVM must beat emulation on the same probe.
  const tried: string[] = [];
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  let tcg: ProbeResult | undefined;
  for (const cpu of ['host', 'host,-arch-capabilities']) {
    const args = ['-accel', 'kvm', '-cpu', cpu];
    const kvm = await probeBoot(args, `kvm-${cpu}`, kernel, scratch);
    if (kvm.ms === undefined) {
      tried.push(`-cpu ${cpu}: ${kvm.failure}`);
      continue;
    }
    if (requested === 'kvm') return { accel: 'kvm', args, why: `asked for with --accel kvm (-cpu ${cpu} boots the kernel in ${seconds(kvm.ms)})` };
    tcg ??= await probeBoot(TCG, 'tcg', kernel, scratch);
    if (tcg.ms === undefined || kvm.ms < tcg.ms) {
      return { accel: 'kvm', args, why: `KVM (-cpu ${cpu}) boots the kernel to its first panic in ${seconds(kvm.ms)}${tcg.ms !== undefined ? `, TCG in ${seconds(tcg.ms)}` : ''}` };
    }
    tried.push(`-cpu ${cpu} boots the kernel in ${seconds(kvm.ms)}, TCG in ${seconds(tcg.ms)}: no faster than emulation (a nested, paravirtual KVM?)`);
    break;
  }
  if (requested === 'kvm') throw new Error(`--accel kvm: KVM does not work here (${tried.join('; ')})`);
  return { accel: 'tcg', args: TCG, why: `/dev/kvm is there but not usable at speed (${tried.join('; ')}); QEMU emulates the CPU instead, 5-20 times slower` };
}

interface ProbeResult {
  ms?: number;
  failure?: string;
}

/** Boots the kernel alone (no disk, no initrd) and times its way to "VFS: Unable to mount root fs". */
async function probeBoot(accelArgs: string[], name: string, kernel: string, scratch: string): Promise<ProbeResult> {
  const console = path.join(scratch, `probe-${name.replace(/\W+/g, '_')}.log`);
  const started = Date.now();
  const child = spawn(
    'setpriv',
    [...DIE_WITH_US, 'qemu-system-x86_64', ...accelArgs, '-smp', '1', '-m', '512M', '-nic', 'none', '-display', 'none', '-no-reboot', '-monitor', 'none', '-serial', `file:${console}`, '-kernel', kernel, '-append', 'console=ttyS0 panic=-1'],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  const forget = onCleanup(`QEMU probe (pid ${child.pid})`, () => killGroup(child.pid));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    void killGroup(child.pid);
  }, PROBE_LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(limit);
  forget();
  const ms = Date.now() - started;
  const text = fs.existsSync(console) ? fs.readFileSync(console, 'utf8') : '';
  if (/Kernel panic/.test(text)) return { ms };
  if (timedOut) return { failure: `the kernel did not get through its boot in ${PROBE_LIMIT_MS / 1000} s` };
  return { failure: `QEMU stopped: ${stderr.trim().split('\n').pop() || `exit ${code}`}` };
}

export interface BootOptions {
  runDir: string;
  image: BaseImage;
  workDisk: string;
  accel: AccelChoice;
  timeoutMs: number;
  /** The guest must print `startedLine` within this long, or it is stuck in its boot. */
  bootTimeoutMs: number;
  startedLine: RegExp;
  log: string;
  /** Each new line of the guest's serial console. */
  onConsoleLine: (line: string) => void;
}

export interface BootOutcome {
  /** powered-off: the guest shut itself down; timeout: killed at the limit; stopped: QEMU ended otherwise. */
  status: 'powered-off' | 'timeout' | 'stopped';
  detail: string;
  elapsedMs: number;
  console: string;
}

export const GUEST_CPUS = 2;
export const GUEST_MEMORY = '4G';

/**
 * Root on the first disk, the console on the serial port, a panic ends QEMU. The rest is for a
 * slow (emulated, busy) machine: systemd's default deadline of 90 s for a disk to show up or a
 * service to start fails a guest that is merely slow (seen: the work disk "timed out" on a busy
 * host, so the test never started). Not rootdelay=: Debian's initramfs sleeps that long
 * unconditionally.
 */
export const KERNEL_CMDLINE = [
  'root=/dev/vda rw console=ttyS0 panic=-1',
  'systemd.default_device_timeout_sec=1800 systemd.default_timeout_start_sec=1800',
].join(' ');

export function qemuArgs(o: { accel: AccelChoice; image: BaseImage; overlay: string; workDisk: string; console: string; pidFile: string }): string[] {
  return [
    ...o.accel.args,
    // The Vagrant VM's size: 2 CPUs, 4 GiB; no network (everything is on the disks).
    '-smp', String(GUEST_CPUS), '-m', GUEST_MEMORY, '-nic', 'none',
    '-display', 'none', '-vga', 'none', '-monitor', 'none', '-serial', `file:${o.console}`,
    // A panic or a reboot ends QEMU instead of looping until the timeout.
    '-no-reboot',
    '-kernel', o.image.kernel, '-initrd', o.image.initrd,
    '-append', KERNEL_CMDLINE,
    '-drive', `file=${o.overlay},if=virtio,format=qcow2`,
    '-drive', `file=${o.workDisk},if=virtio,format=raw`,
    '-pidfile', o.pidFile,
  ];
}

export async function bootGuest(o: BootOptions): Promise<BootOutcome> {
  const overlay = path.join(o.runDir, 'root.qcow2');
  await runLogged('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', o.image.rootImage, overlay], { log: o.log });
  const consoleFile = path.join(o.runDir, 'console.log');
  fs.writeFileSync(consoleFile, '');
  const args = qemuArgs({ accel: o.accel, image: o.image, overlay, workDisk: o.workDisk, console: consoleFile, pidFile: path.join(o.runDir, 'qemu.pid') });
  fs.appendFileSync(o.log, `\n$ qemu-system-x86_64 ${args.join(' ')}\n`);
  const logFd = fs.openSync(o.log, 'a');
  const started = Date.now();
  // Its own process group, killed by that id on Ctrl-C or at the time limit.
  const qemu = spawn('setpriv', [...DIE_WITH_US, 'qemu-system-x86_64', ...args], { stdio: ['ignore', logFd, logFd], detached: true });
  fs.closeSync(logFd);
  const forget = onCleanup(`qemu (pid ${qemu.pid})`, () => killGroup(qemu.pid));

  // Follow the console file: each complete new line goes to the caller.
  let offset = 0;
  let partial = '';
  let lastLine = '';
  let testStarted = false;
  const follow = () => {
    const fd = fs.openSync(consoleFile, 'r');
    try {
      const buffer = Buffer.alloc(1 << 16);
      for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, offset)) > 0; ) {
        offset += n;
        const lines = (partial + buffer.subarray(0, n).toString('utf8')).split(/\r?\n/);
        partial = lines.pop() ?? '';
        for (const raw of lines) {
          const line = cleanConsoleLine(raw);
          if (line.trim()) lastLine = line;
          if (o.startedLine.test(line)) testStarted = true;
          o.onConsoleLine(line);
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  const poll = setInterval(follow, 1000);
  let timedOut: string | undefined;
  const limit = setTimeout(() => {
    timedOut = `no power-off within ${Math.round(o.timeoutMs / 60000)} min (--timeout)`;
    void killGroup(qemu.pid);
  }, o.timeoutMs);
  const bootLimit = setTimeout(() => {
    if (testStarted) return;
    timedOut = `the guest's test did not start within ${Math.round(o.bootTimeoutMs / 60000)} min of the boot (stuck in its boot? last console line: "${lastLine.slice(0, 160)}")`;
    void killGroup(qemu.pid);
  }, o.bootTimeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => qemu.on('close', (c, s) => resolve({ code: c, signal: s })));
  clearInterval(poll);
  clearTimeout(limit);
  clearTimeout(bootLimit);
  forget();
  follow();
  const elapsedMs = Date.now() - started;
  const text = fs.readFileSync(consoleFile, 'utf8');
  if (timedOut) return { status: 'timeout', detail: timedOut, elapsedMs, console: consoleFile };
  if (/reboot: Power down/.test(text)) return { status: 'powered-off', detail: 'the guest powered itself off', elapsedMs, console: consoleFile };
  const panic = /Kernel panic[^\n]*/.exec(text)?.[0];
  return { status: 'stopped', detail: panic ? `the guest kernel panicked: ${panic.trim()}` : `QEMU ended (${signal ?? `exit ${code}`}) before the guest powered off; see ${o.log}`, elapsedMs, console: consoleFile };
}

/** Serial consoles carry colour codes and cursor moves from systemd's status lines. */
export function cleanConsoleLine(line: string): string {
  return line.replace(/\u001b(\[[0-9;?]*[A-Za-z]|[A-Za-z])/g, '').replace(/\r/g, '').trimEnd();
}

export function qemuVersion(): string {
  return spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? 'qemu (version unknown)';
}
