/**
 * Request fuzz: N random, malformed or hostile requests to a conmand (issue 10, point 7), and
 * how it answered. The goal is 0 answers ≥ 500: a bad request is the client's error (4xx),
 * and the daemon must still answer at the end.
 *
 *   sudo npx tsx bench/fuzz.ts                 (≈ 1 minute)
 *   npm run fuzz -- --requests 2000 --seed 7
 *   npm run fuzz -- --target /tmp/old/solutions      (an older commit's worktree: before/after)
 *
 * Not in CI. The requests: random methods and paths (real routes, unknown ones, malformed
 * escapes, 10 KB paths), random query parameters (t=-1, t=1e9, signal=65, tail=x...), bodies
 * made by mutating a valid create or exec request (wrong types, null, nesting 100 000 deep,
 * NUL bytes, 900 KB strings, "..", env names "" and "A=B", rootfs "/", a symlink to /,
 * unknown fields), bodies that are not JSON, and raw HTTP a parser must refuse (conflicting
 * Content-Length and Transfer-Encoding, bad chunk sizes, 20 KB headers, HTTP/9.9). Requests
 * that would wait for a long time (stop, wait, logs -f on a running container) are aimed at
 * containers that do not exist. Everything lives under a HostRun and is removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { HostRun } from '../lib/host/hygiene.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { buildRootfs } from '../solutions/01-bundle/rootfs.ts';

const { values: opts } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    // Another tree's solutions (a worktree of an older commit), to compare before and after.
    target: { type: 'string', default: path.join(REPO_ROOT, 'solutions') },
  },
});
const REQUESTS = Number(opts.requests);
let seed = Number(opts.seed);
/** A small deterministic generator (mulberry32): the same --seed gives the same requests. */
function random(): number {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

const run = new HostRun();
const root = path.join(run.dir, 'lib');
const runRoot = path.join(run.stateDir, 'f');
const socket = path.join(runRoot, 'conmand.sock');
const daemonLog = path.join(run.dir, 'conmand.log');
let daemon: ChildProcess | undefined;
const counts = { '2xx': 0, '4xx': 0, '5xx': 0, 'no answer': 0 };
const byStatus = new Map<number, number>();
const fivexx: string[] = [];

function send(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = http.request({ socketPath: socket, method, path: url, timeout: 5000, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
      response.on('error', () => resolve(response.statusCode));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
    request.end(body);
  });
}

/** Raw bytes on a fresh connection; the status of the first answer, if any. */
function sendRaw(text: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    let data = '';
    const done = () => (connection.destroy(), resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1]) || undefined));
    connection.setTimeout(5000, done);
    connection.on('data', (chunk) => {
      data += chunk;
      if (/\r\n\r\n/.test(data)) done();
    });
    connection.on('error', done);
    connection.on('close', done);
    connection.on('connect', () => connection.write(text));
  });
}

function count(what: string, status: number | undefined): void {
  if (status === undefined) counts['no answer'] += 1;
  else if (status >= 500) {
    counts['5xx'] += 1;
    if (fivexx.length < 20) fivexx.push(`${status} ${what.slice(0, 160)}`);
  } else if (status >= 400) counts['4xx'] += 1;
  else counts['2xx'] += 1;
  if (status !== undefined) byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
function oddValue(rootfs: string, toSlash: string): unknown {
  return pick<() => unknown>([
    () => null,
    () => 42,
    () => -1,
    () => true,
    () => [],
    () => ({}),
    () => 'x\0y',
    () => 'x'.repeat(900_000),
    () => '../..',
    () => '/',
    () => toSlash,
    () => `${rootfs}/../../..`,
    () => '\u202e\u0000\uffff',
    () => ['sh', '-c', 'echo hi'],
    () => ['a\0b'],
    () => [1, 2],
    () => ({ '': 'x' }),
    () => ({ 'A=B': 'C' }),
    () => ({ A: 'x\0' }),
    () => ({ __proto__: { polluted: true } }),
    () => 'on-failure:' + '9'.repeat(400),
    () => 'on-failure:-1',
  ])();
}

function fuzzBody(rootfs: string, toSlash: string): string {
  const kind = random();
  if (kind < 0.1) return pick(['', '{', 'null', '[]', '"x"', '{"a":', '\u0000', '{"args":' + deep(100_000) + '}', 'x'.repeat(2_000_000)]);
  const body: Record<string, unknown> = pick([
    { rootfs, args: ['true'] },
    { args: ['true'] },
    { rootfs, args: ['true'], name: 'fz', env: { A: 'b' }, cwd: '/', tty: false, stdin: false, runtime: 'runc', restart: 'no', autoRemove: true },
  ]);
  const fields = ['rootfs', 'args', 'name', 'env', 'cwd', 'tty', 'stdin', 'runtime', 'restart', 'autoRemove', 'nmae', 'constructor', '__proto__'];
  for (let i = 0, n = 1 + Math.floor(random() * 3); i < n; i++) body[pick(fields)] = oddValue(rootfs, toSlash);
  if (random() < 0.1) body.args = JSON.parse(deep(2000));
  return JSON.stringify(body);
}

const RAW = [
  'POST /containers HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /version HTTP/1.1\r\n\r\n',
  'POST /containers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
  'GET /version HTTP/9.9\r\n\r\n',
  `GET /version HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  'GARBAGE\r\n\r\n',
  'GET /version HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
  'POST /containers HTTP/1.1\r\nContent-Length: 10\r\nContent-Length: 2\r\n\r\n{}',
  'GET /containers/%ZZ HTTP/1.1\r\n\r\n',
];

async function startDaemon(): Promise<void> {
  const log = fs.openSync(daemonLog, 'a');
  const args = ['--root', root, '--run-root', runRoot, '--socket', socket, '--cgroup-parent', run.cgroupParent];
  daemon = spawn(process.execPath, [path.join(REPO_ROOT, 'lib', 'launch.mjs'), path.join(opts.target!, '04-manager/conmand.ts'), ...args], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  for (let i = 0; i < 600; i++) {
    if ((await send('GET', '/version')) === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`conmand did not start: ${fs.readFileSync(daemonLog, 'utf8')}`);
}

async function main(): Promise<void> {
  const rootfs = path.join(run.dir, 'rootfs');
  await buildRootfs(rootfs);
  const toSlash = path.join(run.dir, 'to-slash');
  fs.symlinkSync('/', toSlash);
  await startDaemon();
  if ((await send('POST', '/containers', JSON.stringify({ rootfs, args: ['sleep', '600'], name: 'target' }))) !== 201) throw new Error('create target');
  await send('POST', '/containers/target/start');
  const started = Date.now();
  const refs = ['target', 'nope', 'n%00pe', '%ZZ', 'x'.repeat(300), '..', '%2e%2e', ''];
  for (let i = 0; i < REQUESTS; i++) {
    const r = random();
    if (r < 0.05) {
      const raw = pick(RAW);
      count(`raw ${JSON.stringify(raw.slice(0, 60))}`, await sendRaw(raw));
      continue;
    }
    const method = pick(['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS']);
    const ref = pick(refs);
    const safe = ref === 'target' ? 'nope' : ref; // long waits only on containers that do not exist
    let target = pick([
      '/version',
      '/containers',
      `/containers/${ref}`,
      `/containers/${ref}/start`,
      `/containers/${safe}/stop`,
      `/containers/${ref}/kill`,
      `/containers/${safe}/wait`,
      `/containers/${ref}/logs`,
      `/containers/${ref}/exec`,
      `/exec/${pick(['0123456789abcdef', 'x', '%ZZ'])}/start`,
      `/${'a/'.repeat(5000)}`,
      '/containers/',
      '//containers',
    ]);
    const query = random() < 0.5 ? '' : '?' + Array.from({ length: 1 + Math.floor(random() * 2) }, () => `${pick(['t', 'signal', 'tail', 'follow', 'all', 'force', 'condition', 'rows', 'cols', 'start', 'x'])}=${encodeURIComponent(String(pick<unknown>(['-1', '1e9', '2147484', 'abc', '65', '99999', '0', 'SIGKILL', 'true', '1', '', '%ZZ', '99999999999999999999'])))}`).join('&');
    // kill on target would end it; logs/follow on target would last: keep those away from it.
    // Most bodies are aimed where they are read: create, and exec on the running container.
    if (method === 'POST' && random() < 0.6) target = random() < 0.7 ? '/containers' : '/containers/target/exec';
    const url = (target.includes('/target/kill') || (target.includes('/target/logs') && query.includes('follow'))) ? target.replace('/target/', '/nope/') + query : target + query;
    const body = method === 'POST' || method === 'PUT' ? (target.endsWith('/exec') && random() < 0.7 ? JSON.stringify({ args: oddValue(rootfs, toSlash) }) : fuzzBody(rootfs, toSlash)) : undefined;
    count(`${method} ${url.slice(0, 100)} ${body?.slice(0, 80) ?? ''}`, await send(method, url, body));
  }
  const stillAnswers = (await send('GET', '/version')) === 200;
  const targetRuns = await new Promise<boolean>((resolve) => {
    http.get({ socketPath: socket, path: '/containers/target' }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve(/"status":"running"/.test(text)));
    }).on('error', () => resolve(false));
  });
  console.log(`fuzz: ${REQUESTS} requests (seed ${opts.seed}) in ${Math.round((Date.now() - started) / 1000)} s: ${counts['2xx']} 2xx, ${counts['4xx']} 4xx, ${counts['5xx']} 5xx, ${counts['no answer']} without an answer (connection closed by the parser)`);
  console.log(`      by status: ${[...byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`);
  console.log(`      afterwards: conmand ${stillAnswers ? 'answers' : 'DOES NOT ANSWER'}, target ${targetRuns ? 'still running' : 'NOT RUNNING'}`);
  if (fivexx.length) console.log(`5xx answers (first ${fivexx.length}):\n  ${fivexx.join('\n  ')}`);
  if (counts['5xx'] > 0 || !stillAnswers) process.exitCode = 1;
}

try {
  await main();
} catch (error) {
  console.error(`fuzz: ${(error as Error).stack}`);
  process.exitCode = 1;
} finally {
  // Every container through the manager, then conmand, then the run's hygiene.
  const listed = await new Promise<{ id: string }[]>((resolve) => {
    http.get({ socketPath: socket, path: '/containers?all=1' }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve(JSON.parse(text) as { id: string }[]));
    }).on('error', () => resolve([]));
  });
  for (const c of listed) await send('DELETE', `/containers/${c.id}?force=1`);
  daemon?.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const leaks = run.leaks();
  if (leaks.length) console.log(`left on the host: ${leaks.join(', ')}`);
  await run.cleanup();
}
