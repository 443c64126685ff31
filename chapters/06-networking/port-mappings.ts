/**
 * `-p [hostIP:]hostPort:containerPort[/tcp|udp]`: a port of the host that leads to a port of
 * the container. conman turns each into one entry of the CNI `portMappings` capability, which
 * the portmap plugin turns into iptables DNAT rules (see the lesson: a packet's path).
 *
 * docker also takes `-p 80` (a host port chosen for you) and ranges (`8000-8010:80-90`);
 * this one asks for both ports, and says so.
 */
import net from 'node:net';
import { notImplemented } from '#lib/not-implemented.ts';

/** One entry of CNI's portMappings capability, as the portmap plugin reads it. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** Only connections to this host address (default: every address of the host). */
  hostIP?: string;
}

export class PublishError extends Error {}

/** A port number from 1 to 65535, written in decimal digits only ("80", not "0x50" or "80.0"). */
function portNumber(text: string, what: string, spec: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new PublishError(`-p ${spec}: ${what} "${text}" is not a port (1 to 65535)`);
  return port;
}

/**
 * Parse one -p value. "8080:80" → { hostPort: 8080, containerPort: 80, protocol: 'tcp' };
 * "127.0.0.1:8080:80/udp" adds hostIP and protocol. Anything else is a PublishError that
 * quotes the value and shows the form.
 */
export function parsePublish(spec: string): PortMapping {
  // EXERCISE(parse-publish): split "[hostIP:]hostPort:containerPort[/tcp|udp]" into a PortMapping, refusing anything else
  // Hints: split off "/proto" first (lastIndexOf('/')), then split the rest on ":" into 2 or 3
  // parts. Only tcp and udp; ports 1-65535 written in digits; hostIP an IPv4 address
  // (net.isIPv4). Name the bad part in the error: "-p 8080:99999: container port ...".
  throw notImplemented("06-networking/parse-publish", "split \"[hostIP:]hostPort:containerPort[/tcp|udp]\" into a PortMapping, refusing anything else");
  // END EXERCISE
}

/** Every -p value of a container; two that take the same host port are refused (the second would never be reached). */
export function parsePublishList(specs: string[]): PortMapping[] {
  const mappings = specs.map(parsePublish);
  mappings.forEach((mapping, i) => {
    const earlier = mappings.slice(0, i).find((other) => other.hostPort === mapping.hostPort && other.protocol === mapping.protocol && (other.hostIP ?? '0.0.0.0') === (mapping.hostIP ?? '0.0.0.0'));
    if (earlier) throw new PublishError(`-p ${specs[i]}: host port ${mapping.hostPort}/${mapping.protocol} is already published by -p ${specs[mappings.indexOf(earlier)]}`);
  });
  return mappings;
}

/** As docker ps shows it: "127.0.0.1:8080->80/tcp", "0.0.0.0:8080->80/tcp". */
export function describeMapping(mapping: PortMapping): string {
  return `${mapping.hostIP ?? '0.0.0.0'}:${mapping.hostPort}->${mapping.containerPort}/${mapping.protocol}`;
}
