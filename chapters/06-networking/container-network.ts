/**
 * Networks for chapter 04's Manager: its NetworkProvider hook (network-provider.ts there).
 *
 *   plan     at create: which network ("bridge" is the default network; "none": only lo;
 *            "host": the host's own, no namespace), the -p and --dns values checked; the
 *            namespace <runRoot>/netns/<id12> made (empty) for the spec to join, and
 *            <dir>/etc/{hosts,hostname,resolv.conf} to be mounted
 *   attach   before each start: make the namespace again if a detach removed it (netns.ts), ADD loopback as "lo" and the
 *            network's list as "eth0" (cni.ts, with the result cached in <dir>/cni/), write
 *            the /etc files with the address it got
 *   detach   after each run: DEL from the caches, network first, then loopback; remove the
 *            namespace. Nothing cached (never attached, or detached already): nothing to do
 *
 * Settings (podman's containers.conf has the same ones):
 *   CONMAN_CNI_CONF_DIR     the .conflist folder (default /etc/conman/net.d)
 *   CONMAN_CNI_PATH         plugin folders, ":"-separated (default /usr/lib/cni:/opt/cni/bin)
 *   CONMAN_DEFAULT_NETWORK  the network "bridge" means (default conman), written on first use
 *   CONMAN_DEFAULT_BRIDGE, CONMAN_DEFAULT_SUBNET   its bridge and subnet (conman0, 10.77.0.0/24)
 */
import fs from 'node:fs';
import path from 'node:path';
import { badRequest, ManagerError } from '#lower/04-manager/errors.ts';
import { shortId } from '#lower/04-manager/defaults.ts';
import type { NetworkPlan, NetworkProvider, NetworkSettings, NetworkStatus } from '#lower/04-manager/network-provider.ts';
import { AttachmentCache } from './cache.ts';
import { addNetwork, deleteNetwork } from './cni.ts';
import { CNI_VERSION, ConfigError, NetworkConfigDir, type BridgeOptions, type NetworkConfigList } from './conflist.ts';
import { checkDns, etcMounts, writeEtcFiles } from './etc-files.ts';
import { createNetns, removeNetns } from './netns.ts';
import { describeMapping, parsePublishList, PublishError } from './port-mappings.ts';

export interface NetworkConfig {
  confDir: string;
  cniPath: string[];
  defaultNetwork: BridgeOptions;
}

export function networkConfigFromEnv(env: NodeJS.ProcessEnv = process.env): NetworkConfig {
  return {
    confDir: env.CONMAN_CNI_CONF_DIR || '/etc/conman/net.d',
    cniPath: (env.CONMAN_CNI_PATH || '/usr/lib/cni:/opt/cni/bin').split(':').filter(Boolean),
    defaultNetwork: {
      name: env.CONMAN_DEFAULT_NETWORK || 'conman',
      bridge: env.CONMAN_DEFAULT_BRIDGE || 'conman0',
      subnet: env.CONMAN_DEFAULT_SUBNET || '10.77.0.0/24',
    },
  };
}

/** The loopback interface is a network of its own, with one plugin (containerd's CRI runs it the same way). */
const LOOPBACK: NetworkConfigList = { cniVersion: CNI_VERSION, name: 'loopback', plugins: [{ type: 'loopback' }] };

export class ContainerNetworks implements NetworkProvider {
  readonly configs: NetworkConfigDir;

  constructor(
    readonly config: NetworkConfig,
    private readonly runRoot: string,
  ) {
    this.configs = new NetworkConfigDir(config.confDir);
  }

  netnsOf(id: string): string {
    return path.join(this.runRoot, 'netns', shortId(id));
  }

  /** The list of a network by name; "bridge" is the default network, written when missing. */
  network(name: string): NetworkConfigList {
    const wanted = name === 'bridge' ? this.config.defaultNetwork.name : name;
    try {
      if (wanted === this.config.defaultNetwork.name) return this.configs.ensure(this.config.defaultNetwork);
      const list = this.configs.find(wanted);
      if (!list) throw badRequest(`no network "${name}" in ${this.configs.dir}: conman network ls lists them, conman network create makes one`);
      return list;
    } catch (error) {
      if (error instanceof ConfigError) throw badRequest(`network "${name}": ${error.message}`);
      throw error;
    }
  }

  async plan(request: { id: string; dir: string; network?: string; publish: string[]; dns: string[]; dnsSearch?: string[]; dnsOptions?: string[] }): Promise<NetworkPlan> {
    const network = request.network ?? 'bridge';
    try {
      const ports = parsePublishList(request.publish);
      checkDns(request.dns);
      if (network === 'host' || network === 'none') {
        if (ports.length > 0) throw badRequest(`-p needs a network of the container's own: with --network ${network} there is nothing to forward to (drop -p, or use --network bridge)`);
      } else {
        const list = this.network(network);
        if (ports.length > 0 && !list.plugins.some((plugin) => plugin.capabilities?.portMappings)) {
          throw badRequest(`network "${list.name}" has no plugin for published ports (one with "capabilities": {"portMappings": true}, such as portmap): drop -p, or add one to ${this.configs.fileOf(list.name)}`);
        }
      }
    } catch (error) {
      if (error instanceof PublishError || (error instanceof Error && /^--dns /.test(error.message))) throw badRequest(error.message);
      throw error;
    }
    const resolved = network === 'bridge' ? this.config.defaultNetwork.name : network;
    // The namespace exists from now on: the bundle written at create names it, and runc's
    // config check wants it there. It is empty until a start connects it (attach).
    if (network !== 'host') await createNetns(this.netnsOf(request.id));
    return {
      settings: { network: resolved, publish: request.publish, dns: request.dns, ...(request.dnsSearch ? { dnsSearch: request.dnsSearch } : {}), ...(request.dnsOptions ? { dnsOptions: request.dnsOptions } : {}) },
      namespace: network === 'host' ? 'host' : { path: this.netnsOf(request.id) },
      mounts: etcMounts(request.dir),
    };
  }

  private cacheOf(dir: string, network: string): AttachmentCache {
    return new AttachmentCache(path.join(dir, 'cni', `${network}.json`));
  }

  async attach(id: string, dir: string, settings: NetworkSettings, hostname: string): Promise<NetworkStatus> {
    if (settings.network === 'host') {
      writeEtcFiles(dir, { hostname, dns: settings.dns, dnsSearch: settings.dnsSearch, dnsOptions: settings.dnsOptions, ownNamespace: false });
      return { network: 'host', ports: [] };
    }
    const netns = this.netnsOf(id);
    try {
      await createNetns(netns);
      await addNetwork(LOOPBACK, { containerId: id, netns, ifname: 'lo' }, this.cacheOf(dir, 'loopback'), this.config.cniPath);
      if (settings.network === 'none') {
        writeEtcFiles(dir, { hostname, dns: settings.dns, dnsSearch: settings.dnsSearch, dnsOptions: settings.dnsOptions, ownNamespace: true });
        return { network: 'none', ports: [] };
      }
      const list = this.network(settings.network);
      const ports = parsePublishList(settings.publish);
      const result = await addNetwork(list, { containerId: id, netns, ifname: 'eth0', capabilities: ports.length > 0 ? { portMappings: ports } : {} }, this.cacheOf(dir, list.name), this.config.cniPath);
      // The address of the interface inside the container (interfaces[i].sandbox is set on it).
      const inside = (result.interfaces ?? []).findIndex((iface) => iface.sandbox);
      const ip = (result.ips ?? []).find((entry) => entry.interface === undefined || entry.interface === inside) ?? result.ips?.[0];
      const address = ip?.address.split('/')[0];
      writeEtcFiles(dir, { hostname, ip: address, dns: settings.dns.length > 0 ? settings.dns : (result.dns?.nameservers ?? []), dnsSearch: settings.dnsSearch, dnsOptions: settings.dnsOptions, ownNamespace: true });
      return { network: list.name, ...(address ? { ip: address } : {}), ...(ip?.gateway ? { gateway: ip.gateway } : {}), ports: ports.map(describeMapping) };
    } catch (error) {
      await this.detach(id, dir).catch((undo: Error) => {
        (error as Error).message += `; and undoing it failed too: ${undo.message}`;
      });
      if (error instanceof ManagerError || (error as Error).name === 'NotImplementedError') throw error;
      throw new Error(`connecting the container to network "${settings.network}" failed: ${(error as Error).message}`);
    }
  }

  async detach(id: string, dir: string): Promise<void> {
    const cacheDir = path.join(dir, 'cni');
    const cached = fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).filter((name) => name.endsWith('.json')) : [];
    // The network first, the loopback last: the reverse of attach.
    cached.sort((a, b) => Number(a === 'loopback.json') - Number(b === 'loopback.json'));
    let first: unknown;
    for (const name of cached) {
      await deleteNetwork(new AttachmentCache(path.join(cacheDir, name)), this.config.cniPath).catch((error) => (first ??= error));
    }
    // (a failed DEL keeps its cache: the next detach asks again, and the plugins accept a gone namespace)
    await removeNetns(this.netnsOf(id));
    if (first) throw first;
  }
}

export function containerNetworks(roots: { root: string; runRoot: string }): ContainerNetworks {
  return new ContainerNetworks(networkConfigFromEnv(), roots.runRoot);
}
