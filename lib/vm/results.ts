/**
 * The guest's results, read back and shown. The guest writes them to its work disk
 * (vm-test/results/, see guest-run.sh); once QEMU has exited, debugfs copies that folder out of
 * the disk image without mounting it. The summary is a table per chapter and one verdict that
 * says in words what failed or did not answer.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChapterResult } from '../checks/runner.ts';
import { formatElapsed, runLogged } from './steps.ts';

export interface GuestResults {
  /** Whether the guest script got to its end ("done" marker). */
  done: boolean;
  facts: Record<string, string>;
  /** The guest's stage lines, with its uptime in seconds. */
  progress: { uptime: number; text: string }[];
  doctor?: { exitCode: number; output: string; seconds?: number };
  check?: { exitCode?: number; seconds?: number; chapters: ChapterResult[]; stderr: string };
}

/**
 * Copies vm-test/results out of the work disk into outDir/results. After a guest that was killed,
 * the disk's journal may hold the last writes: e2fsck replays it first (the disk is this run's own).
 */
export async function copyResultsOut(workDisk: string, outDir: string, options: { unclean: boolean; log: string }): Promise<string> {
  if (options.unclean) await runLogged('e2fsck', ['-fy', workDisk], { log: options.log, okCodes: [1, 2, 4] });
  fs.mkdirSync(outDir, { recursive: true });
  await runLogged('debugfs', ['-R', `rdump /vm-test/results ${outDir}`, workDisk], { log: options.log });
  return path.join(outDir, 'results');
}

export function readResults(dir: string): GuestResults {
  const read = (name: string) => {
    try {
      return fs.readFileSync(path.join(dir, name), 'utf8');
    } catch {
      return undefined;
    }
  };
  const int = (name: string) => {
    const text = read(name)?.trim();
    return text && /^\d+$/.test(text) ? Number(text) : undefined;
  };
  const results: GuestResults = {
    done: fs.existsSync(path.join(dir, 'done')),
    facts: parseFacts(read('facts.txt') ?? ''),
    progress: (read('progress') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((line) => ({ uptime: Number(line.split(' ')[0]), text: line.slice(line.indexOf(' ') + 1) })),
  };
  const doctorOutput = read('doctor.txt');
  if (doctorOutput !== undefined) results.doctor = { exitCode: int('doctor.rc') ?? -1, output: doctorOutput, seconds: int('doctor.seconds') };
  const checkOut = read('check.jsonl');
  if (checkOut !== undefined) {
    results.check = { exitCode: int('check.rc'), seconds: int('check.seconds'), chapters: parseCheckLines(checkOut), stderr: read('check.stderr') ?? '' };
  }
  return results;
}

export function parseFacts(text: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf(': ');
    if (at > 0) facts[line.slice(0, at)] = line.slice(at + 2);
  }
  return facts;
}

/** `check --json` prints one ChapterResult per line; anything else on stdout is ignored. */
export function parseCheckLines(text: string): ChapterResult[] {
  const results: ChapterResult[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as ChapterResult;
      if (typeof value.chapter === 'string' && typeof value.passed === 'number' && typeof value.failed === 'number') results.push(value);
    } catch {
      // a line that only looks like JSON
    }
  }
  return results;
}

/** chapter, passed, failed, time: one row per chapter and a total. */
export function formatTable(chapters: ChapterResult[]): string {
  const rows = chapters.map((c) => [c.chapter, String(c.passed), String(c.failed), formatElapsed(c.durationMs)]);
  const total = chapters.reduce((t, c) => ({ passed: t.passed + c.passed, failed: t.failed + c.failed, ms: t.ms + c.durationMs }), { passed: 0, failed: 0, ms: 0 });
  const head = ['chapter', 'passed', 'failed', 'time'];
  const foot = ['total', String(total.passed), String(total.failed), formatElapsed(total.ms)];
  const all = [head, ...rows, foot];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), rule, ...rows.map(line), rule, line(foot)].join('\n');
}

/** Every failure with its message, indented under its chapter. */
export function formatFailures(chapters: ChapterResult[]): string {
  const lines: string[] = [];
  for (const c of chapters) {
    for (const f of c.failures) {
      lines.push(`${c.chapter} › ${f.test}`);
      lines.push(...f.message.split('\n').map((l) => `    ${l}`));
      const where = f.exercise?.location ?? f.code ?? f.check;
      if (where) lines.push(`    at ${where}`);
    }
  }
  return lines.join('\n');
}

export interface Verdict {
  ok: boolean;
  /** What went wrong, in words; empty when ok. */
  problems: string[];
}

/**
 * Everything must have answered and passed: the guest reached its end, doctor found nothing,
 * every chapter asked for reported and none failed.
 */
export function verdict(
  results: GuestResults | undefined,
  boot: { status: 'powered-off' | 'timeout' | 'stopped'; detail: string },
  expectedChapters: string[],
): Verdict {
  const problems: string[] = [];
  const stage = results?.progress.at(-1)?.text;
  if (boot.status === 'timeout') {
    problems.push(`the guest did not answer in time: ${boot.detail}${stage ? `; its last stage was "${stage}"` : ''}`);
  } else if (boot.status === 'stopped') {
    problems.push(`the guest stopped before it finished: ${boot.detail}`);
  }
  if (!results) {
    problems.push('no results could be read from the work disk');
    return { ok: false, problems };
  }
  if (boot.status === 'powered-off' && !results.done) {
    problems.push(stage ? `the guest powered off before the test ended (last stage: "${stage}"); see the console log` : 'the guest powered off without running the test (conman-vm-test.service did not start?); see the console log');
  }
  if (!results.doctor) {
    if (results.progress.length) problems.push('doctor did not finish');
  } else if (results.doctor.exitCode !== 0) {
    const failing = results.doctor.output.split('\n').filter((l) => l.startsWith('✗')).length;
    problems.push(`doctor exited ${results.doctor.exitCode}${failing ? ` (${failing} problem${failing > 1 ? 's' : ''})` : ''}`);
  }
  if (results.check) {
    for (const c of results.check.chapters) {
      if (c.failed > 0) problems.push(`${c.chapter}: ${c.failed} check${c.failed > 1 ? 's' : ''} failed`);
      else if (c.passed === 0) problems.push(`${c.chapter}: no check passed`);
    }
    const reported = new Set(results.check.chapters.map((c) => c.chapter));
    const silent = expectedChapters.filter((c) => !reported.has(c));
    if (silent.length) {
      const why = results.check.stderr.trim().split('\n').slice(-3).join(' / ');
      problems.push(`no result for ${silent.join(', ')}${results.check.exitCode !== undefined ? ` (check exited ${results.check.exitCode}${why ? `: ${why}` : ''})` : ' (the check run did not end)'}`);
    } else if (results.check.exitCode !== undefined && results.check.exitCode !== 0 && problems.length === 0) {
      problems.push(`check exited ${results.check.exitCode}`);
    }
  } else if (results.doctor) {
    problems.push('the check run did not finish');
  }
  return { ok: problems.length === 0, problems };
}
