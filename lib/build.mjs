/**
 * Precompiling a program that must start fast, such as the shim: esbuild bundles a
 * TypeScript entry point and everything it imports (the `#lib/` and `#lower/` ones included)
 * into one JavaScript file, so `node file.mjs` starts without a TypeScript loader. Native
 * addons stay outside the bundle. The result is cached in .workshop/build/ and rebuilt only
 * when one of its source files changed, so a learner's edit is always picked up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Plain JavaScript (types in build.d.mts): lib/launch.mjs loads it before any TypeScript loader.
// The repository is the first folder upwards with a package.json: from lib/ here, and from
// .workshop/build/ when this file is itself part of a bundle (conmand builds the shim).
function repoRoot() {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
const REPO_ROOT = repoRoot();

const BUILD_DIR = path.join(REPO_ROOT, '.workshop', 'build');
/** Packages with native code: loaded from node_modules at run time, never bundled. */
const NATIVE = ['koffi', 'usocket', 'esbuild'];

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
    build = buildOnce(entry, name, manifestFile, options).finally(() => building.delete(name));
    building.set(name, build);
  }
  return build;
}

/**
 * In a bundle, every module would see the bundle's own import.meta.url, and code that finds
 * files next to itself (the shim's program, REPO_ROOT) would look in .workshop/build/. Each
 * TypeScript module gets its original URL written in instead.
 * @type {import('esbuild').Plugin}
 */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

/** @type {Map<string, Promise<string>>} */
const building = new Map();

/**
 * One build, into a folder of its own: the entry file, plus one file (a "chunk") per module
 * the program imports with `await import()`. A command loads only the chunks it uses: `conman
 * --help` never parses the Manager, `conman ps` never the image store.
 */
async function buildOnce(entry, name, manifestFile, options) {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const outdir = path.join(BUILD_DIR, `${name}.${Date.now().toString(36)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  // Loaded only when a build is needed: a cached program starts ~40 ms sooner without it.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: NATIVE,
    conditions: options.ownLayers ? ['workshop-own'] : [],
    // Bundled CommonJS code may call require(): give each ES module file one.
    banner: { js: "import { createRequire as __workshopRequire } from 'node:module'; const require = __workshopRequire(import.meta.url);" },
    plugins: [keepModuleUrls],
    // A map beside each file: `node --enable-source-maps` (conmand's) shows stack traces in
    // the .ts files. Others never read it.
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: REPO_ROOT,
  });
  const inputs = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const file = path.resolve(REPO_ROOT, input);
    if (fs.existsSync(file)) inputs[file] = fs.statSync(file).mtimeMs;
  }
  // esbuild keeps a helper process for the next build; a long-lived caller (conmand, which
  // builds the shim once) does not want it hanging around for ever.
  if (building.size <= 1) await esbuild.stop();
  const program = path.join(outdir, `${path.basename(entry, '.ts')}.mjs`);
  // The manifest is renamed into place: concurrent starters never see a half-built program.
  const temp = `${manifestFile}.${process.pid}.tmp`;
  fs.writeFileSync(temp, JSON.stringify({ program, inputs }));
  fs.renameSync(temp, manifestFile);
  removeOldBuilds(name, outdir);
  return program;
}

/**
 * Earlier builds of the same program, a day old: a program that runs for long (conmand) may
 * still load chunks from the build it started with, so a recent one is kept.
 */
function removeOldBuilds(name, current) {
  const dayAgo = Date.now() - 86_400_000;
  for (const entry of fs.readdirSync(BUILD_DIR)) {
    const dir = path.join(BUILD_DIR, entry);
    if (!entry.startsWith(`${name}.`) || dir === current || entry.endsWith('.json') || entry.endsWith('.tmp')) continue;
    try {
      if (fs.statSync(dir).mtimeMs < dayAgo) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // another build removed it
    }
  }
}
