/**
 * `workshop vm-test`'s own logic, without a VM (booting one takes up to an hour; it is not run
 * in CI): the package list it reads from provision.sh, its options, and its report.
 */
import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { ChapterResult } from '../../lib/checks/runner.ts';
import { parseProvisionPackages, PROVISION_SCRIPT } from '../../lib/vm/packages.ts';
import { formatTable, parseCheckLines, verdict, type GuestResults } from '../../lib/vm/results.ts';
import { formatElapsed } from '../../lib/vm/steps.ts';
import { parseVmTestArgs } from '../../lib/vm/vm-test.ts';
import { guestEnv } from '../../lib/vm/work-disk.ts';

describe("provision.sh's package list", () => {
  test('is read from provision.sh itself: the VM packages, not the ones added outside the VM', () => {
    const packages = parseProvisionPackages(fs.readFileSync(PROVISION_SCRIPT, 'utf8'));
    expect(packages).toEqual(expect.arrayContaining(['runc', 'crun', 'containernetworking-plugins', 'busybox-static', 'docker-registry']));
    expect(packages).not.toContain('vagrant'); // appended with packages+=( ) only outside the VM
    expect(packages.every((p) => /^[a-z0-9][a-z0-9+.-]+$/.test(p))).toBe(true);
  });

  test('comments and several names a line are understood; only the first assignment counts', () => {
    const script = 'set -e\npackages=(\n  runc crun   # runtimes\n  # a whole-line comment\n  g++ python3\n)\npackages+=(vagrant)\n';
    expect(parseProvisionPackages(script)).toEqual(['runc', 'crun', 'g++', 'python3']);
    expect(parseProvisionPackages('packages=(runc crun)\n')).toEqual(['runc', 'crun']);
  });

  test('anything bash would expand is refused, not guessed', () => {
    expect(() => parseProvisionPackages('packages=(\n  runc "$extra"\n)\n')).toThrow(/not a plain package name/);
    expect(() => parseProvisionPackages('echo no list here\n')).toThrow(/no `packages=\(` line/);
    expect(() => parseProvisionPackages('packages=(\n  runc\n')).toThrow(/never closed/);
  });
});

describe('options', () => {
  test('defaults, and each flag', () => {
    expect(parseVmTestArgs([])).toEqual({ rebuild: false, accel: undefined, slow: undefined, timeoutMin: undefined, chapters: 'all', keep: false });
    expect(parseVmTestArgs(['--accel', 'tcg', '--slow', '4', '--timeout', '90', '--chapter', '1', '--rebuild', '--keep'])).toEqual({
      rebuild: true,
      accel: 'tcg',
      slow: 4,
      timeoutMin: 90,
      chapters: '01',
      keep: true,
    });
    expect(() => parseVmTestArgs(['--accel', 'hvf'])).toThrow(/use kvm or tcg/);
    expect(() => parseVmTestArgs(['--slow', 'fast'])).toThrow(/positive number/);
  });

  test("the guest's settings file", () => {
    expect(guestEnv({ slow: 8, chapters: 'all' })).toBe('WORKSHOP_SLOW=8\nVMTEST_CHAPTERS=all\n');
    expect(guestEnv({ chapters: '02' })).toBe('WORKSHOP_SLOW=\nVMTEST_CHAPTERS=02\n');
    expect(() => guestEnv({ chapters: '02; reboot' })).toThrow();
  });
});

const chapter = (name: string, passed: number, failed: number, durationMs: number, failures: ChapterResult['failures'] = []): ChapterResult => ({
  chapter: name,
  target: '/home/vagrant/conman-workshop/solutions',
  passed,
  failed,
  skipped: 0,
  durationMs,
  ok: failed === 0 && passed > 0,
  failures,
});

describe('the report', () => {
  const sample = [
    chapter('00-setup', 6, 0, 12_300),
    chapter('01-bundle', 9, 1, 95_000, [{ test: 'runc run › prints hello', message: 'exec /bin/sh: permission denied' }]),
  ];
  const jsonl = 'provision: system packages OK\n' + sample.map((c) => JSON.stringify(c)).join('\n') + '\n';

  test('check --json lines are read back, other output skipped', () => {
    expect(parseCheckLines(jsonl)).toEqual(sample);
    expect(parseCheckLines('{not json\n')).toEqual([]);
  });

  test('a table per chapter with a total', () => {
    expect(formatTable(sample)).toBe(
      [
        'chapter    passed  failed  time',
        '---------  ------  ------  ----',
        '00-setup        6       0  0:12',
        '01-bundle       9       1  1:35',
        '---------  ------  ------  ----',
        'total          15       1  1:47',
      ].join('\n'),
    );
    expect(formatElapsed(3_725_000)).toBe('1:02:05');
  });

  const results = (over: Partial<GuestResults> = {}): GuestResults => ({
    done: true,
    facts: {},
    progress: [{ uptime: 40, text: 'guest up' }, { uptime: 900, text: 'finished; powering off' }],
    doctor: { exitCode: 0, output: '✓ root ...\nthis machine can run the workshop\n' },
    check: { exitCode: 0, chapters: [chapter('00-setup', 6, 0, 1000), chapter('01-bundle', 10, 0, 1000)], stderr: '' },
    ...over,
  });
  const poweredOff = { status: 'powered-off' as const, detail: '' };
  const expected = ['00-setup', '01-bundle'];

  test('all green only when everything answered and passed', () => {
    expect(verdict(results(), poweredOff, expected)).toEqual({ ok: true, problems: [] });
  });

  test('failures, a missing chapter and a failing doctor are named', () => {
    const v = verdict(
      results({
        doctor: { exitCode: 1, output: '✗ runc    not found\n1 problem(s)\n' },
        check: { exitCode: 1, chapters: [sample[1]], stderr: '' },
      }),
      poweredOff,
      expected,
    );
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual(['doctor exited 1 (1 problem)', '01-bundle: 1 check failed', 'no result for 00-setup (check exited 1)']);
  });

  test('a guest that did not answer in time says where it was', () => {
    const stuck = results({ done: false, check: undefined, progress: [{ uptime: 40, text: 'guest up' }, { uptime: 60, text: 'check all --target solutions' }] });
    const v = verdict(stuck, { status: 'timeout', detail: 'no power-off within 180 min (--timeout)' }, expected);
    expect(v.problems[0]).toBe('the guest did not answer in time: no power-off within 180 min (--timeout); its last stage was "check all --target solutions"');
    const silent = verdict(results({ done: false, progress: [], doctor: undefined, check: undefined }), { status: 'timeout', detail: "the guest's test did not start within 20 min of the boot" }, expected);
    expect(silent.problems).toEqual(["the guest did not answer in time: the guest's test did not start within 20 min of the boot"]);
  });
});
