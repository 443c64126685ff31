/**
 * conman, with images and networks (conman.ts starts it): chapter 05's command line plus the network commands,
 * which work on the .conflist folder (the same with or without conmand: networks are files,
 * and what the plugins made on the host):
 *
 *   conman network ls [--json]
 *   conman network create --subnet CIDR [--bridge NAME] NAME
 *   conman network inspect NAME...       the list, and the spec versions each plugin speaks
 *   conman network rm NAME...            refused while a container has an address on it
 *
 * Every other command goes to chapter 05's conman, whose container commands are chapter 04's
 * conman, in this process; a --no-daemon Manager gets images and networks (with-network.ts):
 * `run --network NAME -p 8080:80 ...`.
 */
import { GLOBAL_OPTIONS, parseCommandLine, UsageError } from '#lower/04-manager/cli-args.ts';
import { conmanWithImages } from '#lower/05-images/conman-cli.ts';

const NETWORK_USAGE = `network commands:
  network ls [--json]                             network inspect NAME...
  network create --subnet CIDR [--bridge NAME] NAME
  network rm NAME...
run/create take --network bridge|none|host|NAME, -p [hostIP:]hostPort:containerPort[/tcp|udp], --hostname, --dns IP.
Environment: CONMAN_CNI_CONF_DIR (default /etc/conman/net.d), CONMAN_CNI_PATH (/usr/lib/cni:/opt/cni/bin),
CONMAN_DEFAULT_NETWORK, CONMAN_DEFAULT_BRIDGE, CONMAN_DEFAULT_SUBNET (conman, conman0, 10.77.0.0/24).`;

/** The whole command line; resolves with the exit code. Chapter 07's conman calls it for every command but pods. */
export async function conmanWithNetworks(argv: string[], loadProviders: () => Promise<unknown>): Promise<number> {
  const global = parseCommandLine(argv, GLOBAL_OPTIONS);
  const [name, sub, ...rest] = global.positionals;
  if (name !== 'network') {
    const code = await conmanWithImages(argv, loadProviders);
    if (global.options.help || !name || name === 'help') console.log(`\n${NETWORK_USAGE}`);
    return code;
  }
  try {
    if (!sub) throw new UsageError(`network needs a command\n${NETWORK_USAGE}`);
    const { networkCommand } = await import('./network-commands.ts'); // loaded for a network command only
    return await networkCommand(sub, rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`conman: ${error.message}${error.message.includes(NETWORK_USAGE) ? '' : `\n${NETWORK_USAGE}`}`);
      return 2;
    }
    console.error(`conman: ${error instanceof Error ? error.message : String(error)}`);
    return 125;
  }
}

