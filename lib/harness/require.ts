/** Loud failures, with the fix, for a machine that cannot run the checks. Never a silent skip. */
import { execFileSync } from 'node:child_process';

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the checks create containers, cgroups and mounts: run them as root (sudo ./workshop check ...; in the VM: sudo)');
  }
}

/** Fail with the install command when a program is missing. */
export function requireCommand(command: string, debianPackage: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${command} is not installed: apt-get install ${debianPackage} (or run: sudo bash vagrant/provision.sh)`);
  }
}
