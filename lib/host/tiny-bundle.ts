/**
 * The smallest bundle that runs: /bin/busybox alone in a rootfs and runc's own sample
 * config (`runc spec`) with our command and cgroup. The workshop's own machinery uses it
 * (doctor's smoke test, hygiene tests) so it never depends on a learner's chapter code.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function writeTinyBundle(bundle: string, args: string[], cgroupsPath: string): void {
  fs.mkdirSync(path.join(bundle, 'rootfs', 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(bundle, 'rootfs', 'bin', 'busybox'));
  execFileSync('runc', ['spec', '--bundle', bundle]);
  const configFile = path.join(bundle, 'config.json');
  const spec = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  Object.assign(spec.process, { terminal: false, args: ['/bin/busybox', ...args] });
  spec.linux.cgroupsPath = cgroupsPath;
  fs.writeFileSync(configFile, JSON.stringify(spec));
}
