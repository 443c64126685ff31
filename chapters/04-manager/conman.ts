/**
 * conman: the command line. `conman [GLOBAL OPTIONS] COMMAND [OPTIONS] ARGS...`
 *
 * It talks to conmand over its socket (client.ts), or, with --no-daemon, opens the Manager
 * library in its own process (as podman does). Either way it holds a ContainerApi and does
 * not care which. Exit codes follow Docker: a container's own code for run/start -a/exec/wait,
 * 127 (not found) or 126 (cannot be run) when the command cannot start, 125 when conman
 * itself failed, 2 for a usage error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseLogLine } from '#lib/cri-log.ts';
import { startedAsProgram } from '#lib/program.ts';
import { scaled } from '#lib/slow.ts';
import { CREATE_OPTIONS, GLOBAL_OPTIONS, parseCommandLine, UsageError, type Parsed } from './cli-args.ts';
import type { ContainerApi, ContainerInfo } from './container-api.ts';
import { runningDaemon } from './daemon-file.ts';
import { DEFAULT_ROOT, DEFAULT_RUN_ROOT, shortId } from './defaults.ts';
import { runInteractive } from './interactive.ts';
import { registeredNetworkProvider } from './network-provider.ts';
import { registeredPodProvider } from './pod-provider.ts';
import { registeredRootfsProvider } from './rootfs-provider.ts';
import type { Session } from './session.ts';


const USAGE = `usage: conman [--socket PATH | --no-daemon [--root DIR] [--run-root DIR]] COMMAND ...

  run [-d] [-i] [-t] [--rm] [--name NAME] [--restart no|on-failure[:N]|always]
      [--runtime runc|crun] [-e KEY=VALUE]... [-w DIR] [--hostname NAME] ROOTFS COMMAND [ARG...]
  create [same options as run, without -d] ROOTFS COMMAND [ARG...]
  (with images, chapter 05: [--entrypoint CMD] IMAGE [ARG...] in place of ROOTFS COMMAND)
  (with networks, chapter 06: [--network bridge|none|host|NAME] [-p [IP:]HOSTPORT:PORT[/udp]]... [--dns IP]...)
  (with pods, chapter 07: [--pod POD], the pod's network, hostname and cgroup)
  start [-a] CONTAINER...          stop [-t SECONDS] CONTAINER...
  kill [-s SIGNAL] CONTAINER...    rm [-f] CONTAINER...
  ps [-a] [-q] [--json] [--pod] [--format '{{.Name}} {{.State}} {{.ExitCode}}']
  inspect CONTAINER...
  logs [-f] [--tail N] [--timestamps] CONTAINER
  exec [-d] [-i] [-t] [-e KEY=VALUE]... [-w DIR] CONTAINER COMMAND [ARG...]
  exec --attach EXEC_ID            (back to an exec: it outlives conmand, with its output)
  attach CONTAINER                 wait CONTAINER...

CONTAINER is a name, an id, or a unique start of an id. Detach from attach/run -it with Ctrl-P Ctrl-Q.
Environment: CONMAN_SOCKET, CONMAN_ROOT, CONMAN_RUN_ROOT, CONMAN_CGROUP_PARENT, CONMAN_NO_DAEMON=1.`;

/** An exec's session on this terminal; a lost conmand is not the exec's end, so say how to go back to it. */
async function runExec(session: Session, options: { stdin: boolean; tty: boolean }): Promise<number> {
  try {
    const exit = await runInteractive(session, options);
    return exit?.exitCode ?? 0;
  } catch (error) {
    if (session.execId && /connection to conmand closed/.test((error as Error).message)) {
      throw new Error(`lost conmand, but exec ${session.execId} goes on in the container: \`conman exec --attach ${session.execId}\` once conmand is back`);
    }
    throw error;
  }
}

/** Exit code when conman itself failed (Docker's too). */
const FAILED = 125;

/** The positionals, at least `names.length` of them; else say which are missing. */
function need(parsed: Parsed, ...names: string[]): string[] {
  const given = parsed.positionals.length;
  if (given < names.length) {
    const after = given > 0 ? ` after ${names.slice(0, given).join(' ')}` : '';
    throw new UsageError(`missing ${names.slice(given).join(' and ')}${after}`);
  }
  return parsed.positionals;
}

function envMap(entries: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries ?? []) {
    const at = entry.indexOf('=');
    if (at <= 0) throw new UsageError(`-e ${entry}: use KEY=VALUE`);
    env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return env;
}

/**
 * A rootfs directory, or else an image reference (a name such as busybox:1.36 never starts
 * with "/" or "."): the manager makes the rootfs from it when it has images (chapter 05).
 */
function isImageReference(source: string): boolean {
  return !/^[/.]/.test(source) && !fs.existsSync(source);
}

function createRequest(parsed: Parsed) {
  const [source] = need(parsed, 'ROOTFS');
  const image = isImageReference(source);
  const [, ...args] = image ? parsed.positionals : need(parsed, 'ROOTFS', 'COMMAND');
  const o = parsed.options;
  if (o.entrypoint !== undefined && !image) throw new UsageError(`--entrypoint replaces an image's entrypoint: ${source} is a rootfs folder, give the command after it`);
  return {
    ...(image ? { image: source } : { rootfs: path.resolve(source) }),
    ...(o.entrypoint !== undefined ? { entrypoint: o.entrypoint as string } : {}),
    args,
    ...(o.name ? { name: o.name as string } : {}),
    ...(o.env ? { env: envMap(o.env as string[]) } : {}),
    ...(o.workdir ? { cwd: o.workdir as string } : {}),
    tty: Boolean(o.tty),
    stdin: Boolean(o.interactive),
    ...(o.runtime ? { runtime: o.runtime as 'runc' } : {}),
    ...(o.restart ? { restart: o.restart as string } : {}),
    ...(o.hostname ? { hostname: o.hostname as string } : {}),
    ...(o.network ? { network: o.network as string } : {}),
    ...(o.publish ? { publish: o.publish as string[] } : {}),
    ...(o.pod ? { pod: o.pod as string } : {}),
    ...(o.dns ? { dns: o.dns as string[] } : {}),
    autoRemove: Boolean(o.rm),
  };
}

// ----- output -----

export function ago(iso: string | undefined): string {
  if (!iso) return '';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} minutes`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} hours`;
  return `${Math.round(seconds / 86400)} days`;
}

function statusText(c: ContainerInfo): string {
  switch (c.status) {
    case 'running':
      return `Up ${ago(c.startedAt)}`;
    case 'exited':
      return `Exited (${c.exit?.exitCode ?? '?'}) ${ago(c.finishedAt)} ago`;
    case 'restarting':
      return `Restarting (${c.exit?.exitCode ?? '?'}) ${ago(c.finishedAt)} ago`;
    case 'created':
      return 'Created';
    case 'unknown':
      return 'Unknown (its shim vanished)';
    case 'removing':
      return 'Removing';
  }
}

/** Control characters shown as \xNN: a container's command must not drive the user's terminal. */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `--format '{{.Name}} {{.State}}'`, a small cousin of Docker's Go templates. */
function formatted(template: string, c: ContainerInfo): string {
  const fields: Record<string, string | number> = {
    ID: shortId(c.id),
    Name: c.name,
    Command: printable(c.args.join(' ')),
    Status: statusText(c),
    State: c.status,
    ExitCode: c.exit?.exitCode ?? '',
    Pid: c.pid ?? '',
    RestartCount: c.restartCount,
    Runtime: c.runtime,
    Image: c.image ?? '',
    Pod: c.pod ? shortId(c.pod.id) : '',
  };
  return template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (whole, name: string) => {
    if (!(name in fields)) throw new UsageError(`--format: unknown field .${name} (known: ${Object.keys(fields).join(', ')})`);
    return String(fields[name]);
  });
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('   ')).join('\n');
}

/** Print CRI log records as the container wrote them: stdout to stdout, stderr to stderr. */
function logPrinter(timestamps: boolean): (chunk: Buffer) => void {
  let carry = '';
  const lineStart = { stdout: true, stderr: true };
  return (chunk) => {
    const text = carry + chunk.toString('utf8');
    const lines = text.split('\n');
    carry = lines.pop()!;
    for (const line of lines) {
      const record = parseLogLine(line);
      const out = record.stream === 'stdout' ? process.stdout : process.stderr;
      const prefix = timestamps && lineStart[record.stream] ? `${record.time} ` : '';
      out.write(prefix + record.message + (record.partial ? '' : '\n'));
      lineStart[record.stream] = !record.partial;
    }
  };
}

async function printLogs(api: ContainerApi, ref: string, options: { follow: boolean; tail?: number; timestamps: boolean }): Promise<void> {
  const print = logPrinter(options.timestamps);
  for await (const chunk of await api.logs(ref, { follow: options.follow, tail: options.tail })) print(Buffer.from(chunk));
}

// ----- commands -----

/** `run` (andStart) or `create` (not). */
async function run(api: ContainerApi, args: string[], andStart: boolean): Promise<number> {
  const parsed = parseCommandLine(args, [...CREATE_OPTIONS, ...(andStart ? [{ long: 'detach', short: 'd' }] : [])]);
  const request = createRequest(parsed);
  const { id } = await api.create(request);
  if (!andStart) {
    console.log(id);
    return 0;
  }
  try {
    if (parsed.options.detach) {
      await api.start(id);
      console.log(id);
      return 0;
    }
    return await startAttached(api, id, { stdin: request.stdin, tty: request.tty });
  } catch (error) {
    // It never ran (a command that does not exist...): --rm still means "leave nothing".
    if (request.autoRemove) await api.remove(id, true).catch(() => {});
    else {
      // As docker does, the container stays (created): say so, or its name looks taken for no reason.
      const container = await api.inspect(id).catch(() => undefined);
      if (container?.status === 'created' && error instanceof Error) {
        error.message += `\n(the container ${container.name} was created but did not start: conman rm ${container.name})`;
      }
    }
    throw error;
  }
}

/**
 * Start a container and stay with it until it exits. With -i or -t: attach and start in one
 * request (conmand attaches between the shim's create and start: the first prompt is not
 * missed, and the terminal has our window's size from the start). Otherwise the output
 * comes from the log, opened before the start: it has every byte, stdout and stderr apart,
 * even when --rm removes it all.
 */
/** Our window's size, for a container's or an exec's terminal from its start (0 x 0, unknown: none). */
function ownTerminalSize(tty: boolean): { rows: number; cols: number } | undefined {
  const known = tty && process.stdout.isTTY && process.stdout.rows > 0 && process.stdout.columns > 0;
  return known ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined;
}

async function startAttached(api: ContainerApi, id: string, options: { stdin: boolean; tty: boolean }): Promise<number> {
  if (options.stdin || options.tty) {
    const session = await api.attach(id, { start: true, size: ownTerminalSize(options.tty) });
    const exit = await runInteractive(session, options);
    if (!exit) return 0; // detached
    return exit.exitCode;
  }
  const { exited } = await api.watchExit(id, 'next-exit');
  const records = await api.logs(id, { follow: true, tail: 0 }); // from now on: not an earlier run's
  await api.start(id);
  const print = logPrinter(false);
  for await (const chunk of records) print(Buffer.from(chunk));
  const exit = await exited;
  return exit?.exitCode ?? FAILED;
}

async function command(api: ContainerApi, name: string, args: string[]): Promise<number> {
  switch (name) {
    case 'run':
      return run(api, args, true);
    case 'create':
      return run(api, args, false);
    case 'start': {
      const parsed = parseCommandLine(args, [{ long: 'attach', short: 'a' }]);
      const refs = need(parsed, 'CONTAINER');
      if (parsed.options.attach) {
        const container = await api.inspect(refs[0]);
        return startAttached(api, container.id, { stdin: false, tty: container.tty });
      }
      for (const ref of refs) console.log((await api.start(ref)).name);
      return 0;
    }
    case 'stop': {
      const parsed = parseCommandLine(args, [{ long: 'time', short: 't', value: true }]);
      const timeout = parsed.options.time === undefined ? undefined : Number(parsed.options.time);
      if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 0)) throw new UsageError(`-t ${parsed.options.time}: give whole seconds, e.g. -t 5`);
      for (const ref of need(parsed, 'CONTAINER')) console.log((await api.stop(ref, timeout)).name);
      return 0;
    }
    case 'kill': {
      const parsed = parseCommandLine(args, [{ long: 'signal', short: 's', value: true }]);
      for (const ref of need(parsed, 'CONTAINER')) {
        await api.kill(ref, (parsed.options.signal as string | undefined) ?? 'SIGKILL');
        console.log(ref);
      }
      return 0;
    }
    case 'rm': {
      const parsed = parseCommandLine(args, [{ long: 'force', short: 'f' }]);
      for (const ref of need(parsed, 'CONTAINER')) {
        await api.remove(ref, Boolean(parsed.options.force));
        console.log(ref);
      }
      return 0;
    }
    case 'ps': {
      const parsed = parseCommandLine(args, [{ long: 'all', short: 'a' }, { long: 'quiet', short: 'q' }, { long: 'json' }, { long: 'format', value: true }, { long: 'pod' }]);
      const containers = await api.list(Boolean(parsed.options.all));
      if (parsed.options.json) console.log(JSON.stringify(containers, null, 2));
      else if (parsed.options.format) for (const c of containers) console.log(formatted(parsed.options.format as string, c));
      else if (parsed.options.quiet) for (const c of containers) console.log(shortId(c.id));
      else {
        // The IMAGE column once a container has one (chapter 05), PORTS once one has a network (chapter 06), POD with --pod (chapter 07).
        const images = containers.some((c) => c.image);
        const networks = containers.some((c) => c.network);
        const pods = Boolean(parsed.options.pod);
        const rows = [['CONTAINER ID', ...(images ? ['IMAGE'] : []), 'NAME', 'COMMAND', 'CREATED', 'STATUS', ...(networks ? ['PORTS'] : []), ...(pods ? ['POD'] : []), 'RUNTIME']];
        for (const c of containers) {
          const commandLine = c.args.join(' ');
          const ports = c.networkStatus ? [c.networkStatus.ip, ...c.networkStatus.ports].filter(Boolean).join(', ') : '';
          rows.push([shortId(c.id), ...(images ? [c.image ?? '-'] : []), c.name, JSON.stringify(commandLine.length > 22 ? commandLine.slice(0, 21) + '…' : commandLine), `${ago(c.created)} ago`, statusText(c), ...(networks ? [ports || '-'] : []), ...(pods ? [c.pod ? shortId(c.pod.id) : '-'] : []), c.runtime]);
        }
        console.log(table(rows));
      }
      return 0;
    }
    case 'inspect': {
      const parsed = parseCommandLine(args, []);
      const found = [];
      for (const ref of need(parsed, 'CONTAINER')) found.push(await api.inspect(ref));
      console.log(JSON.stringify(found, null, 2));
      return 0;
    }
    case 'logs': {
      const parsed = parseCommandLine(args, [{ long: 'follow', short: 'f' }, { long: 'tail', value: true }, { long: 'timestamps', short: 't' }]);
      const [ref] = need(parsed, 'CONTAINER');
      const tail = parsed.options.tail === undefined || parsed.options.tail === 'all' ? undefined : Number(parsed.options.tail);
      if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) throw new UsageError(`--tail ${parsed.options.tail}: give a number of lines`);
      await printLogs(api, ref, { follow: Boolean(parsed.options.follow), tail, timestamps: Boolean(parsed.options.timestamps) });
      return 0;
    }
    case 'exec': {
      const parsed = parseCommandLine(args, [
        { long: 'interactive', short: 'i' },
        { long: 'tty', short: 't' },
        { long: 'env', short: 'e', value: true, repeat: true },
        { long: 'workdir', short: 'w', value: true },
        { long: 'detach', short: 'd' },
        { long: 'attach', value: true },
      ]);
      if (parsed.options.attach !== undefined) {
        if (parsed.positionals.length > 0) throw new UsageError('exec --attach EXEC_ID takes no CONTAINER or COMMAND: the exec has them already');
        const execId = parsed.options.attach as string;
        const state = await api.inspectExec(execId);
        return await runExec(await api.attachExec(execId), { stdin: state.stdin, tty: state.tty });
      }
      const [ref, ...commandArgs] = need(parsed, 'CONTAINER', 'COMMAND');
      const detach = Boolean(parsed.options.detach);
      const stdin = Boolean(parsed.options.interactive) && !detach;
      const tty = Boolean(parsed.options.tty);
      const session = await api.exec(ref, {
        args: commandArgs,
        tty,
        stdin,
        ...(parsed.options.env ? { env: envMap(parsed.options.env as string[]) } : {}),
        ...(parsed.options.workdir ? { cwd: parsed.options.workdir as string } : {}),
      }, { size: ownTerminalSize(tty) });
      if (detach) {
        // It runs on in the shim; its output is kept for `exec --attach`.
        console.log(session.execId);
        session.close();
        return 0;
      }
      return await runExec(session, { stdin, tty });
    }
    case 'attach': {
      const parsed = parseCommandLine(args, []);
      const [ref] = need(parsed, 'CONTAINER');
      const container = await api.inspect(ref);
      const session = await api.attach(ref);
      const exit = await runInteractive(session, { stdin: container.stdin, tty: container.tty });
      return exit?.exitCode ?? 0;
    }
    case 'wait': {
      const parsed = parseCommandLine(args, []);
      let code = 0;
      for (const ref of need(parsed, 'CONTAINER')) {
        const exit = await (await api.watchExit(ref, 'not-running')).exited;
        code = exit?.exitCode ?? FAILED;
        console.log(code);
      }
      return code;
    }
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

/** Restarting needs someone who stays: conmand (podman hands this to systemd). */
function refuseRestartPolicy(args: string[]): void {
  const { options } = parseCommandLine(args, [...CREATE_OPTIONS, { long: 'detach', short: 'd' }]);
  if (options.restart && options.restart !== 'no') {
    throw new UsageError(`--restart ${options.restart} needs conmand, which stays to restart the container: drop --no-daemon`);
  }
}

export interface ConmanOptions {
  /**
   * Loads what a later chapter gives the --no-daemon Manager (images, networks: they register
   * their providers); called only then, so that a command conmand serves never loads them.
   */
  loadProviders?: () => Promise<unknown>;
}

/** The whole command line; resolves with the exit code. Chapters 05 and 06's conman call it for the container commands. */
export async function conman(argv: string[], options: ConmanOptions = {}): Promise<number> {
  let api: ContainerApi | undefined;
  try {
    const global = parseCommandLine(argv, GLOBAL_OPTIONS);
    const [name, ...rest] = global.positionals;
    if (global.options.help || !name || name === 'help') {
      console.log(USAGE);
      return name || global.options.help ? 0 : 2;
    }
    const runRoot = (global.options['run-root'] as string | undefined) ?? process.env.CONMAN_RUN_ROOT ?? DEFAULT_RUN_ROOT;
    const noDaemon = Boolean(global.options['no-daemon'] || process.env.CONMAN_NO_DAEMON === '1');
    if (noDaemon && (name === 'run' || name === 'create')) refuseRestartPolicy(rest);
    if (noDaemon) {
      const daemon = runningDaemon(runRoot);
      if (daemon) throw new Error(`conmand (pid ${daemon.pid}) manages ${runRoot}: drop --no-daemon, or stop it first`);
      // Loaded only here: a CLI that talks to conmand never needs the Manager (nor koffi, runc...).
      await options.loadProviders?.();
      const { Manager } = await import('./manager.ts');
      const root = (global.options.root as string | undefined) ?? process.env.CONMAN_ROOT ?? DEFAULT_ROOT;
      api = await Manager.open({
        root,
        runRoot,
        rootfsProvider: registeredRootfsProvider(root),
        networkProvider: registeredNetworkProvider({ root, runRoot }),
        podProvider: registeredPodProvider(),
        cgroupParent: (global.options['cgroup-parent'] as string | undefined) ?? process.env.CONMAN_CGROUP_PARENT,
        // Another --no-daemon command on these roots: wait for it a while (root-lock.ts).
        lockWaitMs: scaled(10_000),
      });
    } else {
      const { ApiClient } = await import('./client.ts');
      api = new ApiClient((global.options.socket as string | undefined) ?? process.env.CONMAN_SOCKET ?? path.join(runRoot, 'conmand.sock'));
    }
    return await command(api, name, rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`conman: ${error.message} (see conman --help)`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    console.error(`conman: ${message}`);
    // Docker's CLI reads the same words in the daemon's message to pick these codes.
    const reason = /^cannot run "[^"]*" in the container: (.*)/.exec(message)?.[1];
    if (reason !== undefined) return /not found|no such file/i.test(reason) ? 127 : 126;
    return FAILED;
  } finally {
    await api?.close().catch(() => {});
  }
}

// Exit at once when done: a --no-daemon manager still watches its shims, and that is not our business any more.
if (startedAsProgram(import.meta.url)) process.exit(await conman(process.argv.slice(2)));
