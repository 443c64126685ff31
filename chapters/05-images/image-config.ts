/**
 * The image config: the JSON blob a manifest points at. Besides the layers' diff IDs it holds
 * how to run the image, in docker's words:
 *
 *   "config": { "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"],
 *               "Env": ["PATH=..."], "WorkingDir": "/app", "User": "www-data",
 *               "StopSignal": "SIGQUIT", "ExposedPorts": {"80/tcp": {}} }
 *
 * processFromImage() turns it, with what the user typed, into the runtime spec's process:
 * docker's rules (containerd's CRI plugin and podman follow them too):
 *   - args = Entrypoint + Cmd;
 *   - a command on the command line replaces Cmd (not the Entrypoint);
 *   - --entrypoint replaces the Entrypoint and drops the image's Cmd;
 *   - Env is the image's, then the user's (same name: the user's wins); PATH is added when missing;
 *   - User "name", "uid", "name:group" or "uid:gid", names looked up in the image's own
 *     /etc/passwd and /etc/group (read inside the rootfs: a symlink there must not lead to the host's).
 */
import fsp from 'node:fs/promises';
import { resolveInRoot } from './unpack.ts';
import { notImplemented } from '#lib/not-implemented.ts';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config?: {
    User?: string;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    StopSignal?: string;
    ExposedPorts?: Record<string, object>;
    Labels?: Record<string, string> | null;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: unknown[];
}

export interface RunOverrides {
  /** The command typed after the image name: replaces Cmd. */
  command?: string[];
  /** --entrypoint: replaces the Entrypoint ("" clears it) and drops the image's Cmd. */
  entrypoint?: string;
  /** -e KEY=VALUE */
  env?: Record<string, string>;
  /** -w DIR */
  workdir?: string;
  /** -u USER[:GROUP] */
  user?: string;
}

export interface ImageProcess {
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids?: number[] };
  /** The signal `stop` sends first; SIGTERM unless the image says otherwise. */
  stopSignal: string;
  /** "80/tcp", ...: kept for the networking chapter. */
  exposedPorts: string[];
}

/** The image gives no command and none was typed. */
export class NoCommandError extends Error {
  constructor() {
    super('no command to run: the image has no Entrypoint or Cmd; give one after the image name');
    this.name = 'NoCommandError';
  }
}

/** args from docker's rules (see the top of this file). */
export function commandLine(config: ImageConfig['config'] = {}, overrides: RunOverrides = {}): string[] {
  // EXERCISE(image-command): args = Entrypoint + Cmd, with docker's rules for a typed command and --entrypoint
  // Hints: --entrypoint (even "") means entrypoint = it (or nothing) and the image's Cmd is
  // dropped; a typed command (a non-empty list) replaces Cmd. Null and missing fields are
  // empty lists. Nothing at all: throw new NoCommandError().
  throw notImplemented("05-images/image-command", "args = Entrypoint + Cmd, with docker's rules for a typed command and --entrypoint");
  // END EXERCISE
}

/** The image's Env, then the user's; PATH first when the image has none. */
export function environment(config: ImageConfig['config'] = {}, extra: Record<string, string> = {}): string[] {
  const values = new Map<string, string>();
  for (const line of config.Env ?? []) {
    const eq = line.indexOf('=');
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1));
  }
  for (const [key, value] of Object.entries(extra)) values.set(key, value);
  if (!values.has('PATH')) values.set('PATH', DEFAULT_PATH);
  return [...values].map(([key, value]) => `${key}=${value}`);
}

/** A file of the image, read inside its rootfs (its symlinks resolved there); '' when absent. */
async function readImageFile(rootfs: string, file: string): Promise<string> {
  try {
    return await fsp.readFile(await resolveInRoot(rootfs, file, { followLast: true }), 'utf8');
  } catch (error) {
    // Missing, or not a file: the image has none. Anything else (a bug) is not hidden.
    if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes((error as NodeJS.ErrnoException).code ?? '') || (error as Error).name === 'UnsafeLayerError') return '';
    throw error;
  }
}

function parseColonFile(text: string): string[][] {
  return text.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.split(':'));
}

/**
 * "www-data", "33", "www-data:www-data", "1000:100" -> uid, gid and the user's other groups,
 * from the image's /etc/passwd and /etc/group (docker's rules: a numeric uid that is not in
 * passwd runs with gid 0; a name that is not there is an error).
 */
export async function resolveUser(rootfs: string, spec = ''): Promise<{ uid: number; gid: number; additionalGids?: number[] }> {
  if (spec === '') spec = '0';
  const [userPart, groupPart] = spec.split(':', 2);
  const passwd = parseColonFile(await readImageFile(rootfs, 'etc/passwd'));
  const groups = parseColonFile(await readImageFile(rootfs, 'etc/group'));
  const numeric = /^\d+$/;
  const entry = passwd.find((fields) => (numeric.test(userPart) ? fields[2] === userPart : fields[0] === userPart));
  if (!entry && !numeric.test(userPart)) throw new Error(`unable to find user ${userPart}: no matching entries in the image's /etc/passwd`);
  const uid = numeric.test(userPart) ? Number(userPart) : Number(entry![2]);
  let gid = entry ? Number(entry[3]) : 0;
  if (groupPart !== undefined) {
    const group = groups.find((fields) => (numeric.test(groupPart) ? fields[2] === groupPart : fields[0] === groupPart));
    if (!group && !numeric.test(groupPart)) throw new Error(`unable to find group ${groupPart}: no matching entries in the image's /etc/group`);
    gid = numeric.test(groupPart) ? Number(groupPart) : Number(group![2]);
    return { uid, gid };
  }
  const name = entry?.[0];
  const additionalGids = name
    ? groups.filter((fields) => (fields[3] ?? '').split(',').includes(name)).map((fields) => Number(fields[2])).filter((g) => g !== gid)
    : [];
  return additionalGids.length > 0 ? { uid, gid, additionalGids } : { uid, gid };
}

/** Everything the runtime spec's process needs, from the image config and what was typed. */
export async function processFromImage(config: ImageConfig, rootfs: string, overrides: RunOverrides = {}): Promise<ImageProcess> {
  const image = config.config ?? {};
  return {
    args: commandLine(image, overrides),
    env: environment(image, overrides.env),
    cwd: overrides.workdir ?? (image.WorkingDir || '/'),
    user: await resolveUser(rootfs, overrides.user ?? image.User ?? ''),
    stopSignal: image.StopSignal || 'SIGTERM',
    exposedPorts: Object.keys(image.ExposedPorts ?? {}),
  };
}
