/**
 * A container's /etc/hosts, /etc/hostname and /etc/resolv.conf: written by the manager into
 * the container's folder and bind-mounted over the image's files, as docker and cri-o do. The
 * image cannot know the container's address or name servers; and the files stay the manager's,
 * so they can be rewritten at each start (a new address) without touching the image.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { writeFileAtomic } from '#lib/atomic-file.ts';

export const ETC_FILES = ['hosts', 'hostname', 'resolv.conf'] as const;

/** The files as the container sees them, and where they are kept. */
export function etcMounts(dir: string): { destination: string; source: string }[] {
  return ETC_FILES.map((name) => ({ destination: `/etc/${name}`, source: path.join(dir, 'etc', name) }));
}

/** Loopback name servers (a local resolver such as systemd-resolved) are the host's own: a container in its own namespace cannot reach them. */
function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

/**
 * resolv.conf: --dns servers when given; otherwise the host's, minus the loopback ones when
 * the container has a namespace of its own (docker does the same, and then falls back to
 * public servers: we write none and say why, since this machine must not send traffic out).
 */
export function resolvConf(hostResolvConf: string, dns: string[], ownNamespace: boolean, resolver: { search?: string[]; options?: string[] } = {}): string {
  const lines = hostResolvConf.split('\n').map((line) => line.trim());
  // The host's search and options lines, unless the container was given its own (a CRI pod's dns_config).
  const kept = [
    ...(resolver.search?.length ? [`search ${resolver.search.join(' ')}`] : lines.filter((line) => /^(search|domain)\s/.test(line))),
    ...(resolver.options?.length ? [`options ${resolver.options.join(' ')}`] : lines.filter((line) => /^options\s/.test(line))),
  ];
  const servers = dns.length > 0 ? dns : lines.filter((line) => /^nameserver\s/.test(line)).map((line) => line.split(/\s+/)[1]).filter((server) => !(ownNamespace && isLoopback(server)));
  const note = servers.length === 0 ? ['# No name server: the host has only local ones, which this container cannot reach. Use --dns IP.'] : [];
  return [...note, ...servers.map((server) => `nameserver ${server}`), ...kept].join('\n') + '\n';
}

export function hostsFile(hostname: string, ip: string | undefined): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...(ip ? [`${ip}\t${hostname}`] : [`127.0.1.1\t${hostname}`]),
    '',
  ].join('\n');
}

/** The --dns values must be addresses: a name would need a resolver to find the resolver. */
export function checkDns(dns: string[]): void {
  for (const server of dns) if (!net.isIP(server)) throw new Error(`--dns ${server}: give a name server's IP address`);
}

/** Write the three files for a run; `ip` is its address (none: network none or host). */
export function writeEtcFiles(dir: string, options: { hostname: string; ip?: string; dns: string[]; dnsSearch?: string[]; dnsOptions?: string[]; ownNamespace: boolean; hostFiles?: { hosts: string; resolvConf: string } }): void {
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const host = options.hostFiles ?? { hosts: read('/etc/hosts'), resolvConf: read('/etc/resolv.conf') };
  const etc = path.join(dir, 'etc');
  fs.mkdirSync(etc, { recursive: true, mode: 0o755 });
  // With the host's network the container sees the host's names too (docker copies the host's file).
  const hosts = options.ownNamespace ? hostsFile(options.hostname, options.ip) : host.hosts;
  writeFileAtomic(path.join(etc, 'hosts'), hosts, { mode: 0o644 });
  writeFileAtomic(path.join(etc, 'hostname'), `${options.hostname}\n`, { mode: 0o644 });
  writeFileAtomic(path.join(etc, 'resolv.conf'), resolvConf(host.resolvConf, options.dns, options.ownNamespace, { search: options.dnsSearch, options: options.dnsOptions }), { mode: 0o644 });
}
