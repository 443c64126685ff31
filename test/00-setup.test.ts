/**
 * Chapter 00 checks: the machine can run containers (doctor), and the learner's namespace
 * reader tells which namespaces two real processes share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, test } from 'vitest';
import { runDoctor } from '../lib/doctor.ts';
import { caught } from '../lib/harness/caught.ts';
import { importTarget } from '../lib/harness/target.ts';
import { requireCommand, requireRoot } from '../lib/harness/require.ts';
import { scaled } from '../lib/slow.ts';

type Namespaces = typeof import('../solutions/00-setup/namespaces.ts');
const chapter = () => importTarget<Namespaces>('00-setup/namespaces.ts');

describe('the machine', () => {
  test('doctor: every requirement is met, or named with its fix', async () => {
    requireRoot();
    const failures = (await runDoctor()).filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}\n    fix: ${c.fix}`);
    expect(failures, `doctor found problems:\n${failures.join('\n')}`).toEqual([]);
  });
});

describe('reading /proc/PID/ns', () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((child) => child.kill('SIGKILL')));

  /** A process in new uts and ipc namespaces, everything else shared with us. */
  async function startUnshared(): Promise<number> {
    requireCommand('unshare', 'util-linux');
    const child = spawn('unshare', ['--uts', '--ipc', 'sleep', '30'], { stdio: 'ignore' });
    children.push(child);
    // unshare execs sleep in the new namespaces: wait until /proc shows sleep.
    for (const deadline = Date.now() + scaled(2000); Date.now() < deadline; ) {
      const comm = await import('node:fs/promises').then((fs) => fs.readFile(`/proc/${child.pid}/comm`, 'utf8').catch(() => ''));
      if (comm.trim() === 'sleep') return child.pid!;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('unshare --uts --ipc sleep 30 did not start');
  }

  test('readNamespaces lists every namespace of a process as type:[inode]', async () => {
    const { readNamespaces } = await chapter();
    const links = await readNamespaces('self');
    for (const type of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts']) {
      expect(links.get(type), `/proc/self/ns/${type}`).toMatch(new RegExp(`^${type}:\\[\\d+\\]$`));
    }
  });

  test('readNamespaces reads every entry of /proc/PID/ns, for another process too', async () => {
    const { readNamespaces } = await chapter();
    const fs = await import('node:fs');
    const pid = await startUnshared(); // its uts and ipc namespaces are not ours
    const links = await readNamespaces(pid);
    const entries = fs.readdirSync(`/proc/${pid}/ns`).sort();
    expect([...links.keys()].sort(), `the entries of /proc/${pid}/ns`).toEqual(entries);
    for (const name of entries) expect(links.get(name), `/proc/${pid}/ns/${name}`).toBe(fs.readlinkSync(`/proc/${pid}/ns/${name}`));
  });

  test('readNamespaces names the pid of a process that does not exist', async () => {
    const { readNamespaces } = await chapter();
    const error = await caught(readNamespaces(4_194_304));
    expect(error?.message, 'the error for a missing process ("no process 4194304: ...")').toMatch(/process\D*4194304/i);
  });

  test('readNamespaces: a process it may not read is an error with the path and the code, not "no process"', async () => {
    const { readNamespaces } = await chapter();
    const pid = await startUnshared();
    // As an ordinary user (nobody), another user's /proc/PID/ns cannot be read: EACCES, while
    // the process exists. Only the effective uid changes, for this one call, and back.
    process.setegid!(65534);
    process.seteuid!(65534);
    let timer: NodeJS.Timeout | undefined;
    let error: Error | undefined;
    try {
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('readNamespaces did not settle')), scaled(3000))));
      error = await caught(Promise.race([readNamespaces(pid), late]));
    } finally {
      clearTimeout(timer);
      process.seteuid!(0);
      process.setegid!(0);
    }
    expect(error, `readNamespaces(${pid}) as a user who may not read /proc/${pid}/ns: an error`).toBeInstanceOf(Error);
    expect(error?.message, `the error for /proc/${pid}/ns, which exists but may not be read (EACCES): the process is there`).not.toMatch(/no process/i);
    expect(error?.message, 'the error names the path').toMatch(new RegExp(`/proc/${pid}/ns`));
    expect(error?.message, 'the error names the code (EACCES), so it tells a missing process from a forbidden one').toMatch(/EACCES/);
  });

  test('compareNamespaces looks at every type of both processes (maps made by hand)', async () => {
    const { compareNamespaces } = await chapter();
    const a = new Map([['uts', 'uts:[1]'], ['net', 'net:[2]'], ['ipc', 'ipc:[3]'], ['mnt', 'mnt:[4]']]);
    const b = new Map([['time', 'time:[9]'], ['net', 'net:[2]'], ['mnt', 'mnt:[5]'], ['uts', 'uts:[1]']]);
    expect(compareNamespaces(a, b), 'ipc only in the first, time only in the second').toEqual({ shared: ['net', 'uts'], separate: ['ipc', 'mnt', 'time'] });
    expect(compareNamespaces(b, a), 'the other way round').toEqual({ shared: ['net', 'uts'], separate: ['ipc', 'mnt', 'time'] });
    expect(compareNamespaces(new Map(), new Map()), 'two empty maps').toEqual({ shared: [], separate: [] });
  });

  test('compareNamespaces: a process made with `unshare --uts --ipc` shares all but uts and ipc', async () => {
    const { readNamespaces, compareNamespaces } = await chapter();
    const pid = await startUnshared();
    const { shared, separate } = compareNamespaces(await readNamespaces('self'), await readNamespaces(pid));
    expect(separate, 'separate: the namespaces unshare made new').toEqual(['ipc', 'uts']);
    expect(shared, 'shared: every namespace unshare did not touch').toEqual(expect.arrayContaining(['cgroup', 'mnt', 'net', 'pid', 'user']));
    expect(shared, 'shared').not.toContain('uts');
  });

  test('compareNamespaces: a process shares every namespace with itself', async () => {
    const { readNamespaces, compareNamespaces } = await chapter();
    const links = await readNamespaces('self');
    expect(compareNamespaces(links, links), 'a process compared with itself').toEqual({ shared: [...links.keys()].sort(), separate: [] });
  });
});
