/**
 * Where a container's root filesystem comes from when it is not a directory given by path:
 * the hook a later chapter plugs in (chapter 05: an image's overlay snapshot), so that the
 * Manager stays the same whatever makes the rootfs. containerd splits it the same way: its
 * task service gets the rootfs mounts from the snapshotter, it never unpacks anything itself.
 *
 *   prepare   at create: make the rootfs of container `id` (mounted, ready for the runtime)
 *             and say how to run it (the image's command, env, cwd, user...)
 *   restore   at recovery: make it usable again if it is gone (a reboot unmounts everything)
 *   release   at rm: unmount it and remove what prepare made
 *
 * Everything a provider keeps for a container lives in `dir`, the container's own folder in
 * the manager's root (never under the run root: a container's writes must survive a reboot).
 */
import type { ContainerRecord } from './records.ts';

export interface RootfsRequest {
  id: string;
  /** The container's folder in the manager's root (it exists). */
  dir: string;
  /** What the client named: an image reference. */
  image: string;
  /** The command typed (may be empty: then the provider's default). */
  args: string[];
  /** Replaces the image's entrypoint (docker's --entrypoint; "" clears it). */
  entrypoint?: string;
  env: Record<string, string>;
  cwd?: string;
}

export interface PreparedRootfs {
  /** The rootfs, ready for the runtime. */
  rootfs: string;
  /** The image as the records and `ps` show it. */
  image: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  user?: ContainerRecord['user'];
  /** The polite signal of `stop` when not SIGTERM (an image's StopSignal). */
  stopSignal?: string;
}

export interface RootfsProvider {
  prepare(request: RootfsRequest): Promise<PreparedRootfs>;
  restore(id: string, dir: string): Promise<void>;
  release(id: string, dir: string): Promise<void>;
}

/** Makes the provider of a manager root (conmand and conman --no-daemon call it with their root). */
export type RootfsProviderFactory = (root: string) => RootfsProvider;

let registered: RootfsProviderFactory | undefined;

/** A program that wants images (chapter 05's conmand, conman) registers its provider before it starts the manager's. */
export function registerRootfsProvider(factory: RootfsProviderFactory): void {
  registered = factory;
}

/** The registered provider for `root`, if a program registered one. */
export function registeredRootfsProvider(root: string): RootfsProvider | undefined {
  return registered?.(root);
}
