/**
 * `conman network ls|create|inspect|rm`: the networks are .conflist files (conflist.ts) plus
 * what the plugins made on the host, so these commands work the same with or without conmand.
 * conman.ts loads this module only for a network command, and adds its usage to a UsageError.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseCommandLine, UsageError } from '#lower/04-manager/cli-args.ts';
import { DEFAULT_RUN_ROOT } from '#lower/04-manager/defaults.ts';
import { pluginVersions } from './cni.ts';
import { bridgeNetwork, ConfigError, describeBridge, subnetRange, type NetworkConfigList } from './conflist.ts';
import { ContainerNetworks, networkConfigFromEnv } from './container-network.ts';

const run = promisify(execFile);

/** The networks of this machine's settings (the CLI makes no namespace: the run root is conmand's business). */
function networks(): ContainerNetworks {
  return new ContainerNetworks(networkConfigFromEnv(), process.env.CONMAN_RUN_ROOT ?? DEFAULT_RUN_ROOT);
}

/** Containers with an address on the network: host-local's lease files (named by address, holding the container id). */
function leases(list: NetworkConfigList): { ip: string; container: string }[] {
  const dir = describeBridge(list).ipamDataDir;
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => /^\d+\.\d+\.\d+\.\d+$/.test(name))
    .map((ip) => ({ ip, container: fs.readFileSync(path.join(dir, ip), 'utf8').split(/\s/)[0].slice(0, 12) }));
}

export async function networkCommand(name: string, args: string[]): Promise<number> {
  const nets = networks();
  switch (name) {
    case 'ls':
    case 'list': {
      const parsed = parseCommandLine(args, [{ long: 'json' }]);
      const entries = nets.configs.list();
      if (parsed.options.json) {
        console.log(JSON.stringify(entries, null, 2));
        return 0;
      }
      const rows = [['NAME', 'BRIDGE', 'SUBNET', 'PLUGINS', 'FILE']];
      for (const entry of entries) {
        if (!entry.list) rows.push(['(broken)', '-', '-', entry.error!, entry.file]);
        else {
          const { bridge, subnet } = describeBridge(entry.list);
          rows.push([entry.list.name, bridge ?? '-', subnet ?? '-', entry.list.plugins.map((plugin) => plugin.type).join(','), entry.file]);
        }
      }
      const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
      for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('   ').trimEnd());
      if (entries.length === 0) console.log(`(none yet in ${nets.configs.dir}: the default network "${nets.config.defaultNetwork.name}" is written by the first run)`);
      return 0;
    }
    case 'create': {
      const parsed = parseCommandLine(args, [{ long: 'subnet', value: true }, { long: 'bridge', value: true }]);
      const [network] = parsed.positionals;
      if (parsed.positionals.length !== 1) throw new UsageError('network create takes one name');
      if (!parsed.options.subnet) throw new UsageError('network create needs --subnet CIDR (a private range that no other network of this host uses, e.g. 10.78.0.0/24)');
      const list = bridgeNetwork({ name: network, bridge: (parsed.options.bridge as string | undefined) ?? `cm-${network}`.slice(0, 15), subnet: parsed.options.subnet as string });
      const [start, end] = subnetRange(describeBridge(list).subnet!);
      for (const other of nets.configs.list()) {
        const { subnet, bridge } = other.list ? describeBridge(other.list) : {};
        if (subnet && subnetRange(subnet)[0] <= end && start <= subnetRange(subnet)[1]) throw new ConfigError(`subnet ${describeBridge(list).subnet} overlaps ${subnet} of network "${other.list!.name}": choose another`);
        if (bridge && bridge === describeBridge(list).bridge) throw new ConfigError(`bridge ${bridge} is network "${other.list!.name}"'s: choose another with --bridge`);
      }
      console.log(nets.configs.create(list));
      return 0;
    }
    case 'inspect': {
      if (args.length === 0) throw new UsageError('network inspect takes one network name or more');
      const found = [];
      for (const network of args) {
        const list = nets.network(network);
        found.push({ ...list, file: nets.configs.fileOf(list.name), plugins: list.plugins, versions: await pluginVersions(list, nets.config.cniPath), leases: leases(list) });
      }
      console.log(JSON.stringify(found, null, 2));
      return 0;
    }
    case 'rm':
    case 'remove': {
      if (args.length === 0) throw new UsageError('network rm takes one network name or more');
      for (const network of args) {
        const list = nets.configs.find(network);
        if (!list) throw new ConfigError(`no network "${network}" in ${nets.configs.dir} (conman network ls lists them)`);
        const used = leases(list);
        if (used.length > 0) throw new ConfigError(`network "${network}" is in use by ${used.map((lease) => `${lease.container} (${lease.ip})`).join(', ')}: remove those containers first`);
        nets.configs.remove(network);
        // What the plugins left on the host for the network itself: the bridge and the lease folder.
        const { bridge, ipamDataDir } = describeBridge(list);
        if (bridge && fs.existsSync(`/sys/class/net/${bridge}`)) await run('ip', ['link', 'del', bridge]);
        fs.rmSync(ipamDataDir, { recursive: true, force: true });
        console.log(network);
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown network command "${name}"`);
  }
}

