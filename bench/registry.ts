/**
 * A local registry for the benchmarks: Debian's docker-registry on a free 127.0.0.1 port, with
 * its own config and storage under `dir`, stopped by its PID. Used by bench/images.ts (pulls)
 * and bench/manager.ts (`conman run IMAGE`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../lib/host/registry-server.ts';
import { stopByPid, waitFor } from './shim.ts';

export const REGISTRY = '/usr/bin/docker-registry';

export interface BenchRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  stop(): Promise<void>;
}

export async function startBenchRegistry(dir: string): Promise<BenchRegistry> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(config, `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'storage')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const log = fs.openSync(path.join(dir, 'registry.log'), 'a');
  const registry: ChildProcess = spawn(REGISTRY, ['serve', config], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  registry.on('error', () => {});
  const host = `127.0.0.1:${port}`;
  const stop = () => stopByPid('docker-registry', registry.pid, 5000);
  try {
    await waitFor(
      'docker-registry answers',
      async () => {
        if (registry.exitCode !== null) throw new Error(`docker-registry exited: ${fs.readFileSync(path.join(dir, 'registry.log'), 'utf8').slice(-1000)}`);
        return fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200, () => false);
      },
      20_000,
      50,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { host, stop };
}
