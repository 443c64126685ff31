/**
 * Host hygiene for networks (chapter 06 and up). A test run's networks carry its id: network
 * `<runId>-<label>`, bridge `<runId><n>`, a /24 of 10.231.0.0/16 that no interface of the host
 * uses. They are listed in <run dir>/networks.json, so a later run can clean up after a crash.
 *
 * What a network leaves on the host when a DEL is missed: host-local's lease files (the
 * address stays taken), iptables rules (portmap's DNAT, the bridge plugin's masquerade, both
 * with a comment naming the network; firewall's ACCEPT rules, naming the address), the bridge
 * and the veth ends on it. Found and removed here by name, without running any plugin: this
 * must work even when the learner's CNI code is what failed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface RunNetwork {
  name: string;
  bridge: string;
  subnet: string;
}

/** Where host-local keeps a network's leases (its default dataDir). */
export const IPAM_DIR = '/var/lib/cni/networks';

const RECORD = 'networks.json';

export function readRunNetworks(dir: string): RunNetwork[] {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, RECORD), 'utf8')) as RunNetwork[];
  } catch {
    return [];
  }
}

function usedSubnets(): Set<string> {
  const used = new Set<string>();
  try {
    const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
    for (const match of routes.matchAll(/\b10\.231\.(\d+)\./g)) used.add(match[1]);
  } catch {
    // no ip: every choice looks free, the bridge plugin then refuses a clash loudly
  }
  return used;
}

/** A new network for a run: named after it, on a /24 that nothing on the host uses yet; recorded in `dir`. */
export function allocateRunNetwork(dir: string, runId: string, label: string): RunNetwork {
  const known = readRunNetworks(dir);
  const used = usedSubnets();
  for (const network of known) used.add(network.subnet.split('.')[2]);
  const free = Array.from({ length: 256 }, (_, i) => String(i)).filter((octet) => !used.has(octet));
  if (free.length === 0) throw new Error('no free /24 left in 10.231.0.0/16 for a test network: remove old networks (workshop clean)');
  const octet = free[Math.floor(Math.random() * free.length)];
  const network = { name: `${runId}-${label}`, bridge: `${runId}${known.length + 1}`.slice(0, 15), subnet: `10.231.${octet}.0/24` };
  fs.writeFileSync(path.join(dir, RECORD), JSON.stringify([...known, network], null, 2));
  return network;
}

function iptablesSave(table: string): string[] {
  try {
    return execFileSync('iptables-save', ['-t', table], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
  } catch {
    return [];
  }
}

/** What identifies a set of networks on the host: names (in rule comments, lease folders), bridges, subnets. */
export interface NetworkTraces {
  names: string[];
  bridges: string[];
  subnets: string[];
}

function tracesOf(networks: RunNetwork[]): NetworkTraces {
  return { names: networks.map((n) => n.name), bridges: networks.map((n) => n.bridge), subnets: networks.map((n) => n.subnet) };
}

/** Does an iptables rule belong to these networks (a name in a comment, or an address of a subnet)? */
function ruleMatches(line: string, traces: NetworkTraces): boolean {
  return traces.names.some((name) => line.includes(`"${name}"`) || line.includes(`\\"${name}\\"`)) || traces.subnets.some((subnet) => line.includes(` ${subnet.split('.').slice(0, 3).join('.')}.`));
}

/** What the run's networks hold on the host per container: leases and iptables rules (bridges stay until the network is removed). */
export function networkLeaks(dirs: string[]): string[] {
  const traces = tracesOf(dirs.flatMap(readRunNetworks));
  if (traces.names.length === 0) return [];
  const leaks: string[] = [];
  for (const name of traces.names) {
    const leasesDir = path.join(IPAM_DIR, name);
    if (!fs.existsSync(leasesDir)) continue;
    for (const lease of fs.readdirSync(leasesDir)) if (/^\d+\.\d+\.\d+\.\d+$/.test(lease)) leaks.push(`IP lease ${lease} on ${name}`);
  }
  for (const table of ['nat', 'filter']) {
    for (const line of iptablesSave(table)) if (line.startsWith('-A ') && ruleMatches(line, traces)) leaks.push(`iptables -t ${table} ${line}`);
  }
  return leaks;
}

/** Split an iptables-save rule into arguments ("..." with \" inside is one argument). */
function ruleArguments(line: string): string[] {
  const args: string[] = [];
  for (const match of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) args.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]);
  return args;
}

/** Remove everything of the networks recorded in `dirs`: rules, leases, bridges (and the veths on them). */
export function removeNetworkLeftovers(dirs: string[]): string[] {
  return removeNetworkTraces(tracesOf(dirs.flatMap(readRunNetworks)));
}

/**
 * Every network whose name or bridge starts with `prefix` (the workshop's "cmw"): what
 * `workshop clean` and the lessons' clean-up remove. A bridge's subnet is read from its own
 * address first, to find the rules that name only addresses.
 */
export function removeNetworksNamed(prefix: string): string[] {
  const bridges = fs.existsSync('/sys/class/net') ? fs.readdirSync('/sys/class/net').filter((name) => name.startsWith(prefix)) : [];
  const subnets: string[] = [];
  for (const bridge of bridges) {
    try {
      const out = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' });
      for (const match of out.matchAll(/inet (\d+\.\d+\.\d+)\.\d+\/24/g)) subnets.push(`${match[1]}.0/24`);
    } catch {
      // gone meanwhile
    }
  }
  const names = fs.existsSync(IPAM_DIR) ? fs.readdirSync(IPAM_DIR).filter((name) => name.startsWith(prefix)) : [];
  return removeNetworkTraces({ names, bridges, subnets });
}

function removeNetworkTraces(traces: NetworkTraces): string[] {
  const removed: string[] = [];
  if (traces.names.length + traces.bridges.length + traces.subnets.length === 0) return removed;
  for (const table of ['nat', 'filter']) {
    const emptied = new Set<string>();
    for (const line of iptablesSave(table)) {
      if (!line.startsWith('-A ') || !ruleMatches(line, traces)) continue;
      const [, chain, ...spec] = ruleArguments(line);
      try {
        execFileSync('iptables', ['-w', '-t', table, '-D', chain, ...spec], { stdio: 'ignore' });
        removed.push(`iptables -t ${table} ${line}`);
        // A per-container chain (CNI-<hash>, CNI-DN-<hash>) goes once it is empty and unused.
        if (/^CNI-(DN-)?[0-9a-f]{20,}$/.test(chain)) emptied.add(chain);
        const target = spec[spec.indexOf('-j') + 1];
        if (target && /^CNI-(DN-)?[0-9a-f]{20,}$/.test(target)) emptied.add(target);
      } catch {
        // gone already (a DEL ran meanwhile)
      }
    }
    // The rest of such a chain is ours too, even the rules that name no address of ours
    // (portmap's `-s 127.0.0.1/32 --dport N -j CNI-HOSTPORT-SETMARK`): flush, then delete.
    for (const chain of emptied) removed.push(...removeChain(table, chain));
  }
  for (const bridge of traces.bridges) {
    if (!fs.existsSync(`/sys/class/net/${bridge}`)) continue;
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
      removed.push(`bridge ${bridge}`);
    } catch {
      // gone meanwhile
    }
  }
  for (const name of traces.names) {
    const leases = path.join(IPAM_DIR, name);
    if (!fs.existsSync(leases)) continue;
    fs.rmSync(leases, { recursive: true, force: true });
    removed.push(`IPAM folder ${leases}`);
  }
  return removed;
}

function removeChain(table: string, chain: string): string[] {
  try {
    execFileSync('iptables', ['-w', '-t', table, '-F', chain], { stdio: 'ignore' });
    execFileSync('iptables', ['-w', '-t', table, '-X', chain], { stdio: 'ignore' });
    return [`iptables -t ${table} chain ${chain}`];
  } catch {
    return []; // still used (a jump we did not remove), or gone already
  }
}

/**
 * portmap's per-container chains (CNI-DN-<hash>) that no rule jumps to any more: dead on any
 * host, whoever made them. Earlier versions of the clean-up left them behind (a chain keeps
 * its SETMARK rules once its DNAT rule is gone). `workshop clean` removes them.
 */
export function removeOrphanPortmapChains(): string[] {
  const lines = iptablesSave('nat');
  const chains = lines.filter((line) => /^:CNI-DN-[0-9a-f]{20,} /.test(line)).map((line) => line.slice(1, line.indexOf(' ')));
  const jumpedTo = new Set(lines.filter((line) => line.startsWith('-A ')).map((line) => / -j (\S+)/.exec(line)?.[1]));
  return chains.filter((chain) => !jumpedTo.has(chain)).flatMap((chain) => removeChain('nat', chain));
}

/** The address ranges the workshop's own networks use: test runs, lessons, benchmarks. */
const WORKSHOP_RANGES = [' 10.231.', ' 10.232.', ' 10.233.'];

/**
 * Everything network-shaped of the workshop still on the host (`prefix`: "cmw"): bridges,
 * lease folders, iptables rules naming a workshop network or address. The suite ends by
 * asking this (`workshop selftest`): after all its checks, nothing may be left.
 */
export function workshopNetworkLeftovers(prefix: string): string[] {
  const found: string[] = [];
  if (fs.existsSync('/sys/class/net')) for (const link of fs.readdirSync('/sys/class/net')) if (link.startsWith(prefix)) found.push(`interface ${link}`);
  if (fs.existsSync(IPAM_DIR)) for (const name of fs.readdirSync(IPAM_DIR)) if (name.startsWith(prefix)) found.push(`host-local folder ${path.join(IPAM_DIR, name)}`);
  for (const table of ['nat', 'filter']) {
    for (const line of iptablesSave(table)) {
      if (line.startsWith('-A ') && (line.includes(`"${prefix}`) || line.includes(`\\"${prefix}`) || WORKSHOP_RANGES.some((range) => line.includes(range)))) found.push(`iptables -t ${table} ${line}`);
    }
  }
  return found;
}
