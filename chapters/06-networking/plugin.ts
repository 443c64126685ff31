/**
 * Calling one CNI plugin (SPEC 1.0.0, "Section 3: Execution protocol"). A plugin is a program
 * in CNI_PATH named by its `type`. The runtime gives it:
 *   - the operation and the container in environment variables: CNI_COMMAND (ADD, DEL, CHECK,
 *     VERSION), CNI_CONTAINERID, CNI_NETNS (a path), CNI_IFNAME, CNI_ARGS ("K=V;K=V"),
 *     CNI_PATH (where the plugin finds the plugins it delegates to, e.g. bridge → host-local);
 *   - its configuration on stdin: the plugin's own object from the list, plus the list's
 *     `cniVersion` and `name`, the `prevResult` of the plugin before it, and `runtimeConfig`
 *     holding the capabilities it declared (portMappings...).
 * It answers on stdout: a result (exit 0) or an error {code, msg, details} (exit non-zero).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { scaled } from '#lib/slow.ts';
import type { NetworkConfigList, PluginConf } from './conflist.ts';
import { notImplemented } from '#lib/not-implemented.ts';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** Where a network goes: which container, which namespace, which interface name inside it. */
export interface Attachment {
  containerId: string;
  /** The network namespace file (bind-mounted, netns.ts). */
  netns: string;
  /** The interface inside the namespace: eth0 (lo for loopback). */
  ifname: string;
  /** Extra CNI_ARGS pairs (e.g. K8S_POD_NAME for a pod, chapter 08). */
  args?: [string, string][];
  /** Capability values the runtime offers; each plugin gets those it declared. */
  capabilities?: Record<string, unknown>;
}

/** What a plugin's ADD returns (SPEC "Section 5: Result types"); we read ips and interfaces. */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[] };
  [key: string]: unknown;
}

/** A plugin said no: its code, msg and details, and which plugin it was. */
export class CniPluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: CniCommand,
    readonly code: number,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(`CNI plugin ${plugin} failed in ${command} (code ${code}): ${msg}${details ? ` (${details})` : ''}${CniPluginError.advice(code)}`);
    this.name = 'CniPluginError';
  }

  /** The spec's well-known codes, in the user's words. */
  private static advice(code: number): string {
    switch (code) {
      case 1:
        return ': the plugin does not speak this CNI version';
      case 2:
        return ': the network configuration has a field the plugin does not know';
      case 4:
        return ': an environment variable is missing or wrong';
      case 7:
        return ': the network configuration is invalid';
      case 11:
        return ': try again later';
      default:
        return '';
    }
  }
}

/**
 * The environment of one plugin call: the CNI_ variables (and PATH, which some plugins need
 * for iptables). VERSION needs only CNI_COMMAND.
 */
export function pluginEnvironment(command: CniCommand, attachment: Attachment | undefined, cniPath: string[]): Record<string, string> {
  // EXERCISE(plugin-call): the CNI_ variables of one call: CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH
  // Hints: CNI_ARGS is "K1=V1;K2=V2" ("" when there are none); CNI_PATH is the folders joined
  // with ":" (path.delimiter). Do not pass the rest of process.env along, only PATH: a plugin
  // must not see the runtime's secrets, and must not depend on what happened to be set.
  throw notImplemented("06-networking/plugin-call", "the CNI_ variables of one call: CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH");
  // END EXERCISE
}

/**
 * The stdin of one plugin call: the plugin's own object, plus the list's cniVersion and name,
 * the previous result (ADD: the plugin before; DEL and CHECK: the cached ADD result) and the
 * runtimeConfig of the capabilities the plugin declared.
 */
export function pluginStdin(list: NetworkConfigList, plugin: PluginConf, prevResult: CniResult | undefined, capabilities: Record<string, unknown> = {}): Record<string, unknown> {
  // EXERCISE(plugin-stdin): the plugin's config + cniVersion + name (+ prevResult) (+ runtimeConfig of its declared capabilities only)
  // Hints: start from {...plugin}; a plugin gets runtimeConfig.portMappings only if its
  // `capabilities` says portMappings: true, and no runtimeConfig key at all when it declared
  // nothing that was offered. Leave prevResult out when there is none.
  throw notImplemented("06-networking/plugin-stdin", "the plugin's config + cniVersion + name (+ prevResult) (+ runtimeConfig of its declared capabilities only)");
  // END EXERCISE
}

/** The plugin's program: the first CNI_PATH folder that has it. */
export function findPlugin(type: string, cniPath: string[]): string {
  for (const dir of cniPath) {
    const file = path.join(dir, type);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  throw new Error(`no CNI plugin "${type}" in ${cniPath.join(':')}: install containernetworking-plugins (apt-get install containernetworking-plugins), or set CONMAN_CNI_PATH`);
}

/** How long one plugin may take (the bridge plugin waits for duplicate address detection, ~1-2 s). */
export const PLUGIN_TIMEOUT_MS = scaled(30_000);

/**
 * Run one plugin. Resolves with its parsed stdout (a result, or {} for DEL and CHECK);
 * rejects with a CniPluginError (its error JSON, or what it printed when that is not JSON).
 */
export async function execPlugin(type: string, env: Record<string, string>, stdin: Record<string, unknown>, cniPath: string[]): Promise<CniResult> {
  const command = env.CNI_COMMAND as CniCommand;
  const program = findPlugin(type, cniPath);
  const child = spawn(program, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin.on('error', () => {}); // a plugin that exits without reading its config
  child.stdin.end(JSON.stringify(stdin));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, PLUGIN_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => resolve(exitCode));
  }).finally(() => clearTimeout(timer));
  const stdout = Buffer.concat(out).toString('utf8').trim();
  if (timedOut) throw new CniPluginError(type, command, 0, `did not answer within ${PLUGIN_TIMEOUT_MS / 1000} s and was killed`);
  if (code !== 0) {
    let error: { code?: number; msg?: string; details?: string } = {};
    try {
      error = JSON.parse(stdout);
    } catch {
      // not the spec's error JSON: show what it printed
    }
    const said = error.msg ?? (stdout || Buffer.concat(err).toString('utf8').trim() || `exit code ${code}`);
    throw new CniPluginError(type, command, error.code ?? 0, said, error.details);
  }
  if (stdout === '') return { cniVersion: String(stdin.cniVersion ?? '') };
  try {
    return JSON.parse(stdout) as CniResult;
  } catch {
    throw new CniPluginError(type, command, 0, `printed something that is not JSON: ${stdout.slice(0, 200)}`);
  }
}
