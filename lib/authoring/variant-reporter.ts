/**
 * A vitest reporter for runVariants() (wrong-answers.ts): each variant is a vitest project of
 * its own (one tree, one -t pattern); this writes, per project, what passed and what failed to
 * the file named by WORKSHOP_VARIANT_REPORT.
 */
import fs from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

export interface VariantOutcome {
  passed: number;
  failed: number;
  skipped: number;
  failures: { test: string; message: string }[];
}

export default class VariantReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const out: Record<string, VariantOutcome> = {};
    for (const module of testModules) {
      const entry = (out[module.project.name] ??= { passed: 0, failed: 0, skipped: 0, failures: [] });
      for (const error of module.errors()) {
        entry.failed++;
        entry.failures.push({ test: '(loading)', message: String(error.message).split('\n')[0] });
      }
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') entry.passed++;
        else if (result.state === 'skipped') entry.skipped++;
        else if (result.state === 'failed') {
          entry.failed++;
          entry.failures.push({ test: test.fullName, message: String(result.errors?.[0]?.message ?? '').split('\n')[0] });
        }
      }
    }
    fs.writeFileSync(process.env.WORKSHOP_VARIANT_REPORT!, JSON.stringify(out));
  }
}
