/**
 * Say which namespaces two processes share:
 *   npx tsx chapters/00-setup/main.ts PID_A [PID_B]     (PID_B defaults to this process)
 */
import { compareNamespaces, readNamespaces } from './namespaces.ts';

const [a, b] = process.argv.slice(2);
if (!a) {
  console.error('usage: main.ts PID_A [PID_B]');
  process.exit(2);
}
const pidOf = (arg: string | undefined) => (arg === undefined || arg === 'self' ? 'self' : Number(arg));
try {
  const { shared, separate } = compareNamespaces(await readNamespaces(pidOf(a)), await readNamespaces(pidOf(b)));
  console.log(`shared:   ${shared.join(' ')}`);
  console.log(`separate: ${separate.join(' ') || '(none)'}`);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
