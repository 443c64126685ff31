/**
 * How a container gets its network, when a later chapter plugs one in (chapter 06: network
 * namespaces and CNI). Without a provider a container gets an empty network namespace of its
 * own from the runtime (no interface up, not even lo) and a request that asks for a network
 * is refused. containerd's CRI plugin splits it the same way: the task service runs
 * containers, and a separate piece (go-cni) sets up their network namespace first.
 *
 *   plan      at create: check the request; say what the runtime spec needs (the namespace
 *             to join, the files to mount on /etc/hosts...) and what to remember in the record
 *   attach    before each start: make the namespace and connect it (CNI ADD); say its address
 *   detach    after each run (exit, stop, rm, a start that failed, recovery after a crash):
 *             disconnect (CNI DEL) and remove the namespace. Idempotent: called again, or for
 *             a container that was never attached, it does nothing and succeeds
 *
 * A provider keeps what it needs between attach and detach in `dir` (the container's folder
 * in the manager's root), so a manager that crashed in between can still detach.
 */

/** What the record keeps of a container's network (what was asked, checked by plan). */
export interface NetworkSettings {
  /** "bridge", "none", "host" or a network's name. */
  network: string;
  /** Published ports as typed ("8080:80/tcp"). */
  publish: string[];
  dns: string[];
  /** resolv.conf's search domains and options, when asked (a CRI pod's dns_config): else the host's. */
  dnsSearch?: string[];
  dnsOptions?: string[];
}

/** What `inspect` and `ps` show while it is attached. */
export interface NetworkStatus {
  network: string;
  /** Its address on that network ("10.88.0.5"), none for "none" and "host". */
  ip?: string;
  gateway?: string;
  /** The published ports, as they were set up ("127.0.0.1:8080->80/tcp"). */
  ports: string[];
}

export interface NetworkPlanRequest {
  id: string;
  /** The container's folder in the manager's root (it exists). */
  dir: string;
  hostname: string;
  network?: string;
  publish: string[];
  dns: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

/** A bind mount of a file the provider writes (hosts, hostname, resolv.conf). */
export interface FileMount {
  destination: string;
  source: string;
}

export interface NetworkPlan {
  settings: NetworkSettings;
  /** The network namespace to join (a bind-mounted file), or "host" for the host's own. */
  namespace: { path: string } | 'host';
  mounts: FileMount[];
}

export interface NetworkProvider {
  plan(request: NetworkPlanRequest): Promise<NetworkPlan>;
  attach(id: string, dir: string, settings: NetworkSettings, hostname: string): Promise<NetworkStatus>;
  detach(id: string, dir: string): Promise<void>;
}

/** Makes the provider of a manager's roots (conmand and conman --no-daemon call it with theirs). */
export type NetworkProviderFactory = (roots: { root: string; runRoot: string }) => NetworkProvider;

let registered: NetworkProviderFactory | undefined;

/** A program that wants networks (chapter 06's conmand, conman) registers its provider before it starts the manager's. */
export function registerNetworkProvider(factory: NetworkProviderFactory): void {
  registered = factory;
}

/** The registered provider for these roots, if a program registered one. */
export function registeredNetworkProvider(roots: { root: string; runRoot: string }): NetworkProvider | undefined {
  return registered?.(roots);
}
