/**
 * Starters are generated from the solutions. In a solution file, an exercise is a region:
 *
 *     // EXERCISE(rootfs): create the folders, copy busybox ...     <- id and task
 *     // Hints: ...                                                 <- kept in the starter
 *     ...the reference code...                                       <- replaced by a stub
 *     // END EXERCISE
 *
 * The starter keeps the markers and the comments, and replaces the code with
 * `throw notImplemented('01-bundle/rootfs', '<task>')`. Files without regions are copied as
 * they are. Files only in chapters/ (the lesson README.md) are the chapter's own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CHAPTERS_DIR, REPO_ROOT, SOLUTIONS_DIR } from '../paths.ts';

const START = /^(\s*)\/\/ EXERCISE\(([a-z0-9-]+)\): (.+)$/;
const END = /^\s*\/\/ END EXERCISE\s*$/;
const COMMENT = /^\s*\/\//;

export interface Exercise {
  /** e.g. "01-bundle/rootfs" */
  id: string;
  chapter: string;
  /** Path relative to the chapter folder, e.g. "rootfs.ts" */
  file: string;
  task: string;
  /** Line of the EXERCISE marker in the starter file. */
  line: number;
}

export class MarkerError extends Error {}

/**
 * For each exercise: true stubs it, false keeps the reference code, and lines replace the
 * region's code (a wrong answer, or a mutant: see wrong-answers.ts and mutate.ts). Lines are
 * indented like the marker.
 */
export type StubChoice = (exerciseId: string) => boolean | string[];

/**
 * Turn one solution file's text into its starter; also return the exercises found. With
 * `stub`, only the exercises it picks are stubbed and the others keep the reference code
 * (the suite uses this to prove each exercise, on its own, makes the checks fail).
 */
export function toStarter(
  chapter: string,
  file: string,
  source: string,
  stub: StubChoice = () => true,
): { text: string; exercises: Exercise[] } {
  const lines = source.split('\n');
  const out: string[] = [];
  const exercises: Exercise[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = START.exec(lines[i]);
    if (!start) {
      if (END.test(lines[i])) throw new MarkerError(`${chapter}/${file}:${i + 1}: END EXERCISE without EXERCISE`);
      out.push(lines[i]);
      continue;
    }
    const [, indent, name, task] = start;
    const exercise = { id: `${chapter}/${name}`, chapter, file, task, line: i + 1 };
    if (exercises.some((e) => e.id === exercise.id)) throw new MarkerError(`${chapter}/${file}:${i + 1}: exercise ${name} appears twice`);
    exercises.push(exercise);
    out.push(lines[i]);
    i++;
    while (i < lines.length && COMMENT.test(lines[i]) && !END.test(lines[i]) && !START.test(lines[i])) out.push(lines[i++]);
    const body: string[] = [];
    while (i < lines.length && !END.test(lines[i])) {
      if (START.test(lines[i])) throw new MarkerError(`${chapter}/${file}:${i + 1}: exercise inside exercise ${name}`);
      body.push(lines[i++]);
    }
    if (i >= lines.length) throw new MarkerError(`${chapter}/${file}:${exercise.line}: exercise ${name} has no END EXERCISE`);
    if (body.every((line) => !line.trim())) throw new MarkerError(`${chapter}/${file}:${exercise.line}: exercise ${name} has no reference code`);
    const choice = stub(exercise.id);
    if (choice === true) out.push(`${indent}throw notImplemented(${JSON.stringify(exercise.id)}, ${JSON.stringify(task)});`);
    else if (Array.isArray(choice)) out.push(...reindent(choice, indent));
    else out.push(...body);
    out.push(lines[i]);
  }
  if (!exercises.some((exercise) => stub(exercise.id) === true)) return { text: out.join('\n'), exercises };
  const starter = addImport(out, '#lib/not-implemented.ts');
  // Point each exercise at its line in the starter, where the learner works.
  for (const exercise of exercises) {
    exercise.line = starter.findIndex((line) => line.includes(`// EXERCISE(${exercise.id.split('/')[1]}):`)) + 1;
  }
  return { text: starter.join('\n'), exercises };
}

/** `lines` with their common indentation replaced by `indent`. */
function reindent(lines: string[], indent: string): string[] {
  const common = Math.min(...lines.filter((line) => line.trim()).map((line) => /^\s*/.exec(line)![0].length));
  return lines.map((line) => (line.trim() ? indent + line.slice(Number.isFinite(common) ? common : 0) : ''));
}

/** The reference code of one exercise region (without its markers and leading comments). */
export function regionBody(exerciseId: string): { file: string; indent: string; body: string[] } {
  const [chapter, name] = exerciseId.split('/');
  for (const file of solutionFiles(chapter)) {
    const lines = fs.readFileSync(path.join(SOLUTIONS_DIR, chapter, file), 'utf8').split('\n');
    const at = lines.findIndex((line) => START.exec(line)?.[2] === name);
    if (at < 0) continue;
    let i = at + 1;
    while (COMMENT.test(lines[i]) && !END.test(lines[i])) i++;
    const body: string[] = [];
    while (!END.test(lines[i])) body.push(lines[i++]);
    return { file, indent: START.exec(lines[at])![1], body };
  }
  throw new Error(`no exercise ${exerciseId} in solutions/`);
}

/** Insert the notImplemented import after the file's last top-level import. */
function addImport(lines: string[], from: string): string[] {
  const statement = `import { notImplemented } from '${from}';`;
  let last = -1;
  for (let i = 0; i < lines.length; i++) {
    if (/^import\s/.test(lines[i]) || /^\} from ['"].+['"];\s*$/.test(lines[i])) {
      // a multi-line import ends on its "} from '...';" line
      let j = i;
      while (j < lines.length && !/['"];\s*$/.test(lines[j])) j++;
      last = j;
      i = j;
    }
  }
  const at = last >= 0 ? last + 1 : 0;
  return [...lines.slice(0, at), statement, ...lines.slice(at)];
}

/** Every file of a chapter's solution, relative to its folder. */
export function solutionFiles(chapter: string): string[] {
  const root = path.join(SOLUTIONS_DIR, chapter);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(path.relative(root, full));
    }
  };
  if (fs.existsSync(root)) walk(root);
  return files.sort();
}

/** What chapters/<chapter>/ should hold for each solution file (or, with `stub`, a partial starter). */
export function expectedStarters(chapter: string, stub?: StubChoice): { file: string; text: string; exercises: Exercise[] }[] {
  return solutionFiles(chapter).map((file) => {
    const source = fs.readFileSync(path.join(SOLUTIONS_DIR, chapter, file), 'utf8');
    return { file, ...toStarter(chapter, file, source, stub) };
  });
}

export function exercisesOf(chapter: string): Exercise[] {
  return expectedStarters(chapter).flatMap((starter) => starter.exercises);
}

/** The permission bits a starter gets: its solution's (so `conman` stays executable). */
function modeOf(chapter: string, file: string): number {
  return fs.statSync(path.join(SOLUTIONS_DIR, chapter, file)).mode & 0o777;
}

/** Files of chapters/<chapter>/ that differ from what the solutions generate (content or mode). */
export function outdatedStarters(chapter: string): string[] {
  return expectedStarters(chapter)
    .filter(({ file, text }) => {
      const target = path.join(CHAPTERS_DIR, chapter, file);
      return !fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== text || (fs.statSync(target).mode & 0o111) !== (modeOf(chapter, file) & 0o111);
    })
    .map(({ file }) => path.join('chapters', chapter, file));
}

/**
 * Write the starters of one chapter into `root` (default chapters/); returns the files written.
 * `stub` picks which exercises to stub (default: all).
 */
export function writeStarters(chapter: string, root = CHAPTERS_DIR, stub?: StubChoice): string[] {
  const written: string[] = [];
  for (const { file, text } of expectedStarters(chapter, stub)) {
    const target = path.join(root, chapter, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const mode = modeOf(chapter, file);
    if (fs.existsSync(target) && fs.readFileSync(target, 'utf8') === text && (fs.statSync(target).mode & 0o111) === (mode & 0o111)) continue;
    fs.writeFileSync(target, text);
    fs.chmodSync(target, mode);
    written.push(path.relative(REPO_ROOT, target));
  }
  return written;
}
