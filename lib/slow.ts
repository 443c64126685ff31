/**
 * One factor for every wait in the workshop: the checks' timeouts, the shim's handshake, the
 * daemon's "said nothing within ..." deadlines. A slow VM (nested virtualisation, an emulated
 * CPU, a small cloud instance) is a real learner's machine: there the same work takes 5-20
 * times longer, and a fixed 10 s deadline turns a correct answer into a failure.
 *
 * The factor comes from WORKSHOP_SLOW (a learner or an operator sets it: WORKSHOP_SLOW=3), else
 * from what `workshop doctor` measured on this machine (kept in .workshop/slow.json), else 1.
 * It never goes below 1: a fast machine keeps the deadlines the lessons quote.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';
import { WORKSHOP_STATE_DIR } from './paths.ts';

const MEASURED_FILE = path.join(WORKSHOP_STATE_DIR, 'slow.json');

export interface MeasuredSlowness {
  factor: number;
  /** What was timed, e.g. "runc run of busybox true: 412 ms (reference 60 ms)". */
  basis: string;
  at: string;
}

function parseFactor(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`WORKSHOP_SLOW=${JSON.stringify(text)}: use a number such as 2 or 3.5 (how many times slower than a normal machine)`);
  }
  return value;
}

export function readMeasuredSlowness(): MeasuredSlowness | undefined {
  try {
    const data = JSON.parse(fs.readFileSync(MEASURED_FILE, 'utf8')) as MeasuredSlowness;
    return Number.isFinite(data.factor) && data.factor > 0 ? data : undefined;
  } catch {
    return undefined;
  }
}

export function saveMeasuredSlowness(measured: MeasuredSlowness): void {
  fs.mkdirSync(WORKSHOP_STATE_DIR, { recursive: true });
  writeFileAtomic(MEASURED_FILE, JSON.stringify(measured, null, 2) + '\n');
}

/** Where the factor came from, for `doctor` and the check report. */
export function slowFactorSource(): { factor: number; source: string } {
  const fromEnv = parseFactor(process.env.WORKSHOP_SLOW);
  if (fromEnv !== undefined) return { factor: Math.max(1, fromEnv), source: `WORKSHOP_SLOW=${process.env.WORKSHOP_SLOW}` };
  const measured = readMeasuredSlowness();
  if (measured) return { factor: Math.max(1, measured.factor), source: `measured by workshop doctor (${measured.basis})` };
  return { factor: 1, source: 'default' };
}

/** The factor itself, read once per process. */
export const SLOW: number = slowFactorSource().factor;

/** A deadline for this machine: `ms` on a normal one, `ms * SLOW` on a slow one. */
export function scaled(ms: number): number {
  return Math.round(ms * SLOW);
}
