/**
 * `node lib/launch.mjs PROGRAM.ts ARGS...`: run a chapter's command-line program fast.
 *
 * tsx would compile the TypeScript on every start (~0.5 s). Instead the program is bundled
 * once by esbuild (lib/build.mjs, cached in .workshop/build/, rebuilt when a source file
 * changes) and the plain JavaScript is imported: a command starts in about the time Node
 * itself needs. WORKSHOP_OWN_LAYERS=1 builds on your own earlier chapters (`workshop layers own`).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { compiled } from './build.mjs';

// undici parses HTTP with llhttp compiled to WebAssembly; V8 re-compiles it, optimized, on a
// background thread, and Node waits for that job before it can exit: 150-250 ms on every
// short command (bench/manager.ts: conman ps 540 -> 300 ms). Liftoff, V8's baseline
// WebAssembly compiler, alone is plenty for a command line.
v8.setFlagsFromString('--liftoff-only');

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node lib/launch.mjs PROGRAM.ts [ARGS...]');
  process.exit(2);
}
const program = await compiled(path.resolve(entry), { ownLayers: process.env.WORKSHOP_OWN_LAYERS === '1' });
// The program reads its arguments from process.argv, as if it had been started directly.
process.argv = [process.argv[0], path.resolve(entry), ...args];
await import(pathToFileURL(program).href);
