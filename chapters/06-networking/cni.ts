/**
 * The CNI runtime's side (SPEC 1.0.0, "Section 4: Plugin delegation" and "Section 5"): run a
 * network configuration list for one container.
 *
 *   ADD    the plugins in order, each given the result of the one before (prevResult); the
 *          last result is the network's result. A plugin that fails half-way: DEL what was
 *          added so far, so nothing leaks, then report the plugin's error.
 *   DEL    the plugins in reverse order, each given the cached ADD result, with the same
 *          configuration and arguments as the ADD (portmap finds its rules by them; host-local
 *          frees the address by container id and interface).
 *   CHECK  the plugins in order, each given the cached result: is it still as ADD left it?
 *   VERSION which spec versions a plugin speaks.
 *
 * The result cache (cache.ts) is what makes DEL possible after a crash: it holds the list,
 * the arguments and the result, on disk, from before the first plugin runs.
 */
import { CNI_VERSION, type NetworkConfigList, type PluginConf } from './conflist.ts';
import type { AttachmentCache } from './cache.ts';
import { CniPluginError, execPlugin, findPlugin, pluginEnvironment, pluginStdin, type Attachment, type CniResult } from './plugin.ts';
import { notImplemented } from '#lib/not-implemented.ts';

/** ADD the list to the attachment; the cache holds all a later DEL needs (a crash included). */
export async function addNetwork(list: NetworkConfigList, attachment: Attachment, cache: AttachmentCache, cniPath: string[]): Promise<CniResult> {
  // Every plugin is there, or none runs: a missing one found half-way would leave the others' work to undo.
  for (const plugin of list.plugins) findPlugin(plugin.type, cniPath);
  // Before the first plugin runs: a crash during ADD still leaves what DEL needs.
  cache.write({ list, attachment });
  let result: CniResult | undefined;
  // EXERCISE(add-chain): run ADD for each plugin in order, each given the previous result; on a failure, DEL back in reverse (deletePlugins) and rethrow
  // Hints: execPlugin(plugin.type, pluginEnvironment('ADD', attachment, cniPath),
  // pluginStdin(list, plugin, result, attachment.capabilities), cniPath). When plugin i fails,
  // plugins 0..i may have done something (i half of it): deletePlugins(list, list.plugins.slice(0, i + 1), ...).
  throw notImplemented("06-networking/add-chain", "run ADD for each plugin in order, each given the previous result; on a failure, DEL back in reverse (deletePlugins) and rethrow");
  // END EXERCISE
  cache.write({ list, attachment, result });
  return result!;
}

/**
 * DEL `plugins` (a list's plugins, or the first few of them) for the attachment, in reverse
 * order, each with `prevResult`. Every plugin is asked, even after one failed (each frees what
 * it can); the first failure is thrown at the end.
 */
export async function deletePlugins(list: NetworkConfigList, plugins: PluginConf[], attachment: Attachment, prevResult: CniResult | undefined, cniPath: string[]): Promise<void> {
  // EXERCISE(del-reverse): run DEL for the plugins last to first, each given prevResult; keep going after a failure and throw the first one at the end
  // Hints: [...plugins].reverse() (reverse() alone would turn the caller's list around);
  // the same pluginEnvironment/pluginStdin as ADD, with 'DEL'. Remember the first error, ask
  // the other plugins anyway, then throw it.
  throw notImplemented("06-networking/del-reverse", "run DEL for the plugins last to first, each given prevResult; keep going after a failure and throw the first one at the end");
  // END EXERCISE
}

/** DEL what the cache says was added; forget it once every plugin agreed. Nothing cached: nothing to do. */
export async function deleteNetwork(cache: AttachmentCache, cniPath: string[]): Promise<void> {
  const entry = cache.read();
  if (!entry) return;
  await deletePlugins(entry.list, entry.list.plugins, entry.attachment, entry.result, cniPath);
  cache.remove();
}

/** CHECK each plugin in order against the cached result; throws the first plugin that finds a difference. */
export async function checkNetwork(cache: AttachmentCache, cniPath: string[]): Promise<void> {
  const entry = cache.read();
  if (!entry?.result) throw new Error('this container is not attached to a network (no ADD result is cached)');
  if (entry.list.disableCheck) return;
  for (const plugin of entry.list.plugins) {
    await execPlugin(plugin.type, pluginEnvironment('CHECK', entry.attachment, cniPath), pluginStdin(entry.list, plugin, entry.result, entry.attachment.capabilities), cniPath);
  }
}

/** VERSION of each plugin of a list: the spec versions it speaks; throws when one cannot speak ours. */
export async function pluginVersions(list: NetworkConfigList, cniPath: string[]): Promise<{ type: string; supportedVersions: string[] }[]> {
  const answers = [];
  for (const plugin of list.plugins) {
    const answer = (await execPlugin(plugin.type, pluginEnvironment('VERSION', undefined, cniPath), { cniVersion: CNI_VERSION }, cniPath)) as unknown as { supportedVersions?: string[] };
    const supportedVersions = answer.supportedVersions ?? [];
    if (!supportedVersions.includes(CNI_VERSION)) {
      throw new CniPluginError(plugin.type, 'VERSION', 1, `speaks ${supportedVersions.join(', ') || 'nothing'}, not ${CNI_VERSION}`);
    }
    answers.push({ type: plugin.type, supportedVersions });
  }
  return answers;
}
