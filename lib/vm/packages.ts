/**
 * The guest's package list, read from vagrant/provision.sh itself: the VM test must install
 * what the Vagrant VM installs, and a second copy of the list would drift from the first.
 *
 * provision.sh keeps its list as one plain bash array, `packages=( ... )`: package names, one
 * or more a line, `#` comments allowed. Packages appended later (`packages+=(...)`) are for
 * machines outside the VM (vagrant itself), so only that first assignment counts. Anything
 * else inside the parentheses (a variable, a quote, a command) is refused rather than guessed:
 * the parser would silently disagree with bash.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../paths.ts';

export const PROVISION_SCRIPT = path.join(REPO_ROOT, 'vagrant', 'provision.sh');

/** Debian package names: lower case letters, digits, + - . (Debian policy 5.6.1). */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

export function parseProvisionPackages(script: string): string[] {
  const lines = script.split('\n');
  const start = lines.findIndex((line) => /^\s*packages=\(/.test(line));
  if (start < 0) throw new Error('provision.sh has no `packages=(` line: the VM test reads the package list from there');
  const names: string[] = [];
  for (let i = start; i < lines.length; i++) {
    let text = lines[i].replace(/#.*$/, ''); // a comment, to the end of the line
    if (i === start) text = text.replace(/^\s*packages=\(/, '');
    const close = text.indexOf(')');
    const body = close >= 0 ? text.slice(0, close) : text;
    for (const word of body.split(/\s+/).filter(Boolean)) {
      if (!PACKAGE_NAME.test(word)) {
        throw new Error(`provision.sh line ${i + 1}: "${word}" in packages=( ... ) is not a plain package name; keep the list literal so the VM test can read it`);
      }
      names.push(word);
    }
    if (close >= 0) {
      if (text.slice(close + 1).trim() !== '') throw new Error(`provision.sh line ${i + 1}: text after the closing ")" of packages=( ... )`);
      if (names.length === 0) throw new Error('provision.sh: packages=( ... ) is empty');
      return names;
    }
  }
  throw new Error(`provision.sh: packages=( on line ${start + 1} is never closed`);
}

export function readProvisionScript(): { text: string; sha256: string } {
  const text = fs.readFileSync(PROVISION_SCRIPT, 'utf8');
  return { text, sha256: crypto.createHash('sha256').update(text).digest('hex') };
}
