/**
 * crictl, the workshop's own: a small subset of Kubernetes' crictl (cri-tools), the command a
 * node's operator uses to talk to a CRI runtime directly, without kubelet. It is a plain gRPC
 * client of api.proto on conmand's CRI socket: every command is one or two RPCs and a print.
 * Same command names, argument order and output shapes as crictl, so what you learn here
 * works on a real node (`crictl --runtime-endpoint unix:///run/containerd/containerd.sock ps`).
 *
 * Where the real crictl differs:
 * - its JSON (inspect, info, -o json) uses protobuf's JSON names (podSandboxId, createdAt);
 *   ours prints the proto's own names (pod_sandbox_id, created_at), as it loads them (keepCase).
 * - it reads YAML config files too, and has yaml/go-template/table outputs; we read and print JSON.
 * - its streams (exec -i/-t, port-forward) speak SPDY by default, WebSocket if asked; ours
 *   WebSocket only (conmand serves both), and port-forward asks for one URL per local
 *   connection (over SPDY, one URL carries a pair of streams per connection instead).
 * - `create` can pull the image (--with-pull), `run` does runp+create+start in one: not here.
 * - it waits 2 s for an answer by default (--timeout); we give 10 s, 5 min for a pull or a sandbox.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WebSocket } from 'ws';
import { parseLogLine, type LogStream } from '#lib/cri-log.ts';
import { startedAsProgram } from '#lib/program.ts';
import { scaled } from '#lib/slow.ts';
import { DEFAULT_RUN_ROOT } from '#lower/04-manager/defaults.ts';
import { connectCri, CriError, type Cri, type Reply } from './cri-client.ts';

const USAGE = `usage: crictl [--runtime-endpoint [unix://]PATH] COMMAND [OPTIONS] ARGS...

  version | info
  pull IMAGE          images [-q] [-o json] [IMAGE]          inspecti IMAGE...      rmi IMAGE...
  runp POD-CONFIG.json
  pods [-q] [-o json] [--name REGEX] [--label KEY=VALUE]... [--state ready|notready]
  inspectp POD...     stopp POD...     rmp POD...
  create POD CONTAINER-CONFIG.json POD-CONFIG.json
  start CONTAINER...  stop [-t SECONDS] CONTAINER...  rm CONTAINER...   inspect CONTAINER...
  ps [-a] [-q] [-o json] [--pod POD] [--name REGEX] [--label KEY=VALUE]... [--state created|running|exited|unknown]
  exec -s [--timeout SECONDS] CONTAINER CMD [ARG...]     (ExecSync: the output once it ended)
  exec [-i] [-t] CONTAINER CMD [ARG...]                  (Exec: streamed over a WebSocket URL)
  logs [-f] [--tail N] CONTAINER
  stats [-a]          statsp
  port-forward POD [LOCAL:]REMOTE

Config files are JSON with the CRI's own field names (api.proto: metadata, log_directory,
port_mappings, linux.security_context.namespace_options...), as crictl's; YAML is not read.
An id may be cut to a unique start. The socket: --runtime-endpoint (-r), else
$CONTAINER_RUNTIME_ENDPOINT, else $CONMAN_CRI_SOCKET, else $CONMAN_RUN_ROOT/cri.sock
(default ${DEFAULT_RUN_ROOT}/cri.sock).`;

/** One RPC of a service: `runtime('ListContainers', { filter })`, with its deadline in ms (Infinity: none). */
type Command = (args: string[], cri: Cri) => Promise<number | void>;

/** Most calls answer at once; a pull or a new sandbox (its network, its infra) may take minutes. */
const SHORT = scaled(10_000);
const LONG = scaled(300_000);

class UsageError extends Error {}

// ----- the connection -----

/** Which socket: crictl's flag and variable first, then conmand's own defaults (with-cri.ts). */
export function runtimeEndpoint(flag: string | undefined): string {
  const given = flag || process.env.CONTAINER_RUNTIME_ENDPOINT || process.env.CONMAN_CRI_SOCKET;
  if (given) return path.resolve(given.replace(/^unix:\/\//, ''));
  return path.join(process.env.CONMAN_RUN_ROOT || DEFAULT_RUN_ROOT, 'cri.sock');
}

// ----- small helpers: options, files, tables -----

/** One subcommand's flags (node's parseArgs); an unknown flag is a usage error. */
function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, minPositionals = 0) {
  const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  if (parsed.positionals.length < minPositionals) throw new UsageError('missing arguments');
  if ('output' in parsed.values && parsed.values.output !== undefined && parsed.values.output !== 'json') throw new UsageError('-o: only json here');
  return parsed;
}
const OUTPUT = { output: { type: 'string', short: 'o' } } as const;

function readJson(file: string): object {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message} (a JSON file with api.proto's field names)`);
  }
}

const json = (value: unknown) => console.log(JSON.stringify(value, null, 2));
function parsedOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** crictl's tables: columns padded to their widest cell, ids cut to 13 characters. */
function table(header: string[], rows: string[][]): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  for (const row of [header, ...rows]) console.log(row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i] + 3) : cell)).join('').trimEnd());
}
const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 13);

/** Docker's units (decimal, 3 significant digits): 4.27MB. */
function humanSize(bytes: number | string): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = Number(bytes);
  let unit = 0;
  for (; value >= 1000 && unit < units.length - 1; unit++) value /= 1000;
  return `${Number(value.toPrecision(3))}${units[unit]}`;
}

/** "About a minute ago", from int64 nanoseconds since the epoch (a string: past what a number holds). */
function ago(nanoseconds: string): string {
  const s = Math.max(0, (Date.now() - Number(BigInt(nanoseconds) / 1_000_000n)) / 1000);
  const [m, h] = [Math.round(s / 60), Math.round(s / 3600)];
  const text = s < 1 ? 'Less than a second' : s < 60 ? `${Math.floor(s)} seconds` : m === 1 ? 'About a minute' : m < 60 ? `${m} minutes` : h === 1 ? 'About an hour' : h < 48 ? `${h} hours` : `${Math.round(h / 24)} days`;
  return `${text} ago`;
}

const STATES: Record<string, string> = { SANDBOX_READY: 'Ready', SANDBOX_NOTREADY: 'NotReady', CONTAINER_CREATED: 'Created', CONTAINER_RUNNING: 'Running', CONTAINER_EXITED: 'Exited', CONTAINER_UNKNOWN: 'Unknown' };

/** --label app=web --label tier=db as a label_selector (all must match). */
function labelSelector(labels: string[] | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((kv) => {
    const at = kv.indexOf('=');
    if (at < 1) throw new UsageError(`--label ${kv}: use KEY=VALUE`);
    return [kv.slice(0, at), kv.slice(at + 1)];
  }));
}

/** Commands that do one thing to each id they are given, and say so as crictl does. */
function forEachId(what: (cri: Cri, id: string) => Promise<unknown>, said: (id: string) => string): Command {
  return async (args, cri) => {
    for (const id of parse(args, {}, 1).positionals) {
      await what(cri, id);
      console.log(said(id));
    }
  };
}

/** inspect, inspectp: each one's full status as JSON (verbose: with the runtime's free-form info). */
function inspector(method: string, idField: string): Command {
  return async (args, { runtime }) => {
    for (const id of parse(args, OUTPUT, 1).positionals) {
      const reply = await runtime(method, { [idField]: id, verbose: true });
      json({ status: reply.status, info: reply.info });
    }
  };
}

/** --name is not in the RPCs' filters: crictl matches it itself, as a regular expression; newest first. */
function named(list: Reply[], name: string | undefined): Reply[] {
  return list.filter((item) => !name || new RegExp(name).test(item.metadata.name)).sort((a, b) => (BigInt(b.created_at) > BigInt(a.created_at) ? 1 : -1));
}

// ----- the runtime and its images -----

const version: Command = async (args, { runtime }) => {
  parse(args, {});
  const v = await runtime('Version', { version: 'v1' });
  console.log(`Version:  ${v.version}\nRuntimeName:  ${v.runtime_name}\nRuntimeVersion:  ${v.runtime_version}\nRuntimeApiVersion:  ${v.runtime_api_version}`);
};

/** The runtime's conditions (RuntimeReady, NetworkReady: kubelet's node is Ready only with both), and its free-form info. */
const info: Command = async (args, { runtime }) => {
  parse(args, {});
  const reply = await runtime('Status', { verbose: true });
  // info's values are JSON documents in strings (crictl prints them as JSON, not as strings).
  const extra = Object.fromEntries(Object.entries(reply.info as Record<string, string>).map(([k, v]) => [k, parsedOr(v)]));
  json({ status: reply.status, ...extra });
};

const pull: Command = async (args, { image }) => {
  const [ref] = parse(args, {}, 1).positionals;
  const reply = await image('PullImage', { image: { image: ref } }, LONG);
  console.log(`Image is up to date for ${reply.image_ref}`);
};

const images: Command = async (args, { image }) => {
  const { values, positionals } = parse(args, { quiet: { type: 'boolean', short: 'q' }, ...OUTPUT });
  const reply = await image('ListImages', positionals[0] ? { filter: { image: { image: positionals[0] } } } : {});
  if (values.output) return json(reply);
  if (values.quiet) return reply.images.forEach((i: Reply) => console.log(i.id));
  const rows = [];
  for (const i of reply.images) {
    // One row per name; a name is REPOSITORY:TAG (the tag after the last ':' past the last '/').
    for (const name of i.repo_tags.length ? i.repo_tags : ['<none>:<none>']) {
      const colon = name.lastIndexOf(':');
      const [repository, tag] = colon > name.lastIndexOf('/') ? [name.slice(0, colon), name.slice(colon + 1)] : [name, '<none>'];
      rows.push([repository, tag, short(i.id), humanSize(i.size)]);
    }
  }
  table(['IMAGE', 'TAG', 'IMAGE ID', 'SIZE'], rows);
};

/** ImageStatus answers an empty image (not an error) for one not here: kubelet then pulls it. */
async function imageStatus(image: Cri['image'], ref: string): Promise<Reply> {
  const reply = await image('ImageStatus', { image: { image: ref }, verbose: true });
  if (!reply.image) throw new Error(`no such image ${ref} present`);
  return reply;
}

const inspecti: Command = async (args, { image }) => {
  for (const ref of parse(args, OUTPUT, 1).positionals) {
    const reply = await imageStatus(image, ref);
    json({ status: reply.image, info: reply.info });
  }
};

/** By id or any name: crictl finds the image first, removes it by id, and names what went. */
const rmi: Command = async (args, { image }) => {
  for (const ref of parse(args, {}, 1).positionals) {
    const found = (await imageStatus(image, ref)).image;
    await image('RemoveImage', { image: { image: found.id } });
    for (const name of found.repo_tags.length ? found.repo_tags : [found.id]) console.log(`Deleted: ${name}`);
  }
};

// ----- pod sandboxes -----

const runp: Command = async (args, { runtime }) => {
  const [file] = parse(args, {}, 1).positionals;
  const reply = await runtime('RunPodSandbox', { config: readJson(file) }, LONG);
  console.log(reply.pod_sandbox_id);
};

const pods: Command = async (args, { runtime }) => {
  const { values } = parse(args, { quiet: { type: 'boolean', short: 'q' }, name: { type: 'string' }, label: { type: 'string', multiple: true }, state: { type: 'string' }, ...OUTPUT });
  const state = values.state && { state: `SANDBOX_${values.state.toUpperCase()}` };
  const reply = await runtime('ListPodSandbox', { filter: { state, label_selector: labelSelector(values.label) } });
  const items = named(reply.items, values.name);
  if (values.output) return json({ items });
  if (values.quiet) return items.forEach((p) => console.log(p.id));
  table(['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT'], items.map((p) => [short(p.id), ago(p.created_at), STATES[p.state], p.metadata.name, p.metadata.namespace, String(p.metadata.attempt)]));
};

// ----- containers -----

/** The pod's config again: kubelet sends it with every CreateContainer (the runtime may need its log_directory, its namespaces). */
const create: Command = async (args, { runtime }) => {
  const [pod, containerFile, podFile] = parse(args, {}, 3).positionals;
  const reply = await runtime('CreateContainer', { pod_sandbox_id: pod, config: readJson(containerFile), sandbox_config: readJson(podFile) }, LONG);
  console.log(reply.container_id);
};

const ps: Command = async (args, { runtime }) => {
  const { values } = parse(args, { all: { type: 'boolean', short: 'a' }, quiet: { type: 'boolean', short: 'q' }, pod: { type: 'string', short: 'p' }, name: { type: 'string' }, label: { type: 'string', multiple: true }, state: { type: 'string' }, ...OUTPUT });
  // Without -a (or --state), only the running ones.
  const state = values.state ? `CONTAINER_${values.state.toUpperCase()}` : values.all ? undefined : 'CONTAINER_RUNNING';
  const filter = { state: state && { state }, pod_sandbox_id: values.pod ?? '', label_selector: labelSelector(values.label) };
  const reply = await runtime('ListContainers', { filter });
  const containers = named(reply.containers, values.name);
  if (values.output) return json({ containers });
  if (values.quiet) return containers.forEach((c) => console.log(c.id));
  table(['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID'], containers.map((c) => [short(c.id), c.image.image, ago(c.created_at), STATES[c.state], c.metadata.name, String(c.metadata.attempt), short(c.pod_sandbox_id)]));
};

/** -t: seconds of SIGTERM before SIGKILL (crictl's default 0: SIGKILL at once). The call itself waits that long too. */
const stop: Command = async (args, { runtime }) => {
  const { values, positionals } = parse(args, { timeout: { type: 'string', short: 't' } }, 1);
  const seconds = Number(values.timeout ?? 0);
  if (!Number.isInteger(seconds) || seconds < 0) throw new UsageError('-t: a number of seconds');
  for (const id of positionals) {
    await runtime('StopContainer', { container_id: id, timeout: seconds }, SHORT + scaled(seconds * 1000));
    console.log(id);
  }
};

// ----- exec -----

/** exec's own flags stop at the container: what follows is the command, its flags included (`exec ID ls -l`). */
function splitExecArgs(args: string[]): [string[], string, string[]] {
  let i = 0;
  while (i < args.length && args[i].startsWith('-') && args[i] !== '--') i += args[i] === '--timeout' ? 2 : 1;
  const [id, ...command] = args.slice(i + (args[i] === '--' ? 1 : 0));
  if (command[0] === '--') command.shift();
  if (!id || command.length === 0) throw new UsageError('exec: give a container and a command');
  return [args.slice(0, i), id, command];
}

const exec: Command = async (args, { runtime }) => {
  const [flags, id, cmd] = splitExecArgs(args);
  const { values } = parse(flags, { sync: { type: 'boolean', short: 's' }, timeout: { type: 'string' }, interactive: { type: 'boolean', short: 'i' }, tty: { type: 'boolean', short: 't' } });
  if (values.sync) {
    // ExecSync (what kubelet's exec probes use): the whole output in the answer, once the command ended.
    // --timeout: the server kills the command after that long; without one, it may run (and we wait) for ever.
    const timeout = Number(values.timeout ?? 0);
    if (!Number.isInteger(timeout) || timeout < 0) throw new UsageError('--timeout: a number of seconds');
    const reply = await runtime('ExecSync', { container_id: id, cmd, timeout }, timeout > 0 ? SHORT + scaled(timeout * 1000) : Infinity);
    process.stdout.write(reply.stdout);
    process.stderr.write(reply.stderr);
    return reply.exit_code;
  }
  // Exec only answers a URL; the bytes flow there (streaming.ts). With a terminal, stderr is in stdout.
  const tty = values.tty === true;
  const { url } = await runtime('Exec', { container_id: id, cmd, tty, stdin: values.interactive === true, stdout: true, stderr: !tty });
  return streamExec(url, { stdin: values.interactive === true, tty });
};

/** kubectl exec's protocol: one WebSocket, every message one channel byte and its data. */
const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 };
interface K8sStatus { status: string; message?: string; details?: { causes?: { reason: string; message: string }[] } }

function streamExec(url: string, options: { stdin: boolean; tty: boolean }): Promise<number> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  const send = (channel: number, data: Buffer | string) => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  let status: K8sStatus | undefined;
  // Listeners first: a message that comes before its listener is lost.
  ws.on('message', (data: Buffer) => {
    const payload = data.subarray(1);
    if (data[0] === CHANNEL.stdout) process.stdout.write(payload);
    else if (data[0] === CHANNEL.stderr) process.stderr.write(payload);
    else if (data[0] === CHANNEL.status) status = JSON.parse(payload.toString()) as K8sStatus;
  });
  const local = process.stdin;
  // Raw mode: every key (Ctrl-C too) goes to the container, whose terminal echoes and edits lines.
  const raw = options.tty && options.stdin && local.isTTY;
  const resize = () => send(CHANNEL.resize, JSON.stringify({ Width: process.stdout.columns, Height: process.stdout.rows }));
  ws.on('open', () => {
    if (options.tty && process.stdout.isTTY) {
      resize();
      process.stdout.on('resize', resize);
    }
    if (!options.stdin) return;
    if (raw) local.setRawMode(true);
    local.on('data', (chunk: Buffer) => send(CHANNEL.stdin, chunk));
    // v5 can say "no more stdin" (cat, read... see their end); v4 cannot.
    local.on('end', () => ws.protocol === 'v5.channel.k8s.io' && ws.send(Buffer.from([CHANNEL.close, CHANNEL.stdin])));
  });
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', () => {
      if (raw) local.setRawMode(false);
      if (!status) return reject(new Error('the stream ended without a status'));
      if (status.status === 'Success') return resolve(0);
      const code = status.details?.causes?.find((cause) => cause.reason === 'ExitCode')?.message;
      code !== undefined ? resolve(Number(code)) : reject(new Error(status.message ?? 'exec failed'));
    });
  });
}

// ----- logs -----

/** Reads a CRI log file from where it left off: whole records only, P(artial) records joined into their line. */
class LogReader {
  private offset = 0;
  private rest = Buffer.alloc(0); // a record still being written (no newline yet)
  private partial: Record<LogStream, string> = { stdout: '', stderr: '' };
  constructor(private readonly file: string) {}

  lines(): { stream: LogStream; text: string }[] {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return []; // not written yet (a created container), or gone with its container
    }
    const chunk = Buffer.alloc(Math.max(0, fs.fstatSync(fd).size - this.offset));
    this.offset += fs.readSync(fd, chunk, 0, chunk.length, this.offset);
    fs.closeSync(fd);
    const data = Buffer.concat([this.rest, chunk]);
    const end = data.lastIndexOf('\n') + 1;
    this.rest = data.subarray(end);
    const lines = [];
    for (const record of data.subarray(0, end).toString().split('\n').slice(0, -1).map(parseLogLine)) {
      this.partial[record.stream] += record.message;
      if (record.partial) continue;
      lines.push({ stream: record.stream, text: this.partial[record.stream] });
      this.partial[record.stream] = '';
    }
    return lines;
  }
}

/** crictl reads the file itself (CRI has no logs RPC): ContainerStatus says where it is. */
const logs: Command = async (args, { runtime }) => {
  const { values, positionals } = parse(args, { follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' } }, 1);
  const status = async () => (await runtime('ContainerStatus', { container_id: positionals[0] })).status as Reply;
  const { log_path: logPath } = await status();
  if (!logPath) throw new Error(`container ${positionals[0]} has no log file: its pod config gave no log_directory, or its config no log_path`);
  const reader = new LogReader(logPath);
  const print = (lines: { stream: LogStream; text: string }[]) => lines.forEach((l) => (l.stream === 'stdout' ? process.stdout : process.stderr).write(l.text + '\n'));
  const tail = Number(values.tail ?? -1);
  const first = reader.lines();
  print(tail >= 0 ? first.slice(first.length - Math.min(tail, first.length)) : first);
  // -f: what is written next, until the container no longer runs (asked once a second).
  for (let tick = 1, following = values.follow === true; following; tick++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (tick % 5 === 0) following = await status().then((s) => ['CONTAINER_RUNNING', 'CONTAINER_CREATED'].includes(s.state), () => false); // (removed: done too)
    print(reader.lines()); // (once more after the end: its last lines)
  }
};

// ----- stats -----

/** ListContainerStats (the cgroup's counters): CPU time used so far, memory in use (working set, what the kubelet evicts on). */
const stats: Command = async (args, { runtime }) => {
  const { values } = parse(args, { all: { type: 'boolean', short: 'a' }, ...OUTPUT });
  const reply = await runtime('ListContainerStats', { filter: {} });
  // The stats filter has no state: without -a, keep the running ones as ps lists them.
  const running = new Set(((await runtime('ListContainers', { filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers as Reply[]).map((c) => c.id));
  const list = (reply.stats as Reply[]).filter((s) => values.all || running.has(s.attributes.id));
  if (values.output) return json({ stats: list });
  table(['CONTAINER', 'NAME', 'CPU (ns)', 'MEM'], list.map((s) => [short(s.attributes.id), s.attributes.metadata.name, s.cpu?.usage_core_nano_seconds?.value ?? '', humanSize(s.memory?.working_set_bytes?.value ?? 0)]));
};

const statsp: Command = async (args, { runtime }) => {
  const { values } = parse(args, OUTPUT);
  const reply = await runtime('ListPodSandboxStats', { filter: {} });
  if (values.output) return json(reply);
  table(['POD', 'NAME', 'CPU (ns)', 'MEM'], (reply.stats as Reply[]).map((s) => [short(s.attributes.id), s.attributes.metadata.name, s.linux?.cpu?.usage_core_nano_seconds?.value ?? '', humanSize(s.linux?.memory?.working_set_bytes?.value ?? 0)]));
};

// ----- port-forward -----

/**
 * A local port whose connections reach the pod's port: portforward.k8s.io over WebSocket,
 * channel 0 data and channel 1 errors, the first message of each only the port (uint16 LE).
 * A URL serves once, so each local connection asks PortForward for its own.
 */
const portForward: Command = async (args, { runtime }) => {
  const [pod, ports] = parse(args, {}, 2).positionals;
  const [local, remote] = (ports.includes(':') ? ports.split(':') : [ports, ports]).map(Number);
  if (!(remote > 0 && remote < 65536 && local >= 0 && local < 65536)) throw new UsageError(`port-forward: ${ports}: use [LOCAL:]REMOTE`);
  const server = net.createServer(async (socket) => {
    socket.pause(); // what the client sends first waits for the WebSocket
    socket.on('error', () => {});
    const { url } = await runtime('PortForward', { pod_sandbox_id: pod, port: [remote] }).catch((error: Error) => (console.error(`crictl: ${error.message}`), { url: '' }));
    if (!url) return socket.destroy();
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['portforward.k8s.io']);
    const seen = [false, false];
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      const payload = seen[channel] ? data.subarray(1) : data.subarray(3);
      seen[channel] = true;
      if (channel === 0) socket.write(payload);
      else if (payload.length > 0) console.error(`crictl: port-forward: ${payload.toString()}`);
    });
    ws.on('open', () => {
      socket.on('data', (chunk: Buffer) => ws.send(Buffer.concat([Buffer.from([0]), chunk])));
      socket.resume();
    });
    ws.on('error', (error) => (console.error(`crictl: port-forward: ${error.message}`), socket.destroy()));
    ws.on('close', () => socket.end());
    socket.on('close', () => ws.close());
  });
  await new Promise<void>((resolve, reject) => server.listen(local, '127.0.0.1', resolve).once('error', reject));
  console.log(`Forwarding from 127.0.0.1:${(server.address() as net.AddressInfo).port} -> ${remote}`);
  await new Promise(() => {}); // until Ctrl-C
};

// ----- the command line -----

const COMMANDS: Record<string, Command> = {
  version, info, pull, images, inspecti, rmi,
  runp, pods, inspectp: inspector('PodSandboxStatus', 'pod_sandbox_id'),
  stopp: forEachId((cri, id) => cri.runtime('StopPodSandbox', { pod_sandbox_id: id }, LONG), (id) => `Stopped sandbox ${id}`),
  rmp: forEachId((cri, id) => cri.runtime('RemovePodSandbox', { pod_sandbox_id: id }, LONG), (id) => `Removed sandbox ${id}`),
  create, ps, inspect: inspector('ContainerStatus', 'container_id'), stop,
  start: forEachId((cri, id) => cri.runtime('StartContainer', { container_id: id }), (id) => id),
  rm: forEachId((cri, id) => cri.runtime('RemoveContainer', { container_id: id }), (id) => id),
  exec, logs, stats, statsp, 'port-forward': portForward,
};

export async function crictl(argv: string[]): Promise<number> {
  // Global flags come before the command: only --runtime-endpoint (-r) here.
  let endpoint: string | undefined;
  while (argv[0] === '--runtime-endpoint' || argv[0] === '-r' || argv[0]?.startsWith('--runtime-endpoint=')) {
    endpoint = argv[0].includes('=') ? argv[0].slice(argv[0].indexOf('=') + 1) : argv[1];
    argv = argv.slice(argv[0].includes('=') ? 1 : 2);
  }
  const [name, ...args] = argv;
  if (name === undefined || ['help', '--help', '-h'].includes(name)) {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  const socket = runtimeEndpoint(endpoint);
  try {
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    return (await command(args, connectCri(socket, SHORT))) ?? 0;
  } catch (error) {
    const code = (error as { code?: unknown }).code; // (node's parseArgs: a string; a CriError's is gRPC's number)
    if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      console.error(`crictl: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof CriError && error.unavailable) {
      const why = error.details.replace(/^.*Last error: (Error: )?|\.? Resolution note:.*$/g, '');
      console.error(`crictl: no CRI server answered on ${socket} (${why}): is conmand running with its CRI socket? start chapters/08-cri/conmand, or give --runtime-endpoint`);
    } else {
      console.error(`crictl: ${(error as Error).message}`);
    }
    return 1;
  }
}

// Exit when done: the gRPC channel would keep the process alive.
if (startedAsProgram(import.meta.url)) process.exit(await crictl(process.argv.slice(2)));
