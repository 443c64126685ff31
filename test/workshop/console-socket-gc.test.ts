/**
 * A shim or conmand that received a terminal must not abort later when the garbage collector
 * runs: usocket frees a closed socket's native part on collection while libuv may still be
 * closing it ("uv__finish_close: Assertion ... failed", seen once in a lesson run).
 * chapter 02's ConsoleSocket keeps those parts alive until their close completed. The
 * program below opens, uses and closes 150 console sockets with a collection right after
 * each close: without the fix it aborts within a few rounds.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { REPO_ROOT, SOLUTIONS_DIR } from '../../lib/paths.ts';
import { scaled } from '../../lib/slow.ts';

const PROGRAM = `
import net from 'node:net';
import { ConsoleSocket } from ${JSON.stringify(path.join(SOLUTIONS_DIR, '02-lifecycle/console-socket.ts'))};
const dir = process.argv[2];
for (let i = 0; i < 150; i++) {
  const socket = await ConsoleSocket.listen(dir + '/c' + i + '.sock');
  const client = net.connect(socket.path);
  client.end(); // connects and sends no terminal: the connection ends, and closes
  await socket.receiveMaster(5000).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 2));
  socket.close();
  globalThis.gc();
  await new Promise((resolve) => setImmediate(resolve));
  globalThis.gc();
}
console.log('survived');
`;

test('closed console sockets survive the garbage collector (no libuv abort)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cmw-console-gc-'));
  try {
    const file = path.join(dir, 'gc.mts');
    fs.writeFileSync(file, PROGRAM);
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', file, dir], { cwd: REPO_ROOT, timeout: scaled(60_000) }).catch((error: { stderr?: string; signal?: string; message: string }) => {
      throw new Error(`the program died (${error.signal ?? 'exit'}): ${error.stderr?.trim().split('\n').slice(-2).join(' ') || error.message}`);
    });
    expect(stdout.trim()).toBe('survived');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, scaled(90_000));
