/**
 * Mutation testing over the exercise regions (authoring only, not in CI):
 *
 *     npm run workshop -- mutate [NN...] [--full] [--limit N]
 *
 * Each mutant is the reference code of ONE exercise region with one small change (a flipped
 * comparison, a removed statement, a changed constant...). It is written into a tree of its
 * own, like a wrong answer, and the exercise's own checks run against it (the "caught by"
 * patterns of its wrong answers in test/wrong-answers/); with --full, the mutants that survive
 * those meet the chapter's whole suite too. A mutant no check rejects is a hole in the checks
 * (or a change that does not matter: read it and decide).
 *
 * Why not Stryker: its vitest runner switches mutants inside the test process, but much of
 * the code under test here runs in other processes the checks start (the shim, conmand, a
 * creator script), where Stryker cannot switch them. Real files per mutant work everywhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import type { ChapterInfo } from '../manifest.ts';
import { SCRATCH_TREES_DIR } from '../paths.ts';
import { scaled } from '../slow.ts';
import { exercisesOf, regionBody } from './starters.ts';
import { runVariants, writeVariantTree, wrongAnswersOf, type Variant } from './wrong-answers.ts';

export interface Mutant {
  exercise: string;
  /** e.g. "line 4: === → !==" */
  description: string;
  body: string[];
}

const SWAPS: Partial<Record<ts.SyntaxKind, string>> = {
  [ts.SyntaxKind.EqualsEqualsEqualsToken]: '!==',
  [ts.SyntaxKind.ExclamationEqualsEqualsToken]: '===',
  [ts.SyntaxKind.LessThanToken]: '<=',
  [ts.SyntaxKind.LessThanEqualsToken]: '<',
  [ts.SyntaxKind.GreaterThanToken]: '>=',
  [ts.SyntaxKind.GreaterThanEqualsToken]: '>',
  [ts.SyntaxKind.AmpersandAmpersandToken]: '||',
  [ts.SyntaxKind.BarBarToken]: '&&',
  [ts.SyntaxKind.PlusToken]: '-',
  [ts.SyntaxKind.MinusToken]: '+',
  [ts.SyntaxKind.QuestionQuestionToken]: '&&',
  [ts.SyntaxKind.AmpersandToken]: '|',
  [ts.SyntaxKind.GreaterThanGreaterThanToken]: '<<',
};

/** Every single-change mutant of one exercise region. */
export function mutantsOf(exercise: string): Mutant[] {
  const { body } = regionBody(exercise);
  const text = body.join('\n');
  // Parse the region as the body of a function (it may use `this`, `await`, `return`).
  const prefix = 'async function __region__() {\n';
  const source = ts.createSourceFile('region.ts', prefix + text + '\n}', ts.ScriptTarget.ES2022, true);
  const edits: { start: number; end: number; replacement: string; what: string }[] = [];
  const at = (node: ts.Node) => node.getStart(source) - prefix.length;
  const end = (node: ts.Node) => node.getEnd() - prefix.length;
  const visit = (node: ts.Node) => {
    if (ts.isBinaryExpression(node) && SWAPS[node.operatorToken.kind]) {
      edits.push({ start: at(node.operatorToken), end: end(node.operatorToken), replacement: SWAPS[node.operatorToken.kind]!, what: `${node.operatorToken.getText(source)} → ${SWAPS[node.operatorToken.kind]}` });
    } else if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.ExclamationToken) {
      edits.push({ start: at(node), end: end(node), replacement: node.operand.getText(source), what: `drop the ! of ${node.getText(source).slice(0, 30)}` });
    } else if (node.kind === ts.SyntaxKind.TrueKeyword || node.kind === ts.SyntaxKind.FalseKeyword) {
      edits.push({ start: at(node), end: end(node), replacement: node.kind === ts.SyntaxKind.TrueKeyword ? 'false' : 'true', what: `${node.getText(source)} flipped` });
    } else if (ts.isNumericLiteral(node)) {
      const value = Number(node.text);
      edits.push({ start: at(node), end: end(node), replacement: String(value === 0 ? 1 : value + 1), what: `${node.getText(source)} → ${value === 0 ? 1 : value + 1}` });
    } else if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && node.text.length > 0 && !ts.isPropertyAssignment(node.parent) && !ts.isLiteralTypeNode(node.parent) && !ts.isIndexedAccessTypeNode(node.parent.parent)) {
      // (not a literal of a type, `PodCreateRequest['host']`: changing it changes nothing that runs)
      edits.push({ start: at(node), end: end(node), replacement: "''", what: `${node.getText(source).slice(0, 30).trimEnd()} → ''` });
    } else if (ts.isIfStatement(node)) {
      for (const value of ['true', 'false']) edits.push({ start: at(node.expression), end: end(node.expression), replacement: value, what: `if (${node.expression.getText(source).slice(0, 40)}) → if (${value})` });
    } else if (ts.isConditionalExpression(node)) {
      for (const value of ['true', 'false']) edits.push({ start: at(node.condition), end: end(node.condition), replacement: value, what: `${node.condition.getText(source).slice(0, 40)} ? → ${value} ?` });
    } else if (ts.isArrayLiteralExpression(node) && node.elements.length > 0) {
      edits.push({ start: at(node), end: end(node), replacement: '[]', what: `${node.getText(source).slice(0, 30)} → []` });
    }
    // Remove a statement (not declarations: removing those only makes code that does not compile).
    if ((ts.isExpressionStatement(node) || ts.isIfStatement(node) || ts.isForOfStatement(node) || ts.isForStatement(node) || ts.isWhileStatement(node)) && ts.isBlock(node.parent)) {
      edits.push({ start: at(node), end: end(node), replacement: ';', what: `remove \`${node.getText(source).split('\n')[0].slice(0, 50)}\`` });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edits
    .filter((edit) => edit.start >= 0 && edit.end <= text.length)
    .map((edit) => {
      const line = text.slice(0, edit.start).split('\n').length;
      return { exercise, description: `line ${line}: ${edit.what}`, body: (text.slice(0, edit.start) + edit.replacement + text.slice(edit.end)).split('\n') };
    });
}

/** The checks that belong to an exercise: the union of its wrong answers' "caught by". */
export function ownChecksPattern(exercise: string): string | undefined {
  const chapter = exercise.split('/')[0];
  const patterns = [...new Set(wrongAnswersOf(chapter).filter((w) => w.exercise === exercise).map((w) => w.caughtBy))];
  return patterns.length ? patterns.map((p) => `(?:${p})`).join('|') : undefined;
}

export interface MutationReport {
  chapter: string;
  mutants: number;
  killed: number;
  survivors: Mutant[];
  /** Mutants no check gave a verdict on: their batch ran out of time (a mutant that loops forever), or none of their checks ran. */
  hung: Mutant[];
  durationMs: number;
}

/** Mutants per vitest run: a batch that hangs (a mutant looping forever blocks its worker) loses only these. */
const BATCH = 8;

/** Run every mutant of `chapter`'s exercises; report the survivors. */
export async function mutateChapter(chapter: ChapterInfo, options: { full?: boolean; limit?: number; onProgress?: (line: string) => void } = {}): Promise<MutationReport> {
  const started = Date.now();
  const mutants = exercisesOf(chapter.folder).flatMap((e) => mutantsOf(e.id).slice(0, options.limit ?? Infinity));
  options.onProgress?.(`${chapter.folder}: ${mutants.length} mutants`);
  const hung = new Set<Mutant>();
  const run = async (list: Mutant[], own: boolean) => {
    const survivors: Mutant[] = [];
    for (let first = 0; first < list.length; first += BATCH) {
      const batch = list.slice(first, first + BATCH);
      const variants: Variant[] = batch.map((mutant, i) => ({
        name: `m${first + i}`,
        chapter,
        tree: writeVariantTree(path.join(SCRATCH_TREES_DIR, `mutant-${chapter.number}-${first + i}`), chapter.folder, mutant.exercise, mutant.body),
        pattern: own ? (ownChecksPattern(mutant.exercise) ?? '.') : '.',
      }));
      try {
        const results = await runVariants(variants, { timeoutMs: scaled(own ? 300_000 : 900_000) });
        batch.forEach((mutant, i) => {
          const result = results.get(`m${first + i}`);
          if (!result || result.passed + result.failed === 0) hung.add(mutant);
          else if (result.failed === 0) survivors.push(mutant);
          else hung.delete(mutant);
        });
      } catch (error) {
        options.onProgress?.(`${chapter.folder}: mutants ${first}-${first + batch.length - 1} gave no verdict (${(error as Error).message.split('\n')[0]})`);
        batch.forEach((mutant) => hung.add(mutant));
      } finally {
        for (const v of variants) fs.rmSync(v.tree, { recursive: true, force: true });
      }
      options.onProgress?.(`${chapter.folder}: ${Math.min(first + BATCH, list.length)}/${list.length} run, ${survivors.length} survived so far, ${hung.size} without a verdict`);
    }
    return survivors;
  };
  let survivors = await run(mutants, true);
  if (options.full && survivors.length) {
    options.onProgress?.(`${chapter.folder}: ${survivors.length} survive the exercises' own checks; trying them against the whole chapter`);
    survivors = await run(survivors, false);
  }
  return { chapter: chapter.folder, mutants: mutants.length, killed: mutants.length - survivors.length - hung.size, survivors, hung: [...hung], durationMs: Date.now() - started };
}
