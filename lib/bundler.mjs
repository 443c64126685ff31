/**
 * The bundler behind lib/build.mjs: esbuild makes one program out of a TypeScript entry point
 * and everything it imports. Loaded only when a program must be (re)built.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUILD_DIR, NATIVE, NPM_INSTALLED, REPO_ROOT } from './build.mjs';

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

/**
 * One build, into a folder of its own: the entry file, plus one file (a "chunk") per module
 * the program imports with `await import()`. A command loads only the chunks it uses: `conman
 * --help` never parses the Manager, `conman ps` never the image store.
 */
export async function buildProgram(entry, name, manifestFile, options, lastBuild) {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const outdir = path.join(BUILD_DIR, `${name}.${Date.now().toString(36)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
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
  // Every start checks these: the workshop's own files, one by one (a learner edits them), and
  // for all of node_modules the file npm rewrites on every install (hundreds of stats fewer).
  const inputs = {};
  const files = Object.keys(result.metafile.inputs).map((input) => path.resolve(REPO_ROOT, input));
  for (const file of [...files.filter((f) => !f.includes(`${path.sep}node_modules${path.sep}`)), NPM_INSTALLED]) {
    if (fs.existsSync(file)) inputs[file] = fs.statSync(file).mtimeMs;
  }
  // esbuild keeps a helper process for the next build; a long-lived caller (conmand, which
  // builds the shim once) does not want it hanging around for ever.
  if (lastBuild()) await esbuild.stop();
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
