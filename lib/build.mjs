/**
 * Precompiling a program that must start fast, such as the shim: esbuild bundles a
 * TypeScript entry point and everything it imports (the `#lib/` and `#lower/` ones included)
 * into one JavaScript file, so `node file.mjs` starts without a TypeScript loader. Native
 * addons stay outside the bundle. The result is cached in .workshop/build/ and rebuilt only
 * when one of its source files changed, so a learner's edit is always picked up.
 */
import { createHash } from 'node:crypto';
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

/** @param {string} manifestFile  JSON: { inputs: { [file]: mtimeMs } } */
function upToDate(manifestFile) {
  try {
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    return Object.entries(manifest.inputs).every(([file, mtime]) => fs.statSync(file).mtimeMs === mtime);
  } catch {
    return false;
  }
}

/**
 * The compiled JavaScript for `entry` (a .ts file); `ownLayers` resolves `#lower/` to the
 * learner's own chapters, as the checks do.
 */
export async function compiled(entry, options = {}) {
  const key = createHash('sha256').update(`${path.resolve(entry)}|${options.ownLayers ? 'own' : 'reference'}`).digest('hex').slice(0, 16);
  const outfile = path.join(BUILD_DIR, `${path.basename(entry, '.ts')}-${key}.mjs`);
  if (fs.existsSync(outfile) && upToDate(`${outfile}.inputs.json`)) return outfile;
  // Twenty shims started at once need one build, not twenty.
  let build = building.get(outfile);
  if (!build) {
    build = buildOnce(entry, outfile, options).finally(() => building.delete(outfile));
    building.set(outfile, build);
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

async function buildOnce(entry, outfile, options) {
  const manifestFile = `${outfile}.inputs.json`;
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const temp = `${outfile}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  // Loaded only when a build is needed: a cached program starts ~40 ms sooner without it.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile: temp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: NATIVE,
    conditions: options.ownLayers ? ['workshop-own'] : [],
    // Bundled CommonJS code may call require(): give the ES module one.
    banner: { js: "import { createRequire as __workshopRequire } from 'node:module'; const require = __workshopRequire(import.meta.url);" },
    plugins: [keepModuleUrls],
    // A map beside the bundle: `node --enable-source-maps` (conmand's) shows stack traces in
    // the .ts files. Others never read it.
    sourcemap: 'external',
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
  // Rename into place: concurrent starters never run a half-written file.
  fs.renameSync(`${temp}.map`, `${outfile}.map`);
  fs.appendFileSync(temp, `//# sourceMappingURL=${path.basename(outfile)}.map\n`);
  fs.renameSync(temp, outfile);
  fs.writeFileSync(manifestFile, JSON.stringify({ inputs }));
  return outfile;
}
