/** The VM and provisioning files are valid. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { requireCommand } from '../../lib/harness/require.ts';
import { REPO_ROOT } from '../../lib/paths.ts';
import { scaled } from '../../lib/slow.ts';

const insideTheVm = fs.existsSync('/etc/conman-workshop-vm');

test('provision.sh is valid bash and is the script the launcher runs', () => {
  execFileSync('bash', ['-n', path.join(REPO_ROOT, 'vagrant/provision.sh')]);
  expect(fs.readFileSync(path.join(REPO_ROOT, 'workshop'), 'utf8')).toContain('bash vagrant/provision.sh');
  expect(fs.readFileSync(path.join(REPO_ROOT, '.ci/run'), 'utf8')).toMatch(/^exec \.\/workshop test$/m);
});

// Inside the VM the Vagrantfile has already done its job, and vagrant is not installed there.
test.skipIf(insideTheVm)('vagrant validate accepts vagrant/Vagrantfile', () => {
  requireCommand('vagrant', 'vagrant');
  const dotfiles = fs.mkdtempSync(path.join(os.tmpdir(), 'cmw-vagrant-'));
  try {
    const out = execFileSync('vagrant', ['validate'], {
      cwd: path.join(REPO_ROOT, 'vagrant'),
      env: { ...process.env, VAGRANT_DOTFILE_PATH: dotfiles, VAGRANT_CHECKPOINT_DISABLE: '1' },
      encoding: 'utf8',
    });
    expect(out).toMatch(/validated successfully/);
  } finally {
    fs.rmSync(dotfiles, { recursive: true, force: true });
  }
}, scaled(60_000));
