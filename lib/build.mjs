/**
 * Precompiling a program that must start fast, such as the shim: esbuild bundles a
 * TypeScript entry point and everything it imports (the `#lib/` and `#lower/` ones included)
 * into one JavaScript file, so `node file.mjs` starts without a TypeScript loader. Native
 * addons stay outside the bundle. The result is cached in .workshop/build/ and rebuilt only
 * when one of its source files changed, so a learner's edit is always picked up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Plain JavaScript (types in build.d.mts): lib/launch.mjs loads it before any TypeScript loader.
// The repository is the first folder upwards with a package.json: from lib/ here, and from
// .workshop/build/ when this file is itself part of a bundle (conmand builds the shim).
function repoRoot() {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
export const REPO_ROOT = repoRoot();

export const BUILD_DIR = path.join(REPO_ROOT, '.workshop', 'build');
/** Written by every `npm install` / `npm ci`: stands for all of node_modules in a manifest. */
export const NPM_INSTALLED = path.join(REPO_ROOT, 'node_modules', '.package-lock.json');
/** Packages with native code: loaded from node_modules at run time, never bundled. */
export const NATIVE = ['koffi', 'usocket', 'esbuild'];

/**
 * The program a manifest names, if every source file it was built from is unchanged.
 * @param {string} manifestFile  JSON: { program: FILE, inputs: { [file]: mtimeMs } }
 * @returns {string | undefined}
 */
function upToDate(manifestFile) {
  try {
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    const unchanged = Object.entries(manifest.inputs).every(([file, mtime]) => fs.statSync(file).mtimeMs === mtime);
    return unchanged && fs.existsSync(manifest.program) ? manifest.program : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A short name for a program's cache: two 32-bit FNV-1a hashes of the text. Not node:crypto,
 * whose loading (with the streams it pulls in) would cost every command ~10 ms.
 * @param {string} text
 */
function nameHash(text) {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    a = Math.imul(a ^ text.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ text.charCodeAt(text.length - 1 - i), 0x811c9dc5) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/**
 * The compiled JavaScript for `entry` (a .ts file); `ownLayers` resolves `#lower/` to the
 * learner's own chapters, as the checks do.
 */
export async function compiled(entry, options = {}) {
  const key = nameHash(`${path.resolve(entry)}|${options.ownLayers ? 'own' : 'reference'}`);
  const name = `${path.basename(entry, '.ts')}-${key}`;
  const manifestFile = path.join(BUILD_DIR, `${name}.json`);
  const ready = upToDate(manifestFile);
  if (ready) return ready;
  // Twenty shims started at once need one build, not twenty.
  let build = building.get(name);
  if (!build) {
    // The bundler (and esbuild) is loaded only when a build is needed: every command checks, few build.
    build = import('./bundler.mjs')
      .then(({ buildProgram }) => buildProgram(entry, name, manifestFile, options, () => building.size <= 1))
      .finally(() => building.delete(name));
    building.set(name, build);
  }
  return build;
}

/** @type {Map<string, Promise<string>>} */
const building = new Map();
