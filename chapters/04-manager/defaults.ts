/**
 * Where conman keeps things unless told otherwise (--root, --run-root, --socket,
 * --cgroup-parent, or the CONMAN_* variables), and how ids are shown. Its own small module:
 * the CLI needs these without loading the Manager it may never use.
 */
export const DEFAULT_ROOT = '/var/lib/conman';
export const DEFAULT_RUN_ROOT = '/run/conman';
export const DEFAULT_SOCKET = '/run/conman/conmand.sock';
export const DEFAULT_CGROUP_PARENT = '/conman';

/** The short id: Docker shows 12 hex digits, and so do we (it also names the shim's folder). */
export const shortId = (id: string) => id.slice(0, 12);
