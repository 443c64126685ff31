/**
 * Network configuration lists (CNI SPEC 1.0.0, "Section 1: Network configuration format"):
 * one `.conflist` file per network in a configuration folder, as in /etc/cni/net.d. A list
 * names the network and the plugins to run for it, in order:
 *
 *   { "cniVersion": "1.0.0", "name": "conman",
 *     "plugins": [ { "type": "bridge", "bridge": "conman0", "ipam": {...} },
 *                  { "type": "portmap", "capabilities": { "portMappings": true } }, ... ] }
 *
 * The runtime reads `type` (which binary) and `capabilities` (which runtimeConfig to pass);
 * everything else belongs to the plugin. A broken file is refused with its name and what is
 * wrong, so `conman run` never starts a half-configured network.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';

/** The only version this runtime speaks (the plugins of Debian 12 know 0.1.0 to 1.0.0). */
export const CNI_VERSION = '1.0.0';

export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface NetworkConfigList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
  disableCheck?: boolean;
}

/** Network names as the CNI spec allows them (and safe as a file name). */
export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
/** A plugin type is a file name in CNI_PATH: a "/" or ".." would run any binary on the host. */
const PLUGIN_TYPE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class ConfigError extends Error {}

/** Parse and check one .conflist file's text; errors name the file. */
export function parseConfigList(text: string, file: string): NetworkConfigList {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON (${(error as Error).message}): fix it or remove it`);
  }
  const list = value as Partial<NetworkConfigList>;
  if (typeof list !== 'object' || list === null || Array.isArray(list)) throw new ConfigError(`${file}: a network configuration list must be a JSON object`);
  if (list.cniVersion !== CNI_VERSION) throw new ConfigError(`${file}: cniVersion ${JSON.stringify(list.cniVersion)}: this runtime speaks CNI ${CNI_VERSION} only`);
  if (typeof list.name !== 'string' || !NETWORK_NAME.test(list.name)) throw new ConfigError(`${file}: "name" ${JSON.stringify(list.name)} is not a network name (letters, digits, "_", "." or "-")`);
  if (!Array.isArray(list.plugins) || list.plugins.length === 0) throw new ConfigError(`${file}: "plugins" must be a non-empty list (a single .conf plugin file is not a list: wrap it in {"plugins": [...]})`);
  list.plugins.forEach((plugin, i) => {
    if (typeof plugin !== 'object' || plugin === null || Array.isArray(plugin)) throw new ConfigError(`${file}: plugins[${i}] must be an object`);
    if (typeof plugin.type !== 'string' || !PLUGIN_TYPE.test(plugin.type)) throw new ConfigError(`${file}: plugins[${i}].type ${JSON.stringify(plugin.type)} is not a plugin name (a file name in the plugin folder)`);
  });
  return list as NetworkConfigList;
}

export interface BridgeOptions {
  name: string;
  /** The Linux bridge device, at most 15 characters. */
  bridge: string;
  /** An IPv4 subnet in CIDR form, e.g. 10.77.0.0/24; the bridge (the gateway) takes its first address. */
  subnet: string;
  /** Where host-local keeps its leases (default /var/lib/cni/networks). */
  ipamDataDir?: string;
}

/** The first and last address of an IPv4 CIDR, as numbers (for overlap checks). */
export function subnetRange(subnet: string): [number, number] {
  const [address, bits] = subnet.split('/');
  const start = address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  return [start, start + 2 ** (32 - Number(bits)) - 1];
}

/** Check a subnet: IPv4, a network address, /8 to /29 (a /30 leaves no room for containers). */
export function checkSubnet(subnet: string): void {
  const [address, bits, ...rest] = subnet.split('/');
  const prefix = Number(bits);
  if (rest.length > 0 || !net.isIPv4(address ?? '') || !/^\d+$/.test(bits ?? '') || prefix < 8 || prefix > 29) {
    throw new ConfigError(`subnet "${subnet}" must be an IPv4 network in CIDR form from /8 to /29, e.g. 10.77.0.0/24`);
  }
  if (subnetRange(subnet)[0] % 2 ** (32 - prefix) !== 0) throw new ConfigError(`subnet "${subnet}": ${address} is not the first address of a /${prefix} (host bits are set)`);
}

/**
 * The network conman writes when its default is missing, and `network create` writes: a
 * bridge on the host with a /24 of private addresses, as docker's docker0 and podman's
 * podman0 are. The chain, in the order ADD runs it:
 *   bridge    make the bridge (once) and a veth pair: one end in the container as eth0,
 *             the other on the bridge; host-local IPAM picks an address and the default route
 *   portmap   DNAT rules from the host ports (-p) to the container: capability portMappings
 *   firewall  let the container's traffic through the host's FORWARD chain
 *   tuning    sysctls of the interface (here: none; a plugin that passes prevResult along)
 */
export function bridgeNetwork(options: BridgeOptions): NetworkConfigList {
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(options.bridge)) throw new ConfigError(`bridge "${options.bridge}" is not a Linux interface name (1 to 15 letters, digits, "_", "." or "-")`);
  if (!NETWORK_NAME.test(options.name)) throw new ConfigError(`network name "${options.name}" must be letters, digits, "_", "." or "-"`);
  checkSubnet(options.subnet);
  return {
    cniVersion: CNI_VERSION,
    name: options.name,
    plugins: [
      {
        type: 'bridge',
        bridge: options.bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: options.subnet }]],
          routes: [{ dst: '0.0.0.0/0' }],
          ...(options.ipamDataDir ? { dataDir: options.ipamDataDir } : {}),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall' },
      { type: 'tuning' },
    ],
  };
}

/** What a bridge network's list says about itself (for `network ls` and `network rm`). */
export function describeBridge(list: NetworkConfigList): { bridge?: string; subnet?: string; ipamDataDir: string } {
  const bridge = list.plugins.find((plugin) => plugin.type === 'bridge');
  const ipam = bridge?.ipam as { ranges?: { subnet?: string }[][]; dataDir?: string } | undefined;
  return {
    bridge: typeof bridge?.bridge === 'string' ? bridge.bridge : undefined,
    subnet: ipam?.ranges?.[0]?.[0]?.subnet,
    ipamDataDir: path.join(ipam?.dataDir ?? '/var/lib/cni/networks', list.name),
  };
}

/** A folder of .conflist files, one per network, named <network>.conflist by conman. */
export class NetworkConfigDir {
  constructor(readonly dir: string) {}

  fileOf(name: string): string {
    return path.join(this.dir, `${name}.conflist`);
  }

  /** Every list in the folder, sorted by file name; a broken file comes back as its error. */
  list(): { file: string; list?: NetworkConfigList; error?: string }[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((name) => name.endsWith('.conflist')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names.map((name) => {
      const file = path.join(this.dir, name);
      try {
        return { file, list: parseConfigList(fs.readFileSync(file, 'utf8'), file) };
      } catch (error) {
        return { file, error: (error as Error).message };
      }
    });
  }

  /** The network called `name`: from <name>.conflist, or any list whose "name" is it. */
  find(name: string): NetworkConfigList | undefined {
    const own = this.fileOf(name);
    if (fs.existsSync(own)) {
      const list = parseConfigList(fs.readFileSync(own, 'utf8'), own);
      if (list.name !== name) throw new ConfigError(`${own}: its "name" is ${JSON.stringify(list.name)}, not "${name}": make them agree`);
      return list;
    }
    return this.list().find((entry) => entry.list?.name === name)?.list;
  }

  /** Write a new network's list; refuses a name that exists. */
  create(list: NetworkConfigList): string {
    if (this.find(list.name)) throw new ConfigError(`a network "${list.name}" exists already (${this.fileOf(list.name)})`);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    // exclusive create: two `network create` at once cannot both write it
    const file = this.fileOf(list.name);
    const claim = `${file}.creating`;
    try {
      fs.writeFileSync(claim, '', { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new ConfigError(`the network "${list.name}" is being created by another command`);
      throw error;
    }
    try {
      writeFileAtomic(file, `${JSON.stringify(list, null, 2)}\n`, { fsync: true });
    } finally {
      fs.rmSync(claim, { force: true });
    }
    return file;
  }

  /**
   * The default network, written on first use when missing (as podman writes its "podman"
   * network). Two commands may race here: the write is atomic, and both write the same.
   */
  ensure(defaults: BridgeOptions): NetworkConfigList {
    const found = this.find(defaults.name);
    if (found) return found;
    const list = bridgeNetwork(defaults);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    writeFileAtomic(this.fileOf(list.name), `${JSON.stringify(list, null, 2)}\n`, { fsync: true });
    return list;
  }

  remove(name: string): void {
    const file = this.fileOf(name);
    if (!fs.existsSync(file)) throw new ConfigError(`no network "${name}" in ${this.dir} (conman network ls lists them)`);
    fs.rmSync(file);
  }
}
