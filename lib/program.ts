/**
 * Is this module the program that was started (`conman ...`), or imported by another one
 * (a later chapter's conman, which calls its function)? ES modules have no
 * `require.main === module`: compare the started file with the module's own.
 * lib/launch.mjs sets process.argv[1] to the .ts file it runs, and a bundle keeps each
 * module's own import.meta.url (lib/build.mjs), so this holds with or without a bundle.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export function startedAsProgram(moduleUrl: string): boolean {
  const started = process.argv[1];
  if (!started) return false;
  try {
    return fs.realpathSync(started) === fs.realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
