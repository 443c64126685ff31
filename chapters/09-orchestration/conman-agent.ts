/**
 * conman-agent: a small kubelet. It runs the Kubernetes Pod manifests of a folder through a
 * CRI socket (chapter 08's conmand), and shows them as kubectl would.
 *
 *   conman-agent run --manifests DIR [--runtime-endpoint unix://SOCK] [--state DIR] [--log-dir DIR]
 *                    [--sync-period-ms N] [--backoff-base-ms N] [--backoff-cap-ms N] [--parallel N]
 *   conman-agent get pods [NAME] [-o wide|yaml|json] [--state DIR]
 *   conman-agent describe pod NAME [-n NAMESPACE] [--state DIR]
 *
 * Where things are: the status of each manifest in <state>/status/<manifest file>.status.yaml
 * (the Pod with its status and events, in YAML: `get` and `describe` read these), the agent's
 * own state in <state>/agent.yaml, emptyDir volumes in <state>/pods/<uid>/volumes/, container
 * logs in <log-dir>/<namespace>_<name>_<uid>/<container>/<restarts>.log. The status is not
 * written beside the manifests: that folder is the agent's input (on a real node,
 * /etc/kubernetes/manifests, owned by whoever provisions the node), and a write there would
 * wake the agent's own watch.
 *
 * How real kubelet differs: `kubelet --pod-manifest-path DIR --container-runtime-endpoint
 * unix:///...` runs static pods the same way, but has no get or describe: it reports to the
 * API server, and kubectl reads from there. Without an API server, `crictl pods` and `crictl
 * ps` are what a node's operator has.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startedAsProgram } from '#lib/program.ts';
import { DEFAULT_RUN_ROOT } from '#lower/04-manager/defaults.ts';
import { Agent } from './agent.ts';
import { backoffPolicy, KUBELET_BACKOFF } from './backoff.ts';
import { agentWarning, describePod, getPods, readStatuses } from './kubectl.ts';

export const DEFAULT_STATE_DIR = '/var/lib/conman-agent';
export const DEFAULT_LOG_DIR = '/var/log/pods';
/**
 * How often the agent relists the runtime when nothing wakes it (a manifest's change, a pod's
 * work done, a back-off's end, a probe's verdict all do, at once): this is how soon it sees a
 * container exit. kubelet relists every second; 2 s halves what an idle agent costs
 * (bench/agent.ts: about 1.2 % of a core with 20 pods at 1 s, 0.7 % at 2 s).
 */
export const DEFAULT_SYNC_PERIOD_MS = 2000;

const USAGE = `usage:
  conman-agent run --manifests DIR [--runtime-endpoint unix://SOCK] [--state DIR] [--log-dir DIR]
                   [--sync-period-ms N] [--backoff-base-ms N] [--backoff-cap-ms N] [--parallel N]
  conman-agent get pods [NAME] [-o wide|yaml|json] [--state DIR]
  conman-agent describe pod NAME [-n NAMESPACE] [--state DIR]

--runtime-endpoint: else $CONTAINER_RUNTIME_ENDPOINT, else $CONMAN_RUN_ROOT/cri.sock (default
${DEFAULT_RUN_ROOT}/cri.sock). --state: else $CONMAN_AGENT_STATE, else ${DEFAULT_STATE_DIR}.
--log-dir: ${DEFAULT_LOG_DIR}. --sync-period-ms: ${DEFAULT_SYNC_PERIOD_MS} (how soon an exit is seen). The back-off of a crashing container: ${KUBELET_BACKOFF.baseMs / 1000} s doubling to
${KUBELET_BACKOFF.capMs / 60_000} min (kubelet's), reset after twice the cap without a crash.`;

class UsageError extends Error {}

const stateOf = (given: string | undefined) => path.resolve(given ?? process.env.CONMAN_AGENT_STATE ?? DEFAULT_STATE_DIR);

function number(value: string | undefined, fallback: number, what: string, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${what} ${value}: a whole number of at least ${min}`);
  return n;
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      manifests: { type: 'string' },
      'runtime-endpoint': { type: 'string' },
      state: { type: 'string' },
      'log-dir': { type: 'string' },
      'sync-period-ms': { type: 'string' },
      'backoff-base-ms': { type: 'string' },
      'backoff-cap-ms': { type: 'string' },
      parallel: { type: 'string' },
    },
    strict: true,
  });
  if (!values.manifests) throw new UsageError('run: --manifests DIR is required');
  if (process.getuid?.() !== 0) throw new Error('the CRI socket and the pods\' folders are root\'s: run it as root');
  const endpoint = values['runtime-endpoint'] ?? process.env.CONTAINER_RUNTIME_ENDPOINT ?? `unix://${path.join(process.env.CONMAN_RUN_ROOT ?? DEFAULT_RUN_ROOT, 'cri.sock')}`;
  const base = number(values['backoff-base-ms'], KUBELET_BACKOFF.baseMs, '--backoff-base-ms');
  const agent = new Agent({
    manifestDir: path.resolve(values.manifests),
    endpoint: endpoint.startsWith('unix://') ? endpoint : `unix://${path.resolve(endpoint)}`,
    stateDir: stateOf(values.state),
    logRoot: path.resolve(values['log-dir'] ?? DEFAULT_LOG_DIR),
    backoff: backoffPolicy(base, number(values['backoff-cap-ms'], Math.max(KUBELET_BACKOFF.capMs, base), '--backoff-cap-ms')),
    syncPeriodMs: number(values['sync-period-ms'], DEFAULT_SYNC_PERIOD_MS, '--sync-period-ms', 50),
    parallel: number(values.parallel, 4, '--parallel'),
    log: (line) => process.stderr.write(`${new Date().toISOString()} conman-agent: ${line}\n`),
  });
  agent.start();
  process.stderr.write(`${new Date().toISOString()} conman-agent: watching ${path.resolve(values.manifests)}, runtime ${endpoint}, state ${stateOf(values.state)} (pid ${process.pid})\n`);
  // SIGTERM, SIGINT: stop watching and leave every pod running (a restarted agent adopts them).
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await agent.stop();
  return 0;
}

function get(args: string[]): number {
  const { values, positionals } = parseArgs({ args, options: { output: { type: 'string', short: 'o' }, state: { type: 'string' }, namespace: { type: 'string', short: 'n' } }, allowPositionals: true, strict: true });
  const [kind, name] = positionals;
  if (!['pods', 'pod', 'po'].includes(kind ?? '')) throw new UsageError('get: only pods (get pods [NAME])');
  if (values.output !== undefined && !['wide', 'yaml', 'json'].includes(values.output)) throw new UsageError(`-o ${values.output}: wide, yaml or json`);
  const state = stateOf(values.state);
  const warning = agentWarning(state);
  if (warning) process.stderr.write(`Warning: ${warning}\n`);
  let documents = readStatuses(state).filter((d) => !values.namespace || d.metadata.namespace === values.namespace);
  if (name) {
    documents = documents.filter((d) => d.metadata.name === name);
    if (documents.length === 0) {
      process.stderr.write(`Error from server (NotFound): pods "${name}" not found\n`);
      return 1;
    }
  }
  process.stdout.write(getPods(documents, values.output));
  return 0;
}

function describe(args: string[]): number {
  const { values, positionals } = parseArgs({ args, options: { state: { type: 'string' }, namespace: { type: 'string', short: 'n' } }, allowPositionals: true, strict: true });
  const [kind, name] = positionals;
  if (!['pods', 'pod', 'po'].includes(kind ?? '') || !name) throw new UsageError('describe pod NAME');
  const state = stateOf(values.state);
  const warning = agentWarning(state);
  if (warning) process.stderr.write(`Warning: ${warning}\n`);
  const found = readStatuses(state).filter((d) => d.metadata.name === name && (!values.namespace || d.metadata.namespace === values.namespace));
  if (found.length === 0) {
    process.stderr.write(`Error from server (NotFound): pods "${name}" not found\n`);
    return 1;
  }
  process.stdout.write(found.map((d) => describePod(d)).join('\n\n'));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'run':
        return await run(args);
      case 'get':
        return get(args);
      case 'describe':
        return describe(args);
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        throw new UsageError(command ? `unknown command "${command}"` : 'a command, please');
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`conman-agent: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`conman-agent: ${(error as Error).message}`);
    return 1;
  }
}

// Exit when done: the gRPC channel would keep the process alive.
if (startedAsProgram(import.meta.url)) process.exit(await main(process.argv.slice(2)));
