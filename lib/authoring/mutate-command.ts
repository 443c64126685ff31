/** `workshop mutate [NN...] [--full] [--limit N]`: see mutate.ts. */
import { parseArgs } from 'node:util';
import { availableChapters, findChapter } from '../manifest.ts';
import { mutateChapter } from './mutate.ts';

export async function mutateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { full: { type: 'boolean' }, limit: { type: 'string' } } });
  const chapters = positionals.length ? positionals.map(findChapter) : availableChapters();
  let survivors = 0;
  for (const chapter of chapters) {
    const report = await mutateChapter(chapter, { full: values.full, limit: values.limit ? Number(values.limit) : undefined, onProgress: (line) => console.log(line) });
    survivors += report.survivors.length;
    console.log(`${report.chapter}: ${report.mutants} mutants, ${report.killed} killed, ${report.survivors.length} survived, ${report.hung.length} without a verdict (${(report.durationMs / 1000).toFixed(0)} s)`);
    for (const mutant of report.survivors) console.log(`  survived  ${mutant.exercise}  ${mutant.description}`);
    // A mutant that loops forever: a learner's check would hang too (the watchdog says so); not a hole, but worth a look.
    for (const mutant of report.hung) console.log(`  no verdict (hung?)  ${mutant.exercise}  ${mutant.description}`);
  }
  return survivors === 0 ? 0 : 1;
}
