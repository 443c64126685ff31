import { defineConfig } from 'vitest/config';
import { scaled } from './lib/slow.ts';

// WORKSHOP_OWN_LAYERS=1 makes `#lower/...` imports resolve to the learner's own earlier
// chapters instead of the reference solutions (package.json "imports").
const conditions = process.env.WORKSHOP_OWN_LAYERS === '1' ? ['workshop-own'] : [];

export default defineConfig({
  resolve: { conditions: [...conditions, 'node', 'import', 'module', 'default'] },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['lib/harness/global-setup.ts'],
    // A check that times out says so in words, naming the learner's call that never returned.
    setupFiles: ['lib/harness/setup.ts'],
    pool: 'forks',
    // Every wait scales with the machine (WORKSHOP_SLOW, or what `workshop doctor` measured).
    testTimeout: scaled(30_000),
    hookTimeout: scaled(30_000),
    // Containers are cheap but not free: two files at a time on the 2-core machines.
    maxWorkers: 2,
  },
});
