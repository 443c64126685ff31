/**
 * conman, with images (conman.ts starts it): chapter 04's command line plus the image commands. The image commands
 * work on the image store under <root>/images (the same with or without conmand: the store is
 * files and overlay mounts); every other command goes to chapter 04's conman unchanged.
 *
 *   conman [--root DIR] pull [--platform os/arch[/variant]] [--insecure-registry HOST:PORT]...
 *          [--authfile FILE] REF
 *   conman images [-q] [--digests] [--json]
 *   conman rmi [-f] IMAGE...          conman image prune
 *   conman image inspect IMAGE...     (conman image ls / image rm / image pull: the same)
 *   conman image mount IMAGE          a read-only path of its files (podman's habit); image unmount IMAGE
 *   conman run|create [OPTIONS] [--platform P] [--insecure-registry H:P]... IMAGE [COMMAND...]
 *          an image not here yet is pulled first (its progress on stderr), then the command
 *          goes to chapter 04's conman, whose Manager has the images (with-images.ts, image-rootfs.ts)
 */
import fs from 'node:fs';
import path from 'node:path';
import { CREATE_OPTIONS, GLOBAL_OPTIONS, parseCommandLine, UsageError, type OptionSpec } from '#lower/04-manager/cli-args.ts';
import { conman } from '#lower/04-manager/conman.ts';
import { DEFAULT_ROOT } from '#lower/04-manager/defaults.ts';
import type { ImageStore, PullProgress } from './images.ts';
import type { RegistryOptions } from './registry.ts';


const PULL: OptionSpec[] = [
  { long: 'platform', value: true },
  { long: 'registries', value: true },
  { long: 'insecure-registry', value: true, repeat: true },
  { long: 'authfile', value: true },
  { long: 'quiet', short: 'q' },
];

const IMAGE_USAGE = `image commands:
  pull [--platform os/arch[/variant]] [--insecure-registry HOST:PORT]... [--authfile FILE] [--registries FILE] [-q] REF
  images [-q] [--digests] [--json]        rmi [-f] IMAGE...
  image inspect IMAGE...                  image prune
  image mount IMAGE   (prints a read-only path of its files)   image unmount IMAGE
REF is [host[:port]/]name[:tag][@sha256:digest]; plain HTTP only for the hosts named with --insecure-registry.
Environment: CONMAN_INSECURE_REGISTRIES=host:port,... and REGISTRY_AUTH_FILE (docker's auth.json format).
--registries FILE (or CONMAN_REGISTRIES): mirrors tried first, and plain-HTTP hosts, per registry, as containerd's hosts.toml:
  {"hosts": {"docker.io": {"mirrors": ["127.0.0.1:5001"]}, "127.0.0.1:5001": {"insecure": true}}}`;

function size(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** One line per layer, redrawn in place on a terminal; plain lines, one per finished step, otherwise. */
function progressPrinter(quiet: boolean, out: NodeJS.WriteStream = process.stdout): (event: PullProgress) => void {
  if (quiet) return () => {};
  if (!out.isTTY) {
    return (event) => {
      if (event.status === 'downloading') return;
      out.write(`${event.id}: ${event.status}${event.total ? ` ${size(event.total)}` : ''}\n`);
    };
  }
  const lines = new Map<string, string>();
  let drawn = 0;
  return (event) => {
    const bar = event.total && event.current !== undefined ? ` [${'='.repeat(Math.round((20 * event.current) / event.total)).padEnd(20)}] ${size(event.current)}/${size(event.total)}` : '';
    lines.set(event.id, `${event.id}: ${event.status}${bar}`);
    out.write(`${drawn ? `\x1b[${drawn}A` : ''}${[...lines.values()].map((line) => `\x1b[2K${line}\n`).join('')}`);
    drawn = lines.size;
  };
}

/**
 * Per-host settings from a JSON file, in the spirit of containerd's hosts.toml (one file here,
 * `--registries FILE` or CONMAN_REGISTRIES):
 *   { "hosts": { "docker.io": { "mirrors": ["127.0.0.1:5001"] }, "127.0.0.1:5001": { "insecure": true } } }
 */
export function registriesFile(file: string | undefined): Pick<RegistryOptions, 'hosts'> {
  if (!file) return {};
  let parsed: { hosts?: RegistryOptions['hosts'] };
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`registries file ${file}: ${(error as Error).message} (expected {"hosts": {"HOST": {"mirrors": ["HOST:PORT"], "insecure": true}}})`);
  }
  for (const [host, settings] of Object.entries(parsed.hosts ?? {})) {
    const mirrors = settings.mirrors ?? [];
    if (!Array.isArray(mirrors) || mirrors.some((mirror) => typeof mirror !== 'string') || (settings.insecure !== undefined && typeof settings.insecure !== 'boolean')) {
      throw new Error(`registries file ${file}: hosts["${host}"] must be {"mirrors": ["HOST:PORT", ...], "insecure": true|false}`);
    }
  }
  return { hosts: parsed.hosts };
}

async function storeFor(root: string, options: Record<string, string | boolean | string[]> = {}): Promise<ImageStore> {
  // Loaded only for a command that needs the store (`conman ps` does not), and the registry
  // client (undici, most of the code) only for a pull (images.ts) or a --platform to parse.
  const { ImageStore } = await import('./images.ts');
  const parsePlatform = options.platform ? (await import('./registry.ts')).parsePlatform : undefined;
  const registry: RegistryOptions = {
    ...registriesFile((options.registries as string | undefined) ?? process.env.CONMAN_REGISTRIES),
    insecureRegistries: [...((options['insecure-registry'] as string[] | undefined) ?? []), ...(process.env.CONMAN_INSECURE_REGISTRIES?.split(',').filter(Boolean) ?? [])],
    authFile: (options.authfile as string | undefined) ?? process.env.REGISTRY_AUTH_FILE,
    platform: parsePlatform ? parsePlatform(options.platform as string) : undefined,
  };
  return new ImageStore(path.join(root, 'images'), registry);
}

async function imageCommand(root: string, name: string, args: string[]): Promise<number> {
  switch (name) {
    case 'pull': {
      const parsed = parseCommandLine(args, PULL);
      if (parsed.positionals.length !== 1) throw new UsageError('pull takes one image reference');
      const record = await (await storeFor(root, parsed.options)).pull(parsed.positionals[0], { onProgress: progressPrinter(Boolean(parsed.options.quiet)) });
      console.log(parsed.options.quiet ? record.digest : `${record.name}: pulled, digest ${record.digest} (${record.platform})`);
      return 0;
    }
    case 'images':
    case 'ls': {
      const parsed = parseCommandLine(args, [{ long: 'quiet', short: 'q' }, { long: 'digests' }, { long: 'json' }]);
      const store = await storeFor(root);
      const records = store.list();
      if (parsed.options.json) console.log(JSON.stringify(records, null, 2));
      else if (parsed.options.quiet) for (const r of records) console.log(r.config.slice(7, 19));
      else {
        const rows = [['IMAGE', ...(parsed.options.digests ? ['DIGEST'] : []), 'IMAGE ID', 'PLATFORM', 'SIZE']];
        for (const r of records) rows.push([store.displayName(r), ...(parsed.options.digests ? [r.digest] : []), r.config.slice(7, 19), r.platform, size(r.size)]);
        const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
        for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('   ').trimEnd());
      }
      return 0;
    }
    case 'rmi':
    case 'rm': {
      const parsed = parseCommandLine(args, [{ long: 'force', short: 'f' }]);
      if (parsed.positionals.length === 0) throw new UsageError('rmi takes one image or more');
      const store = await storeFor(root);
      for (const ref of parsed.positionals) {
        const { untagged, deleted } = await store.remove(ref, { force: Boolean(parsed.options.force) });
        console.log(`Untagged: ${untagged}`);
        for (const item of deleted) console.log(`Deleted: ${item}`);
      }
      return 0;
    }
    case 'inspect': {
      const store = await storeFor(root);
      const found = [];
      for (const ref of args) {
        const record = store.find(ref);
        if (!record) throw new Error(`no image "${ref}" here: conman images lists them`);
        found.push({ ...record, config: await store.config(record), id: record.config });
      }
      console.log(JSON.stringify(found, null, 2));
      return 0;
    }
    case 'mount':
    case 'unmount':
    case 'umount': {
      if (args.length !== 1) throw new UsageError(`image ${name} takes one image`);
      const store = await storeFor(root);
      if (name === 'mount') console.log(await store.mount(args[0]));
      else {
        await store.unmount(args[0]);
        console.log(args[0]);
      }
      return 0;
    }
    case 'prune': {
      for (const item of await (await storeFor(root)).prune()) console.log(`Deleted: ${item}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown image command "${name}"\n${IMAGE_USAGE}`);
  }
}

/** chapter 04's run/create options (cli-args.ts there), to find the image among the arguments. */
const RUN_OPTIONS: OptionSpec[] = [...CREATE_OPTIONS, { long: 'detach', short: 'd' }];
const PULL_FOR_RUN = PULL.filter((spec) => spec.long !== 'quiet');

/**
 * `run`/`create` arguments: the pull options (--platform, --insecure-registry, --authfile) taken
 * out, since chapter 04's conman does not know them; the rest as typed. Parsing stops at the
 * first positional (the image or rootfs), as chapter 04's does.
 */
function splitRunArgs(args: string[]): { pull: string[]; rest: string[]; source?: string } {
  const pull: string[] = [];
  const rest: string[] = [];
  const takesValue = (name: string) => [...RUN_OPTIONS, ...PULL_FOR_RUN].find((spec) => spec.long === name)?.value;
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--' || !arg.startsWith('-') || arg === '-') break;
    const long = arg.startsWith('--') ? arg.slice(2).split('=')[0] : undefined;
    const target = long && PULL_FOR_RUN.some((spec) => spec.long === long) ? pull : rest;
    target.push(arg);
    if (long !== undefined) {
      if (!arg.includes('=') && takesValue(long) && i + 1 < args.length) target.push(args[++i]);
    } else {
      // -e KEY=VALUE, -it, -w DIR, -eA=1: a short option that takes a value and is last in its group takes the next argument
      for (let c = 1; c < arg.length; c++) {
        const spec = RUN_OPTIONS.find((s) => s.short === arg[c]);
        if (spec?.value) {
          if (c === arg.length - 1 && i + 1 < args.length) rest.push(args[++i]);
          break;
        }
      }
    }
  }
  const positionals = args.slice(i);
  return { pull, rest: [...rest, ...positionals], source: positionals[0] === '--' ? positionals[1] : positionals[0] };
}

/**
 * `run`/`create IMAGE`: pull the image when it is not here (as docker does, "Unable to find
 * image locally"), with the pull's progress on stderr (stdout is the container's); then the
 * command line without the pull options. A rootfs directory passes untouched.
 */
async function pullForRun(root: string, args: string[]): Promise<string[]> {
  const { pull, rest, source } = splitRunArgs(args);
  if (source === undefined || /^[/.]/.test(source) || fs.existsSync(source)) return rest; // a rootfs directory (or a usage error for chapter 04)
  const options = parseCommandLine(pull, PULL_FOR_RUN).options;
  // The records alone answer "is it here?" (image-records.ts); the store is loaded for a pull.
  const { ImageRecords } = await import('./image-records.ts');
  if (!new ImageRecords(path.join(root, 'images')).find(source)) {
    const store = await storeFor(root, options);
    process.stderr.write(`Unable to find image '${source}' locally\n`);
    const record = await store.pull(source, { onProgress: progressPrinter(false, process.stderr) });
    process.stderr.write(`${record.name}: pulled, digest ${record.digest} (${record.platform})\n`);
  }
  return rest;
}

/**
 * conman with images. Every command that is not about images is chapter 04's conman's, in this
 * same process; `loadProviders` gives its --no-daemon Manager the images (with-images.ts
 * here; chapter 06's adds networks).
 */
export async function conmanWithImages(argv: string[], loadProviders: () => Promise<unknown>): Promise<number> {
  try {
    const global = parseCommandLine(argv, GLOBAL_OPTIONS);
    const [name, ...rest] = global.positionals;
    const root = (global.options.root as string | undefined) ?? process.env.CONMAN_ROOT ?? DEFAULT_ROOT;
    if (name === 'pull' || name === 'images' || name === 'rmi') return await imageCommand(root, name, rest);
    if (name === 'image') {
      const [sub, ...subArgs] = rest;
      if (!sub) throw new UsageError(`image needs a command\n${IMAGE_USAGE}`);
      return await imageCommand(root, sub, subArgs);
    }
    if (name === 'run' || name === 'create') {
      const at = argv.length - rest.length; // the global options, then the command, then its arguments
      return await conman([...argv.slice(0, at), ...(await pullForRun(root, rest))], { loadProviders });
    }
    const code = await conman(argv, { loadProviders });
    if (global.options.help || !name || name === 'help') console.log(`\n${IMAGE_USAGE}`);
    return code;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`conman: ${error.message}`);
      return 2;
    }
    console.error(`conman: ${error instanceof Error ? error.message : String(error)}`);
    return 125;
  }
}
