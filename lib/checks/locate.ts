/**
 * Where a failure sends the learner: found in the learner's CURRENT files, by the exercise
 * markers (`// EXERCISE(name)` … `// END EXERCISE`, or the stub's `notImplemented("NN-slug/name"`),
 * never by the starter's line numbers, which go stale as soon as the learner writes code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { exercisesOf, type Exercise } from '../authoring/starters.ts';
import { availableChapters } from '../manifest.ts';
import { REPO_ROOT } from '../paths.ts';

export interface Region {
  /** Exercise name, e.g. "create". */
  name: string;
  /** 1-based lines of the marker and of its END (or of the stub when the END is missing). */
  start: number;
  end: number;
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n');
  } catch {
    return [];
  }
}

const START = /\/\/ EXERCISE\(([a-z0-9-]+)\)/;
const END = /^\s*\/\/ END EXERCISE\s*$/;

/** The exercise regions of a file as it is now. */
export function regionsIn(file: string): Region[] {
  const lines = readLines(file);
  const regions: Region[] = [];
  let open: Region | undefined;
  lines.forEach((line, i) => {
    const start = START.exec(line);
    if (start) {
      if (open) regions.push({ ...open, end: i });
      open = { name: start[1], start: i + 1, end: lines.length };
    } else if (open && END.test(line)) {
      regions.push({ ...open, end: i + 1 });
      open = undefined;
    }
  });
  if (open) regions.push(open);
  return regions;
}

/** The line of an exercise in the learner's current file: its marker, else its stub, else the starter's line. */
export function exerciseLine(root: string, exercise: Exercise): number {
  const lines = readLines(path.join(root, exercise.chapter, exercise.file));
  const name = exercise.id.split('/')[1];
  const marker = lines.findIndex((line) => line.includes(`// EXERCISE(${name})`));
  if (marker >= 0) return marker + 1;
  const stub = lines.findIndex((line) => new RegExp(`notImplemented\\(\\s*["'\`]${exercise.id}["'\`]`).test(line));
  if (stub >= 0) return stub + 1;
  return exercise.line;
}

/** "chapters/02-lifecycle/runtime.ts:173" */
export function exerciseLocation(root: string, exercise: Exercise): string {
  return `${path.relative(REPO_ROOT, path.join(root, exercise.chapter, exercise.file))}:${exerciseLine(root, exercise)}`;
}

let everyExercise: Map<string, Exercise> | undefined;
/** Every exercise of every chapter, by id ("02-lifecycle/create"). */
export function findExercise(id: string): Exercise | undefined {
  everyExercise ??= new Map(availableChapters().flatMap((chapter) => exercisesOf(chapter.folder).map((e) => [e.id, e] as const)));
  return everyExercise.get(id);
}

/** The exercise whose region holds line `line` of `file` (a learner's file, as it is now). */
export function exerciseAt(file: string, line: number): string | undefined {
  return regionsIn(file).find((region) => line >= region.start && line <= region.end)?.name;
}

/**
 * The exercise inside the definition of `name` (a function, class or method) in `file`: the
 * first region between the definition and the line that closes it (same indentation).
 */
export function exerciseInDefinition(file: string, name: string): string | undefined {
  const lines = readLines(file);
  const escaped = name.replace(/[$]/g, '\\$');
  const definition = new RegExp(
    `^(\\s*)(?:export\\s+)?(?:default\\s+)?(?:(?:async\\s+)?function\\*?\\s+${escaped}\\b|(?:abstract\\s+)?class\\s+${escaped}\\b|(?:(?:public|private|protected|static|async|override)\\s+)*${escaped}\\s*(?:<[^>]*>)?\\(|(?:const|let)\\s+${escaped}\\s*=)`,
  );
  for (let i = 0; i < lines.length; i++) {
    const match = definition.exec(lines[i]);
    if (!match) continue;
    const indent = match[1].length;
    let end = lines.length;
    for (let j = i + 1; j < lines.length; j++) {
      const text = lines[j];
      if (text.trim() && text.length - text.trimStart().length <= indent && /^\s*[}\])]/.test(text)) {
        end = j + 1;
        break;
      }
    }
    const region = regionsIn(file).find((r) => r.start > i && r.start <= end);
    if (region) return region.name;
  }
  return undefined;
}

/** Every exercise file of a chapter under `root`, for looking up definitions. */
function exerciseFiles(root: string, chapter: string): string[] {
  return [...new Set(exercisesOf(chapter).map((e) => path.join(root, chapter, e.file)))];
}

/**
 * The exercise a check is about, from its title: a check about one exercise starts its title
 * with the exercise's name or the function it fills in, then a colon or a space
 * (`create: …`, `reapZombies: …`, `readNamespaces lists …`), or sits in a short describe block
 * named so (`the rootfs`).
 */
export function exerciseNamedBy(titles: string[], chapter: string, root: string): string | undefined {
  const names = exercisesOf(chapter).map((e) => e.id.split('/')[1]);
  const candidates = [...titles].reverse().map((title, i) => ({ title, isTest: i === 0 }));
  for (const { title, isTest } of candidates) {
    const words = title.replace(/^(the|a|an)\s+/i, '').trim();
    const colon = words.indexOf(':');
    const phrase = (colon > 0 && colon <= 40 ? words.slice(0, colon) : words.split(/[\s,]+/)[0]).replace(/`/g, '').trim();
    // A describe block names an exercise when it is short (`the rootfs`) or starts `name:` / `name,`.
    if (!isTest && words.split(/\s+/).length > 2 && !/^[\w$-]+[:,]/.test(words)) continue;
    if (!phrase) continue;
    const dashed = phrase.toLowerCase().replace(/\s+/g, '-');
    if (names.includes(dashed)) return dashed;
    const parts = phrase.split(/\s+/);
    if (!parts.every((part) => /^[A-Za-z_$][\w$]*$/.test(part))) continue;
    const camel = parts.map((part, i) => (i ? part[0].toUpperCase() + part.slice(1) : part)).join('');
    for (const identifier of new Set([camel, camel[0].toUpperCase() + camel.slice(1)])) {
      for (const file of exerciseFiles(root, chapter)) {
        const found = exerciseInDefinition(file, identifier);
        if (found) return found;
      }
    }
  }
  return undefined;
}

export interface Frame {
  file: string;
  line: number;
}

/** The frames of a stack ("    at fn (/path/file.ts:12:5)"), not its message, which may quote paths. */
export function stackFrames(stack: string): Frame[] {
  const frames: Frame[] = [];
  for (const line of stack.split('\n')) {
    if (!/^\s+at /.test(line)) continue;
    const match = /(?:\(|at )(?:file:\/\/)?(\/[^():]+?\.[cm]?[jt]sx?):(\d+)(?::\d+)?\)?\s*$/.exec(line);
    if (match) frames.push({ file: match[1], line: Number(match[2]) });
  }
  return frames;
}

/**
 * The names of the functions, methods and classes a line sits in, innermost first (each a
 * definition above it, less indented): a region in `write` of `class CriLogWriter` gives
 * ['write', 'CriLogWriter'].
 */
function enclosingDefinitions(lines: string[], line: number): string[] {
  const indent = (text: string) => text.length - text.trimStart().length;
  const names: string[] = [];
  let limit = indent(lines[line - 1] ?? '');
  for (let i = line - 2; i >= 0 && limit > 0; i--) {
    const text = lines[i];
    if (!text.trim() || indent(text) >= limit) continue;
    // (a method's return type may hold braces: `reapZombies(): { pid: number }[] {`)
    const match = /^\s*(?:export\s+)?(?:default\s+)?(?:(?:async\s+)?function\*?\s+([\w$]+)|(?:abstract\s+)?class\s+([\w$]+)|(?:(?:public|private|protected|static|async|override)\s+)*([\w$]+)\s*(?:<[^>]*>)?\(.*\)\s*(?::.*)?\{\s*$|(?:const|let)\s+([\w$]+)\s*=)/.exec(text);
    const name = match?.[1] ?? match?.[2] ?? match?.[3] ?? match?.[4];
    if (name && !['if', 'for', 'while', 'switch', 'catch', 'function'].includes(name)) names.push(name);
    limit = indent(text);
  }
  return names;
}

/**
 * A vitest -t pattern for the checks about the exercises in `files` (the files just saved): the
 * checks whose title starts with an exercise's name or the function holding it (the titles
 * convention of exerciseNamedBy). Undefined when the files hold no exercise.
 */
export function checksAboutFiles(files: string[]): string | undefined {
  const words = new Set<string>();
  for (const file of files) {
    const lines = readLines(file);
    for (const region of regionsIn(file)) {
      words.add(region.name);
      words.add(region.name.replace(/-/g, ' '));
      for (const holder of enclosingDefinitions(lines, region.start)) words.add(holder);
    }
  }
  if (words.size === 0) return undefined;
  const escaped = [...words].map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // vitest matches the full name: the describe titles and the test's, joined by spaces.
  return `(^|\\s)(the\\s+)?(${escaped.join('|')})([:,]|\\s)`;
}
