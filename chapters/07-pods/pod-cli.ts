/**
 * conman, with pods (conman.ts starts it): chapter 06's command line plus the pod commands,
 * which conmand serves (its /pods endpoints, pod-api.ts):
 *
 *   conman pod create [--name NAME] [--hostname NAME] [--network NET] [-p HOST:PORT]...
 *                     [--dns IP]... [--share pid] [--cpus N] [--memory SIZE]     prints its id
 *   conman pod start POD...          conman pod stop [-t SECONDS] POD...
 *   conman pod rm [-f] POD...        conman pod ps [--json]
 *   conman pod inspect POD...        conman pod stats [--json] POD...
 *   conman run --pod POD ...         a container in the pod (its network, hostname, cgroup)
 *   conman ps --pod                  shows each container's pod
 *
 * Every other command goes to chapter 06's conman, in this process. A --no-daemon Manager
 * gets pods too (with-pods.ts), so `run --pod` works without conmand; the pod commands
 * themselves need conmand, which keeps the pods' records and serves them.
 */
import path from 'node:path';
import { GLOBAL_OPTIONS, parseCommandLine, UsageError, type OptionSpec } from '#lower/04-manager/cli-args.ts';
import { ago, table } from '#lower/04-manager/conman.ts';
import { DEFAULT_RUN_ROOT, shortId } from '#lower/04-manager/defaults.ts';
import { conmanWithNetworks } from '#lower/06-networking/network-cli.ts';
import type { PodApi } from './pod-client.ts';
import type { SharedNamespace } from './pod-records.ts';

const POD_USAGE = `pod commands:
  pod create [--name NAME] [--hostname NAME] [--network NET] [-p [IP:]HOSTPORT:PORT]... [--dns IP]...
             [--share pid] [--cpus N] [--memory SIZE (64m, 1g)]
  pod start POD...      pod stop [-t SECONDS] POD...      pod rm [-f] POD...
  pod ps [--json]       pod inspect POD...                pod stats [--json] POD...
run/create --pod POD puts a container in a pod: it shares the pod's network, IPC and hostname.`;

const CREATE: OptionSpec[] = [
  { long: 'name', value: true },
  { long: 'hostname', value: true },
  { long: 'network', value: true },
  { long: 'publish', short: 'p', value: true, repeat: true },
  { long: 'dns', value: true, repeat: true },
  { long: 'share', value: true, repeat: true },
  { long: 'cpus', value: true },
  { long: 'memory', short: 'm', value: true },
];

/** "64m", "1g", "512k", "1048576" → bytes (binary units, as docker's --memory). */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim());
  if (!match) throw new UsageError(`--memory ${text}: give a size such as 64m, 1g or a number of bytes`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(match[1]) * unit);
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? 'no limit' : `${(bytes / 1024 / 1024).toFixed(1)}MiB`;
}

async function podCommand(pods: PodApi, sub: string, args: string[]): Promise<number> {
  const refs = (parsed: { positionals: string[] }) => {
    if (parsed.positionals.length === 0) throw new UsageError(`pod ${sub} needs a POD`);
    return parsed.positionals;
  };
  switch (sub) {
    case 'create': {
      const { options, positionals } = parseCommandLine(args, CREATE);
      if (positionals.length > 0) throw new UsageError(`pod create takes no arguments (${positionals.join(' ')}): name it with --name`);
      const share = (options.share as string[] | undefined)?.flatMap((item) => item.split(','));
      const created = await pods.create({
        ...(options.name ? { name: options.name } : {}),
        ...(options.hostname ? { hostname: options.hostname } : {}),
        ...(options.network ? { network: options.network } : {}),
        ...(options.publish ? { publish: options.publish } : {}),
        ...(options.dns ? { dns: options.dns } : {}),
        // --share pid adds the PID namespace to the default ones, as podman's --share +pid
        ...(share ? { share: [...new Set<SharedNamespace>(['network', 'ipc', 'uts', ...(share as SharedNamespace[])])] } : {}),
        ...(options.cpus ? { cpus: Number(options.cpus) } : {}),
        ...(options.memory ? { memory: parseSize(options.memory as string) } : {}),
      });
      console.log(created.id);
      return 0;
    }
    case 'start':
    case 'stop':
    case 'rm': {
      const parsed = parseCommandLine(args, sub === 'stop' ? [{ long: 'time', short: 't', value: true }] : sub === 'rm' ? [{ long: 'force', short: 'f' }] : []);
      const timeout = parsed.options.time === undefined ? undefined : Number(parsed.options.time);
      if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 0)) throw new UsageError(`-t ${parsed.options.time}: give whole seconds`);
      let failed = 0;
      for (const ref of refs(parsed)) {
        try {
          if (sub === 'start') await pods.start(ref);
          else if (sub === 'stop') await pods.stop(ref, timeout);
          else await pods.remove(ref, Boolean(parsed.options.force));
          console.log(ref);
        } catch (error) {
          console.error(`conman: pod ${sub} ${ref}: ${(error as Error).message}`);
          failed++;
        }
      }
      return failed > 0 ? 1 : 0;
    }
    case 'ps':
    case 'ls': {
      const parsed = parseCommandLine(args, [{ long: 'json' }]);
      const list = await pods.list();
      if (parsed.options.json) return console.log(JSON.stringify(list, null, 2)), 0;
      const rows = [['POD ID', 'NAME', 'STATUS', 'CREATED', 'INFRA ID', 'CONTAINERS', 'IP', 'PORTS']];
      for (const pod of list) {
        rows.push([shortId(pod.id), pod.name, pod.status, `${ago(pod.created)} ago`, pod.infra ? shortId(pod.infra) : '-', String(pod.containers.length), pod.ip ?? '-', pod.ports.join(', ') || '-']);
      }
      console.log(table(rows));
      return 0;
    }
    case 'inspect': {
      const found = [];
      for (const ref of refs(parseCommandLine(args, []))) found.push(await pods.inspect(ref));
      console.log(JSON.stringify(found, null, 2));
      return 0;
    }
    case 'stats': {
      const parsed = parseCommandLine(args, [{ long: 'json' }]);
      const stats = [];
      for (const ref of refs(parsed)) stats.push(await pods.stats(ref));
      if (parsed.options.json) return console.log(JSON.stringify(stats, null, 2)), 0;
      const rows = [['POD ID', 'NAME', 'CPU TIME', 'MEM USAGE / LIMIT', 'PIDS', 'OOM KILLS']];
      for (const s of stats) rows.push([shortId(s.id), s.name, `${(s.cpuMicros / 1e6).toFixed(2)}s`, `${mib(s.memoryBytes)} / ${mib(s.memoryLimitBytes)}`, String(s.pids), String(s.oomKills)]);
      console.log(table(rows));
      return 0;
    }
    default:
      throw new UsageError(`unknown pod command "${sub}"\n${POD_USAGE}`);
  }
}

/** The whole command line; resolves with the exit code. */
export async function conmanWithPods(argv: string[], loadProviders: () => Promise<unknown>): Promise<number> {
  const global = parseCommandLine(argv, GLOBAL_OPTIONS);
  const [name, sub, ...rest] = global.positionals;
  if (name !== 'pod') {
    const code = await conmanWithNetworks(argv, loadProviders);
    if (global.options.help || !name || name === 'help') console.log(`\n${POD_USAGE}`);
    return code;
  }
  try {
    if (!sub) throw new UsageError(`pod needs a command\n${POD_USAGE}`);
    if (global.options['no-daemon'] || process.env.CONMAN_NO_DAEMON === '1') throw new UsageError('the pod commands need conmand (it keeps the pods): drop --no-daemon');
    const { ApiClient } = await import('#lower/04-manager/client.ts');
    const { PodClient } = await import('./pod-client.ts');
    const runRoot = (global.options['run-root'] as string | undefined) ?? process.env.CONMAN_RUN_ROOT ?? DEFAULT_RUN_ROOT;
    const api = new ApiClient((global.options.socket as string | undefined) ?? process.env.CONMAN_SOCKET ?? path.join(runRoot, 'conmand.sock'));
    try {
      return await podCommand(new PodClient(api), sub, rest);
    } finally {
      await api.close().catch(() => {});
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`conman: ${error.message}${error.message.includes(POD_USAGE) ? '' : `\n${POD_USAGE}`}`);
      return 2;
    }
    console.error(`conman: ${error instanceof Error ? error.message : String(error)}`);
    return 125;
  }
}
