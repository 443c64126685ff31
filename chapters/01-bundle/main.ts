/**
 * Build a bundle and run it, from the command line:
 *
 *   npx tsx chapters/01-bundle/main.ts [options] BUNDLE_DIR -- COMMAND [ARG...]
 *
 *   --hostname NAME   --memory 32m   --pids 10   --read-only   --user 1000:1000
 *   --env KEY=VALUE (repeatable)     --cwd /tmp  --runtime runc|crun
 *   --create-only     write the bundle, do not run it (then try `runc run` yourself)
 *
 * It exits with the container's exit code, like `runc run` does.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { createBundle } from './bundle.ts';
import { runContainer, type RuntimeName } from './run.ts';

function parseBytes(text: string): number {
  const match = /^(\d+)([kmg]?)$/i.exec(text);
  if (!match) throw new Error(`--memory ${text}: use a number of bytes with an optional k, m or g suffix, e.g. 32m`);
  return Number(match[1]) * 1024 ** ' kmg'.indexOf((match[2] || ' ').toLowerCase());
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      hostname: { type: 'string' },
      memory: { type: 'string' },
      pids: { type: 'string' },
      'read-only': { type: 'boolean' },
      user: { type: 'string' },
      env: { type: 'string', multiple: true },
      cwd: { type: 'string' },
      runtime: { type: 'string', default: 'runc' },
      'create-only': { type: 'boolean' },
    },
  });
  const [bundleArg, ...args] = positionals;
  if (!bundleArg || args.length === 0) {
    console.error('usage: main.ts [options] BUNDLE_DIR -- COMMAND [ARG...]');
    return 2;
  }
  const bundle = path.resolve(bundleArg);
  const id = path.basename(bundle);
  const [uid, gid] = (values.user ?? '0:0').split(':').map(Number);
  await createBundle(bundle, {
    args,
    hostname: values.hostname,
    memoryLimitBytes: values.memory ? parseBytes(values.memory) : undefined,
    pidsLimit: values.pids ? Number(values.pids) : undefined,
    readonlyRoot: values['read-only'],
    user: { uid, gid: gid ?? uid },
    env: Object.fromEntries((values.env ?? []).map((pair) => [pair.split('=')[0], pair.slice(pair.indexOf('=') + 1)])),
    cwd: values.cwd,
    cgroupsPath: `/conman-workshop/${id}`,
  });
  if (values['create-only']) {
    console.log(`bundle ready: ${bundle} (config.json + rootfs/)`);
    return 0;
  }
  const result = await runContainer(bundle, { id, runtime: values.runtime as RuntimeName });
  process.stdout.write(result.stdout + (result.stdout && !result.stdout.endsWith('\n') ? '\n' : ''));
  process.stderr.write(result.stderr + (result.stderr && !result.stderr.endsWith('\n') ? '\n' : ''));
  return result.exitCode;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message);
    process.exit(125); // like docker run: the tool failed, not the container
  },
);
