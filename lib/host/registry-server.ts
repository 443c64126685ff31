/**
 * A real registry for the checks: Debian's `docker-registry` (distribution 2.8), started on a
 * free loopback port with its own config and storage, stopped by its pid.
 *
 * It lives in a folder beside its HostRun's (`<runs>/<run id>-registry/`), with the same
 * owner.pid: the run's leak check (which looks for processes naming the run's folder) does not
 * count a registry that stays up for the whole file, and if the test process dies, the next
 * run's clean-up finds the folder's owner gone and kills the registry (its command line names
 * the folder).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { scaled } from '../slow.ts';
import { removeRun, RUNS_DIR, type HostRun } from './hygiene.ts';

export interface TokenAuth {
  /** The token endpoint (our test token server), e.g. http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate(s) whose key signs the tokens. */
  rootCertBundle: string;
}

export interface RegistryServer {
  /** "127.0.0.1:PORT": the host part of image references. */
  host: string;
  port: number;
  pid: number;
  dir: string;
  /** Where the registry keeps blobs (docker/registry/v2/blobs/sha256/xx/<hex>/data). */
  storage: string;
  log: string;
  stop(): Promise<void>;
}

/** A port nobody listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function answers(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(2000) }).then(
    (response) => response.status === 200 || response.status === 401,
    () => false,
  );
}

/** Start `docker-registry serve` for `run` (name: a word for its folder, several registries may run). */
export async function startRegistry(run: HostRun, name = 'registry', options: { token?: TokenAuth } = {}): Promise<RegistryServer> {
  const dir = path.join(RUNS_DIR, `${run.id}-${name}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'owner.pid'), String(process.pid));
  const storage = path.join(dir, 'storage');
  const port = await freePort();
  const auth = options.token
    ? `auth:\n  token:\n    realm: ${options.token.realm}\n    service: ${options.token.service}\n    issuer: ${options.token.issuer}\n    rootcertbundle: ${path.join(dir, 'token-ca.pem')}\n`
    : '';
  if (options.token) fs.writeFileSync(path.join(dir, 'token-ca.pem'), options.token.rootCertBundle);
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const log = path.join(dir, 'registry.log');
  const out = fs.openSync(log, 'a');
  let child: ChildProcess;
  try {
    child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', out, out], detached: true });
  } finally {
    fs.closeSync(out);
  }
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error));
  });
  if (spawned) throw new Error(`cannot start docker-registry (${spawned.message}): apt-get install docker-registry`);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), scaled(5000));
      await gone;
      clearTimeout(timer);
    }
    await removeRun(path.basename(dir));
  };
  const deadline = Date.now() + scaled(20_000);
  while (!(await answers(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on 127.0.0.1:${port} within ${scaled(20_000) / 1000} s; its log:\n${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '(none)'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { host: `127.0.0.1:${port}`, port, pid: child.pid!, dir, storage, log, stop };
}
